"""A real running station for the screens: tiny ONNX model, replayed frames, records in SQLite, users, audit.

The station is built as the CLI builds it (hmi.station.build_station; PLC off) by tests/support/stations.py,
with the test's users olga, theo and admin. Qt warnings fail a UI test through tests/conftest.py.
"""

from __future__ import annotations

import pytest

from hmi.station import Station
from tests.support.stations import PIN, replay_station, stopped_afterwards


@pytest.fixture
def station_factory(tmp_path, tiny_model):
    """Build (and afterwards stop) replay stations: `station_factory(kinds, **options)` (see replay_station)."""
    yield from stopped_afterwards(lambda root, kinds, **options: replay_station(root, tiny_model, kinds, **options),
                                  tmp_path)


@pytest.fixture
def open_window(qtbot):
    """Open the real station window at 1920 x 1080 on a station: `open_window(station)`; closed afterwards."""
    from hmi.ui.window import StationWindow

    opened: list[StationWindow] = []

    def make(station: Station) -> StationWindow:
        window = StationWindow(station)
        qtbot.addWidget(window)
        window.resize(1920, 1080)
        window.show()
        qtbot.waitExposed(window)
        window.start()
        opened.append(window)
        return window

    yield make
    for window in opened:
        window.stop()


def present(qtbot, screen, size: tuple[int, int] = (1280, 800)):
    """Show one screen alone with the station's style at `size` (as it sits in the window); returns it."""
    from hmi.ui.theme import stylesheet

    screen.setStyleSheet(stylesheet(screen.ctx.touch.px))
    qtbot.addWidget(screen)
    screen.resize(*size)
    screen.show()
    qtbot.waitExposed(screen)
    return screen


def log_in(qtbot, window, name: str) -> None:
    """Log in through the screen like a person: login screen, tap the name, type the PIN, Log in."""
    from PySide6.QtCore import Qt

    window.show_screen("login")
    qtbot.waitUntil(lambda: name in window.login.user_buttons, timeout=5000)
    qtbot.mouseClick(window.login.user_buttons[name], Qt.MouseButton.LeftButton)
    for digit in PIN[name]:
        qtbot.mouseClick(window.login.keys[digit], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.login.enter, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.session.user is not None and window.session.user.name == name, timeout=10000)
