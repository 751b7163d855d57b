"""Login by taps: a PIN digit typed for one name never travels to another (issue 16, item 15)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.support.stations import PIN

LEFT = Qt.MouseButton.LeftButton


def test_ui_login_forgets_the_digits_typed_before_another_name_is_picked(qtbot, station_factory, open_window):
    station = station_factory(["ok"])
    window = open_window(station)
    window.show_screen("login")
    login = window.login
    qtbot.waitUntil(lambda: {"olga", "theo"} <= set(login.user_buttons), timeout=5000)
    qtbot.mouseClick(login.user_buttons["olga"], LEFT)
    qtbot.mouseClick(login.keys[PIN["olga"][0]], LEFT)   # a digit for olga, then the wrong name is noticed
    assert login.pin == PIN["olga"][0]
    qtbot.mouseClick(login.user_buttons["theo"], LEFT)
    assert login.pin == ""
    for digit in PIN["theo"]:
        qtbot.mouseClick(login.keys[digit], LEFT)
    qtbot.mouseClick(login.enter, LEFT)
    qtbot.waitUntil(lambda: window.session.user is not None, timeout=10000)
    assert window.session.user.name == "theo"
