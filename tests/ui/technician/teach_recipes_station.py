"""Fixtures and helpers of the teach and recipes tests (import the fixtures into the test module).

A running station on pylon's emulated camera with two recipes (tech-a in force, PLC 1; tech-b, PLC 2),
records in SQLite, the tiny model, and textured good-part frames; the station teaches through its own
`station.teaching` (hmi.changes.teaching.Teaching). Screens are opened with the technician conftest's
`screen_context` fixture and `show_screen`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from hmi.config.schema import Recipe
from hmi.station import Station
from hmi.store.database import database_path
from tests.support.stations import PIN, stopped_afterwards, tiny_recipe, tiny_station

FRAME = 256
TEACH_SIZE = 64        # the smallest input the backbone takes: a teach run takes well under a second here


def good_frame(seed: int, size: int = FRAME) -> np.ndarray:
    """A good part: a slightly brighter disc on a noisy grey belt, shifted a little per part (tiny-model score < 0.1)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    img = 128 + rng.normal(0, 5, (size, size))
    cx, cy = size / 2 + rng.uniform(-6, 6), size / 2 + rng.uniform(-6, 6)
    img[(xx - cx) ** 2 + (yy - cy) ** 2 < (size / 4) ** 2] += 8
    return np.clip(img, 0, 255).astype(np.uint8)


def write_good_frames(folder: Path, count: int, first: int = 0, size: int = FRAME) -> list[Path]:
    """`count` good-part PNGs, named in replay order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(first, first + count):
        path = folder / f"good_{i:04d}.png"
        assert cv2.imwrite(str(path), good_frame(i, size))
        paths.append(path)
    return paths


def recipe(name: str, *, plc_number: int = 0, exposure_us: float | None = None, description: str = "") -> Recipe:
    """A recipe on the tiny model."""
    return tiny_recipe(name, frame_size=FRAME, margin=8, description=description or f"technician tests: {name}",
                       plc_recipe_number=plc_number, exposure_us=exposure_us)


def build_tech_station(root: Path, tiny_model: Path, *, rate_hz: float = 20.0, frame: int = FRAME,
                       overrides: list[str] | None = None) -> Station:
    """A production station on the emulated camera with recipes tech-a (PLC 1, in force) and tech-b (PLC 2)."""
    frames = root / "frames"
    write_good_frames(frames, 8, size=frame)
    recipes = [recipe("tech-a", plc_number=1, exposure_us=3000.0),
               recipe("tech-b", plc_number=2, exposure_us=6500.0, description="second product")]
    return tiny_station(root, tiny_model, recipes, frames, camera="emulated", rate_hz=rate_hz,
                        settings=overrides or [])


@pytest.fixture
def tech_station(tmp_path: Path, tiny_model: Path) -> Iterator[Callable[..., Station]]:
    """Build (and afterwards stop) stations: `tech_station(**options)`."""
    yield from stopped_afterwards(lambda root, **options: build_tech_station(root, tiny_model, **options), tmp_path)


def _query(station: Station, sql: str, args: tuple) -> list[dict]:
    conn = sqlite3.connect(f"file:{database_path(station.data_dir)}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def audit_entries(station: Station, action: str) -> list[dict]:
    """The audit trail's entries of `action`, oldest first, read from the records file."""
    return _query(station, "SELECT * FROM audit WHERE action = ? ORDER BY id", (action,))


def part_row(station: Station, seq: int) -> dict | None:
    """The stored record of part `seq`, or None."""
    rows = _query(station, "SELECT * FROM inspections WHERE seq = ?", (seq,))
    return rows[0] if rows else None


def tap(qtbot, widget) -> None:
    """Tap a button like a finger."""
    from PySide6.QtCore import Qt

    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def type_pin(qtbot, panel, user: str) -> None:
    """Type `user`'s PIN on a signature panel's keypad."""
    for digit in PIN[user]:
        tap(qtbot, panel.keys[digit])
