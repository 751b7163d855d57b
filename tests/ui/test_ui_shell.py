"""The touchscreen's entry point: a timed run with screenshots exits cleanly; errors are reported, not fatal."""

from __future__ import annotations

import sqlite3

import pytest

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage

from hmi.core.errors import PlcError
from hmi.store.database import database_path
from hmi.ui.messages import ExceptHook, Level, MessageChannel
from hmi.ui.shell import run_station_ui
from hmi.ui.window import SCREENSHOT_SCREENS


def test_ui_timed_run_saves_one_screenshot_per_screen_and_exits_cleanly(station_factory, tmp_path):
    station = station_factory(["ok", "hold", "ng", "ok"], rate_hz=20.0)
    station.start()
    shots = tmp_path / "shots"
    code = run_station_ui(station, fullscreen=False, quit_after_s=3.5, screenshot_dir=shots)
    station.stop()
    assert code == 0
    assert sorted(p.name for p in shots.iterdir()) == sorted(f"{name}.png" for name in SCREENSHOT_SCREENS)
    for name in SCREENSHOT_SCREENS:
        image = QImage(str(shots / f"{name}.png"))
        assert (image.width(), image.height()) == (1920, 1080), name
    conn = sqlite3.connect(database_path(station.data_dir))
    try:
        recorded, distinct = conn.execute("SELECT count(*), count(DISTINCT verdict) FROM inspections").fetchone()
        logins = conn.execute("SELECT count(*) FROM audit WHERE action = 'login'").fetchone()[0]
    finally:
        conn.close()
    assert recorded == station.outlet.counts().total > 20
    assert distinct == 3  # OK, NG and HOLD parts all reached the records
    assert logins == 0    # nobody logged in: the run stayed locked


class _Emitter(QObject):
    fired = Signal()


@pytest.mark.qt_no_exception_capture  # the station's own hook is under test, not pytest-qt's
@pytest.mark.expected_errors("uncaught exception in the UI", "^The screen could not finish what was asked",
                             "^PLC 192.168.0.10 not answering")
def test_ui_an_exception_in_a_slot_is_shown_and_the_loop_goes_on(qtbot):
    channel = MessageChannel()
    shown = []
    channel.warning("buffered until the banner exists")
    hook = ExceptHook(channel).install()
    try:
        emitter = _Emitter()

        def broken() -> None:
            raise ZeroDivisionError("division by zero")

        emitter.fired.connect(broken)
        QTimer.singleShot(0, emitter.fired.emit)
        qtbot.waitUntil(lambda: bool(hook.caught), timeout=2000)
    finally:
        hook.uninstall()
    channel.attach(shown.append)
    channel.error(PlcError("PLC 192.168.0.10 not answering", "check the cable; parts are being rejected"))
    assert [m.level for m in shown] == [Level.WARNING, Level.ERROR, Level.ERROR]
    assert shown[0].text == "buffered until the banner exists"
    assert shown[1].what == "The screen could not finish what was asked"  # plain words; the exception is logged
    assert "ZeroDivisionError" not in shown[1].text
    assert "keeps running" in shown[1].todo
    assert shown[2].text == "PLC 192.168.0.10 not answering — check the cable; parts are being rejected"
