"""A real running station for the screens: tiny ONNX model, replayed frames, records in SQLite, users, audit.

The station is built as the CLI builds it (RecordsAndPlc downstream, PLC off); `wire_station` adds
the test's users.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QtMsgType

from hmi.app import Station
from hmi.camera.replay import ReplaySource
from hmi.camera.source import TriggerMode
from hmi.config.loader import load_station, save_recipe
from hmi.config.schema import HoldPolicy, InspectionRoi, Recipe, RecipeModel, RecipeThresholds
from hmi.downstream import RecordsAndPlc
from hmi.store.users import Role

FRAME = 384
CELL = FRAME // 8          # the tiny model averages 8 x 8 cells of its 64 x 64 input
HOLD_GREY = 166            # |166 - 128| / 128 = 0.297: inside the HOLD band 0.25 .. 0.35
PIN = {"olga": "1234", "theo": "4321", "admin": "9999"}


def frame(spot: int | None = None, at: tuple[int, int] = (3, 3)) -> np.ndarray:
    """A grey frame; with `spot`, a 2 x 2-cell square of that grey at cell `at` (exact cells: exact score)."""
    img = np.full((FRAME, FRAME), 128, np.uint8)
    if spot is not None:
        x, y = at[0] * CELL, at[1] * CELL
        img[y:y + 2 * CELL, x:x + 2 * CELL] = spot
    return img


def write_frames(folder: Path, kinds: list[str]) -> Path:
    """PNG frames replayed in name order: 'ok', 'hold' or 'ng' each."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, kind in enumerate(kinds):
        img = {"ok": frame(), "hold": frame(HOLD_GREY), "ng": frame(255, (1, 4))}[kind]
        cv2.imwrite(str(folder / f"{i:04d}_{kind}.png"), img)
    return folder


def wire_station(station: Station) -> None:
    """Add the test's users (admin, operator olga, technician theo), and records queries if the station has none."""
    users = station.users
    admin = users.add("admin", Role.ADMIN, PIN["admin"], None)
    users.add("olga", Role.OPERATOR, PIN["olga"], admin)
    users.add("theo", Role.TECHNICIAN, PIN["theo"], admin)


def build_station(root: Path, tiny_model: Path, kinds: list[str], *, rate_hz: float = 40.0,
                  hold_timeout_s: int = 300, overrides: list[str] | None = None) -> Station:
    """A production station on the tiny model replaying `kinds` frames, with records; not started."""
    data_dir = root / "data"
    shutil.copytree(tiny_model, data_dir / "models" / "tiny")
    cfg = load_station(data_dir, ["station.recipe=ui-test", "station.mode=production", "camera.kind=replay",
                                  "camera.trigger=software", f"camera.rate_hz={rate_hz}", "plc.mode=off",
                                  "inference.threads=1", *(overrides or [])])
    save_recipe(data_dir, Recipe(
        name="ui-test", description="UI tests: grey frames with spots", model=RecipeModel(name="tiny"),
        thresholds=RecipeThresholds(version=1, score=0.3, hold_below=0.05, hold_above=0.05),
        roi=InspectionRoi(rectangles=[(16, 16, FRAME - 32, FRAME - 32)]),
        hold=HoldPolicy(timeout_s=hold_timeout_s, default="NG")))
    frames = write_frames(root / "frames", kinds)
    source = ReplaySource(frames, trigger=TriggerMode.SOFTWARE, rate_hz=rate_hz)
    station = Station(cfg, data_dir, source=source, downstream=RecordsAndPlc(cfg, data_dir))
    wire_station(station)
    return station


@pytest.fixture
def station_factory(tmp_path, tiny_model):
    """Build (and afterwards stop) stations: `station_factory(kinds, **options)`."""
    made: list[Station] = []

    def make(kinds: list[str], **options) -> Station:
        station = build_station(tmp_path / f"s{len(made)}", tiny_model, kinds, **options)
        made.append(station)
        return station

    yield make
    for station in made:
        station.stop()


# The offscreen platform says this when a window is shown; it is about the test platform, not the station.
OFFSCREEN_NOISE = ("This plugin does not support propagateSizeHints()",)


@pytest.fixture(autouse=True)
def fail_on_qt_warnings(qtlog):
    """A Qt warning (or worse) logged during a UI test fails it, as a logged error would in production."""
    yield
    bad = [r for r in qtlog.records
           if r.type in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
           and r.message not in OFFSCREEN_NOISE]
    assert not bad, "Qt warnings: " + "; ".join(r.message for r in bad)


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
