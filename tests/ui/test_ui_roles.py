"""Role gates on screens and actions, the alarm actions with their audit entries, and the lock after idle time."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from hmi.core.alarm_catalogue import CAMERA_LOST
from hmi.store.database import database_path
from hmi.ui.session import IdleLock, OperatorSession
from tests.ui.conftest import log_in


def _audit_rows(station, action: str) -> list[tuple]:
    conn = sqlite3.connect(database_path(station.data_dir))
    try:
        return conn.execute("SELECT user, subject, old_value, new_value, reason FROM audit WHERE action = ? "
                            "ORDER BY id", (action,)).fetchall()
    finally:
        conn.close()


def test_ui_operator_cannot_open_setup_but_a_technician_can(qtbot, station_factory, open_window):
    station = station_factory(["ok"])
    station.start()
    window = open_window(station)
    log_in(qtbot, window, "olga")
    window.show_screen("live")

    qtbot.mouseClick(window.nav["setup"], Qt.MouseButton.LeftButton)
    assert window.current == "live"
    assert not window.nav["setup"].isChecked()
    words = window.banner.text.text()
    assert "Setup screen is for technicians" in words and "Only a technician" in words

    log_in(qtbot, window, "theo")
    qtbot.mouseClick(window.nav["setup"], Qt.MouseButton.LeftButton)
    assert window.current == "setup"
    settings = {window.setup.table.item(r, 0).text(): window.setup.table.item(r, 1).text()
                for r in range(window.setup.table.rowCount())}
    assert settings["Recipe"].startswith("ui-test")
    assert "version 1: NG from score 0.350" in settings["Threshold set"]

    # Logging out while on a technician screen leaves it.
    qtbot.mouseClick(window.zone.user_button, Qt.MouseButton.LeftButton)
    assert window.session.user is None and window.current == "live"


def test_ui_alarm_acknowledged_by_operator_shelved_by_technician_both_audited(qtbot, station_factory, open_window):
    station = station_factory(["ok"])
    station.start()
    station.alarms.raise_(CAMERA_LOST, problem="camera 4711 not answering")
    window = open_window(station)
    log_in(qtbot, window, "olga")
    window.show_screen("alarms")
    qtbot.waitUntil(lambda: "CAMERA_LOST" in window.alarms.rows, timeout=5000)
    assert "1 HIGH: Camera 4711 not answering" in window.zone.alarm_button.full_text
    window.alarms.select("CAMERA_LOST")

    qtbot.mouseClick(window.alarms.ack, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(_audit_rows(station, "alarm_ack")), timeout=5000)
    assert _audit_rows(station, "alarm_ack") == [("olga", "CAMERA_LOST", "not acknowledged", "acknowledged",
                                                  CAMERA_LOST.message(problem="camera 4711 not answering"))]
    board = {a.code: a for a in station.alarms.snapshot()}
    assert board["CAMERA_LOST"].acknowledged_by == "olga"

    # An operator may not shelve: plain words, the login screen, nothing changes.
    qtbot.mouseClick(window.alarms.shelve, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.alarms.reason_buttons[0], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.alarms.duration_buttons[1], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.alarms.shelve_now, Qt.MouseButton.LeftButton)
    assert window.current == "login"
    assert "Only a technician can shelve alarms" in window.banner.text.text()
    assert board["CAMERA_LOST"].shelved_until is None

    log_in(qtbot, window, "theo")
    assert window.current == "alarms"
    window.alarms.select("CAMERA_LOST")
    if not window.alarms.shelve.isChecked():
        qtbot.mouseClick(window.alarms.shelve, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.alarms.reason_buttons[0], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.alarms.duration_buttons[1], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.alarms.shelve_now, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(_audit_rows(station, "alarm_shelve")), timeout=5000)
    (user, subject, old, new, reason), = _audit_rows(station, "alarm_shelve")
    assert (user, subject, old, reason) == ("theo", "CAMERA_LOST", "shown", "Known fault: maintenance has been called")
    shelved = {a.code: a for a in station.alarms.snapshot()}["CAMERA_LOST"]
    assert timedelta(minutes=59) < shelved.shelved_until - shelved.raised_at < timedelta(minutes=61, seconds=30)
    assert new == f"shelved until {shelved.shelved_until.isoformat()}"
    window.refresh_slow()
    assert "Camera 4711" not in window.zone.alarm_button.full_text  # hidden from the zone while shelved


def test_ui_idle_lock_logs_out_and_a_touch_restarts_the_countdown(qtbot, station_factory, open_window):
    station = station_factory(["ok"])
    window = open_window(station)
    assert window.idle.timer.interval() == station.cfg.ui.idle_lock_s * 1000

    log_in(qtbot, window, "olga")
    session = OperatorSession(station.users, window.tasks, window.channel)
    lock = IdleLock(session, 0.4)
    QApplication.instance().installEventFilter(lock)
    try:
        session.log_in(window.session.user)
        for _ in range(4):  # touches every 0.2 s keep the user logged in past the 0.4 s limit
            qtbot.wait(200)
            press = QMouseEvent(QEvent.Type.MouseButtonPress, QPointF(5, 5), QPointF(5, 5), Qt.MouseButton.LeftButton,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
            QApplication.sendEvent(window.live, press)
            assert session.user is not None
        qtbot.waitUntil(lambda: session.user is None, timeout=2000)
        assert any("olga was logged out: no touch for 0.4 s (auto-lock)" in m.text for m in window.channel.history)
    finally:
        QApplication.instance().removeEventFilter(lock)
