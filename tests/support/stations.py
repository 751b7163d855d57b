"""Stations for the tests, built by the station's own builder (`hmi.station.build_station`) on the tiny model.

The station gets its frames the way a line would: the configured camera (`camera.kind` replay, or
pylon's emulated camera) replays a folder of frames (`camera.replay_path`). Records in SQLite, PLC off
unless a test says otherwise; `add_users` creates admin, operator olga and technician theo.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from hmi.config.loader import load_station, save_recipe
from hmi.config.schema import HoldPolicy, InspectionRoi, Recipe, RecipeModel, RecipeThresholds
from hmi.station import Station, build_station
from hmi.store.database import database_path
from hmi.store.users import Role

FRAME = 384
CELL = FRAME // 8          # the tiny model averages 8 x 8 cells of its 64 x 64 input
HOLD_GREY = 166            # |166 - 128| / 128 = 0.297: inside the HOLD band 0.25 .. 0.35
PIN = {"olga": "123456", "theo": "432165", "admin": "999999"}  # six digits: [users] min_pin_length


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


def tiny_recipe(name: str, *, frame_size: int, margin: int, description: str = "", **fields) -> Recipe:
    """A recipe on the tiny model: threshold 0.3 with a HOLD band of 0.05 either side, HOLD parts NG after 300 s.

    Its inspection area leaves `margin` pixels free at each edge of a `frame_size` frame; `fields` set the rest.
    """
    return Recipe(**{
        "name": name, "description": description or f"tests: {name}", "model": RecipeModel(name="tiny"),
        "thresholds": RecipeThresholds(version=1, score=0.3, hold_below=0.05, hold_above=0.05),
        "roi": InspectionRoi(rectangles=[(margin, margin, frame_size - 2 * margin, frame_size - 2 * margin)]),
        "hold": HoldPolicy(timeout_s=300, default="NG"), **fields})


def add_users(station: Station) -> None:
    """Add the test's users: admin, operator olga, technician theo."""
    users = station.users
    admin = users.add("admin", Role.ADMIN, PIN["admin"], None)
    users.add("olga", Role.OPERATOR, PIN["olga"], admin)
    users.add("theo", Role.TECHNICIAN, PIN["theo"], admin)


def tiny_station(root: Path, tiny_model: Path, recipes: Sequence[Recipe], frames: Path, *, camera: str = "replay",
                 rate_hz: float = 40.0, settings: Sequence[str] = (), users: bool = True, **build) -> Station:
    """A production station on the tiny model whose `camera` replays `frames`, with records; not started.

    `recipes` are saved in `root`/data (the first is in force); `settings` are --set overrides on top of
    software trigger at `rate_hz`, PLC off and one inference thread; `build` goes to build_station (outputs=...).
    """
    data_dir = root / "data"
    shutil.copytree(tiny_model, data_dir / "models" / "tiny")
    cfg = load_station(data_dir, [f"station.recipe={recipes[0].name}", "station.mode=production",
                                  f"camera.kind={camera}", f"camera.replay_path={frames}", "camera.trigger=software",
                                  f"camera.rate_hz={rate_hz}", "plc.mode=off", "inference.threads=1", *settings])
    for recipe in recipes:
        save_recipe(data_dir, recipe)
    station = build_station(cfg, data_dir, **build)
    if users:
        add_users(station)
    return station


def replay_station(root: Path, tiny_model: Path, kinds: list[str], *, rate_hz: float = 40.0,
                   hold_timeout_s: int = 300, overrides: Sequence[str] = (), **build) -> Station:
    """A production station on the tiny model replaying `kinds` frames (recipe ui-test), with records; not started."""
    recipe = tiny_recipe("ui-test", frame_size=FRAME, margin=16, description="UI tests: grey frames with spots",
                         hold=HoldPolicy(timeout_s=hold_timeout_s, default="NG"))
    return tiny_station(root, tiny_model, [recipe], write_frames(root / "frames", kinds), rate_hz=rate_hz,
                        settings=overrides, **build)


def stopped_afterwards(build: Callable[..., Station], root: Path) -> Iterator[Callable[..., Station]]:
    """A fixture's body: yields `make(*args, **options)`, which builds a station in a fresh folder under `root`
    with `build(folder, *args, **options)`; every station made is stopped when the test ends."""
    made: list[Station] = []

    def make(*args, **options) -> Station:
        station = build(root / f"s{len(made)}", *args, **options)
        made.append(station)
        return station

    yield make
    for station in made:
        station.stop()


def audit_rows(data_dir: Path, action: str) -> list[tuple[str, str, str | None, str | None, str]]:
    """(user, subject, old, new, reason) of the stored audit entries of `action`, oldest first, read-only."""
    conn = sqlite3.connect(f"file:{database_path(data_dir)}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT user, subject, old_value, new_value, reason FROM audit WHERE action = ? "
                            "ORDER BY id", (action,)).fetchall()
    finally:
        conn.close()
