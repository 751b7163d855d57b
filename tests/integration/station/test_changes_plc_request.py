"""Changeover on the PLC's request: a python-snap7 client writes the recipe number into byte 79 of the vision DB
of the station's simulated PLC; the next parts carry the new recipe and the audit trail has the changeover."""

from __future__ import annotations

import sqlite3
import time

import cv2
import numpy as np
import pytest
from snap7.client import Client

from hmi.config.schema import Recipe, RecipeModel, RecipeThresholds
from hmi.plc import layout
from hmi.store.database import database_path
from tests.support.stations import tiny_station


def _wait(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def plc_station(tmp_path, tiny_model):
    """A production station with records and the simulated PLC, recipes tech-a (PLC 1, in force) and tech-b (2)."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(4):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((128, 128), 128 + i, np.uint8))
    recipes = [Recipe(name=name, model=RecipeModel(name="tiny"), plc_recipe_number=number,
                      thresholds=RecipeThresholds(version=1, score=0.3, hold_below=0.05, hold_above=0.05))
               for name, number in (("tech-a", 1), ("tech-b", 2))]
    station = tiny_station(tmp_path, tiny_model, recipes, frames, rate_hz=30, settings=["plc.mode=simulated"],
                           users=False)
    yield station
    station.stop()


def request_recipe(plc, db: int, number: int) -> int:
    """Write `number` into byte 79 as an operator panel on the PLC would; returns the byte read back."""
    client = Client()
    client.connect(plc.host, 0, 1, plc.port)
    try:
        client.db_write(db, layout.REQUESTED_RECIPE, bytearray([number]))
        return client.db_read(db, layout.REQUESTED_RECIPE, 1)[0]
    finally:
        client.disconnect()


def test_recipe_number_written_to_byte_79_changes_the_recipe_over(plc_station):
    station = plc_station
    station.start()
    plc = station.downstream.simulated_plc
    assert _wait(lambda: station.outlet.counts().total >= 3, 20)
    assert request_recipe(plc, station.cfg.plc.db, 2) == 2   # the PLC program keeps what was written
    assert _wait(lambda: station.recipe.name == "tech-b", 10), "the station did not change over"
    assert _wait(lambda: (station.newest.peek()[1] is not None and station.newest.peek()[1].recipe == "tech-b"), 10)
    seq = station.newest.peek()[1].seq
    assert _wait(lambda: station.outlet.counts().total >= seq + 3, 10)
    station.stop()

    conn = sqlite3.connect(database_path(station.data_dir))
    try:
        after = [r for (r,) in conn.execute("SELECT recipe FROM inspections WHERE seq >= ? ORDER BY seq", (seq,))]
        before = [r for (r,) in conn.execute("SELECT recipe FROM inspections WHERE seq < ? ORDER BY seq", (seq,))]
        audit = conn.execute("SELECT user, subject, old_value, new_value, reason FROM audit "
                             "WHERE action = 'recipe_change'").fetchall()
    finally:
        conn.close()
    assert after and set(after) == {"tech-b"}
    assert "tech-a" in before and before[-1] in ("tech-a", "tech-b")
    assert len(audit) == 1
    user, subject, old, new, reason = audit[0]
    assert subject == "changeover to tech-b" and '"tech-a"' in old and '"tech-b"' in new
    assert reason == "PLC recipe request 2: requested by the PLC"


def test_an_unknown_recipe_number_raises_an_alarm_and_keeps_the_recipe(plc_station):
    station = plc_station
    station.start()
    plc = station.downstream.simulated_plc
    assert _wait(lambda: station.outlet.counts().total >= 2, 20)
    request_recipe(plc, station.cfg.plc.db, 9)
    assert _wait(lambda: any(a.code == "RECIPE_REQUEST" for a in station.alarms.snapshot()), 10)
    alarm = next(a for a in station.alarms.snapshot() if a.code == "RECIPE_REQUEST")
    assert "number 9" in alarm.message and "tech-a stays in force" in alarm.message
    assert station.recipe.name == "tech-a"
