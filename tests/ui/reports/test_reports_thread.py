"""The reports screen builds on the station's own report thread, and that thread ends with the station."""

from __future__ import annotations

import threading

import pytest

from hmi.services.reports.background import THREAD_NAME
from tests.ui.conftest import log_in


def _report_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(THREAD_NAME) and t.is_alive()]


@pytest.mark.expected_errors("reports cannot be built: the station has stopped")
def test_the_report_thread_is_the_stations_and_no_report_thread_outlives_it(qtbot, station_factory, open_window):
    station = station_factory(["ok", "ng"], rate_hz=20.0)
    assert not station.reports.alive            # built, not started: no thread until the first report
    station.start()
    window = open_window(station)
    log_in(qtbot, window, "admin")
    window.show_screen("reports")
    screen = window.tools["reports"]
    qtbot.waitUntil(lambda: screen.loaded is not None, timeout=20000)
    assert station.reports.alive and _report_threads() == [THREAD_NAME]
    assert "nice 19" in station.reports.priority

    window.stop()
    station.stop()
    assert _report_threads() == []              # stopped with the station, not left for the process's life

    screen.loading = False
    screen.reload()                             # a report asked for after the station stopped is refused in words
    assert not screen.loading and screen.status.text() == "The report could not be built."
    assert _report_threads() == []
