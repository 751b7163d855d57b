"""Any screen is within three touches of any other, through the fixed zone, the navigation bar and the strip."""

from __future__ import annotations

from PySide6.QtCore import Qt

from hmi.ui.window import SCREENS
from tests.ui.conftest import log_in


def _route(window, target: str) -> list:
    """The buttons a person touches to reach `target` from wherever they are."""
    if target in window.nav:
        return [window.nav[target]]
    if target == "login":
        return [window.zone.user_button]
    if target == "part":
        return [window.nav["live"], window.live.strip.buttons[0]]
    if target in window.setup.tool_buttons:
        return [window.nav["setup"], window.setup.tool_buttons[target]]
    raise AssertionError(f"no route to {target}")


def test_ui_every_screen_within_three_touches(qtbot, station_factory, open_window):
    station = station_factory(["ok", "ng"], rate_hz=20.0)
    station.start()
    window = open_window(station)
    log_in(qtbot, window, "admin")  # an admin may open every screen: Setup and its tools, reports, records
    window.show_screen("live")
    qtbot.waitUntil(lambda: window.live.strip.buttons[0].isEnabled(), timeout=5000)
    for start in SCREENS:
        for target in SCREENS:
            if target == "login" or start == "login":
                continue  # the user button logs a logged-in user out; checked below
            if start == "part":
                window.open_part(station.outlet.recent()[-1])
            else:
                window.show_screen(start)
            route = _route(window, target)
            assert len(route) <= 3
            for touch in route:
                qtbot.mouseClick(touch, Qt.MouseButton.LeftButton)
            assert window.current == target, f"{start} -> {target} ended on {window.current}"
    qtbot.mouseClick(window.zone.user_button, Qt.MouseButton.LeftButton)   # log out ...
    qtbot.mouseClick(window.zone.user_button, Qt.MouseButton.LeftButton)   # ... and the login screen is one touch away
    assert window.current == "login"
    for target in ("live", "review", "alarms"):
        window.show_screen("login")
        qtbot.mouseClick(_route(window, target)[0], Qt.MouseButton.LeftButton)
        assert window.current == target
