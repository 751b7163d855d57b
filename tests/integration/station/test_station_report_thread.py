"""The station owns its report thread: started by the first report, stopped with the station, never left behind."""

from __future__ import annotations

import threading

import pytest

from hmi.services.reports.background import THREAD_NAME
from tests.support.stations import replay_station


def _report_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(THREAD_NAME) and t.is_alive()]


def test_the_report_thread_starts_with_the_first_report_and_ends_with_the_station(tmp_path, tiny_model):
    station = replay_station(tmp_path / "s", tiny_model, ["ok", "ng"], rate_hz=20.0)
    try:
        assert _report_threads() == []              # built (and started) without a report: no thread yet
        station.start()
        assert _report_threads() == []
        started, gate = threading.Event(), threading.Event()
        running = station.reports.submit(lambda: (started.set(), gate.wait(10))[1])
        queued = station.reports.submit(lambda: "never built")
        assert started.wait(10) and station.reports.alive and _report_threads() == [THREAD_NAME]
        threading.Timer(1.0, gate.set).start()      # the report under way finishes while the station stops
    finally:
        station.stop()
    assert _report_threads() == []
    assert running.result(timeout=0) is True and queued.cancelled()   # the one queued behind it is dropped
    with pytest.raises(RuntimeError):
        station.reports.submit(lambda: None)        # nothing new starts once the station stopped


def test_a_station_that_never_built_a_report_stops_without_one(tmp_path, tiny_model):
    station = replay_station(tmp_path / "s", tiny_model, ["ok"])
    station.stop()
    assert not station.reports.alive and _report_threads() == []
