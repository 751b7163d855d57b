"""Fault states where the operator looks: the verdict area says PLC LOST / NOT INSPECTED in words and shape,
with the alarm's whole text, and the tiles follow (issue 16, item 12)."""

from __future__ import annotations

import socket

from hmi.core.verdict import Verdict
from hmi.ui.health import NOT_INSPECTED_RUN


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tile(window, name: str) -> str:
    return window.zone.health[name].value.text()


def test_ui_plc_gone_says_plc_lost_in_the_verdict_area_with_the_whole_alarm(qtbot, station_factory, open_window):
    station = station_factory(["ok"], overrides=["plc.mode=s7", "plc.host=127.0.0.1", f"plc.port={_free_port()}"])
    station.start()
    window = open_window(station)
    qtbot.waitUntil(lambda: station.alarms.is_active("PLC_LINK"), timeout=20000)
    qtbot.waitUntil(lambda: window.live.badge.fault == "PLC LOST", timeout=5000)
    alarm = next(a for a in station.alarms.snapshot() if a.code == "PLC_LINK")
    assert window.live.reason.text() == alarm.message                 # the whole text, where the operator looks
    assert "parts are being rejected" in window.live.reason.text() and window.live.reason.wordWrap()
    assert window.live.badge.accessibleName() == "PLC LOST"            # no big OK while the PLC is gone
    assert _tile(window, "PLC") == "DOWN"


def test_ui_every_part_not_inspected_is_said_by_the_verdict_area_and_the_camera_tile(qtbot, station_factory,
                                                                                     open_window):
    station = station_factory(["ok"] * 3, rate_hz=40.0)
    station.start()
    window = open_window(station)
    qtbot.waitUntil(lambda: window.live.drawn_version > 0 and _tile(window, "Camera").startswith("OK"),
                    timeout=10000)
    assert window.live.badge.fault == ""
    for frame in (station.data_dir.parent / "frames").iterdir():       # the replay images are removed
        frame.unlink()
    qtbot.waitUntil(lambda: all(p.verdict is Verdict.NOT_INSPECTED
                                for p in station.outlet.recent()[-NOT_INSPECTED_RUN:]), timeout=10000)
    qtbot.waitUntil(lambda: window.live.badge.fault == "NOT INSPECTED", timeout=5000)
    assert _tile(window, "Camera") == "NOT INSPECTED"                  # not "OK 40/s"
    assert "not inspected" in window.live.reason.text() and "rejected" in window.live.reason.text()
