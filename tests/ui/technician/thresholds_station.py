"""A running station on pylon's emulated camera whose replayed parts score across the whole range, with reviews.

The tiny model scores a frame by its most deviating 32 x 32-pixel cell (|grey - 128| / 128), so each
frame's spot grey sets its score: mostly good parts, some borderline, some defects.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from hmi.config.schema import Recipe
from hmi.core.verdict import Verdict
from hmi.station import Station
from tests.support.stations import PIN, tiny_recipe, tiny_station

FRAME = 256
CELL = FRAME // 8


def recipe(name: str) -> Recipe:
    """The recipe in force: tiny model, threshold 0.3 with a HOLD band of 0.05 either side."""
    return tiny_recipe(name, frame_size=FRAME, margin=8, description="thresholds screen tests", plc_recipe_number=1)


def spot_frame(score: float, rng: np.random.Generator) -> np.ndarray:
    """A noisy grey part with a 2 x 2-cell spot scoring about `score`."""
    img = np.clip(128 + rng.normal(0, 2, (FRAME, FRAME)), 0, 255)
    img[3 * CELL:5 * CELL, 3 * CELL:5 * CELL] = 128 + score * 128
    return np.clip(img, 0, 255).astype(np.uint8)


def mixed_scores(count: int, seed: int = 5) -> np.ndarray:
    """Scores of a plausible line: 80 % good (0.02-0.2), 12 % borderline (0.2-0.4), 8 % defects (0.35-0.8)."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(3, count, p=[0.80, 0.12, 0.08])
    good = np.clip(rng.gamma(4.0, 0.025, count), 0.02, 0.22)
    return np.where(kind == 0, good, np.where(kind == 1, rng.uniform(0.2, 0.4, count), rng.uniform(0.35, 0.8, count)))


def build_mixed_station(root: Path, tiny_model: Path, count: int, *, rate_hz: float = 60.0) -> Station:
    """A production station (records, users, PLC off) on the emulator replaying `count` mixed parts."""
    frames = root / "frames"
    frames.mkdir(parents=True)
    rng = np.random.default_rng(11)
    for i, score in enumerate(mixed_scores(count)):
        assert cv2.imwrite(str(frames / f"part_{i:04d}.png"), spot_frame(float(score), rng))
    return tiny_station(root, tiny_model, [recipe("tech-a")], frames, camera="emulated", rate_hz=rate_hz,
                        settings=["store.ok_image_sample=10"])


def recorded(station: Station) -> int:
    """Parts recorded so far (read from the records file)."""
    import sqlite3

    conn = sqlite3.connect(f"{(station.data_dir / 'hmi.db').resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM inspections").fetchone()[0])
    finally:
        conn.close()


def review_holds(station: Station, good_below: float = 0.3) -> int:
    """Olga reviews every held part: good under `good_below`, a defect above; returns how many."""
    olga = station.users.authenticate("olga", PIN["olga"])
    held = station.holds.pending()
    for hold in held:
        good = hold.part.inspection is not None and hold.part.inspection.score < good_below
        station.review(hold.part.seq, Verdict.OK if good else Verdict.NG, olga, None if good else "scratch")
    return len(held)


def run_until(station: Station, parts: int, timeout_s: float = 60.0) -> None:
    """Let the started station record at least `parts` parts, reviewing the held ones as they come."""
    deadline = time.monotonic() + timeout_s
    while recorded(station) < parts:
        assert time.monotonic() < deadline, f"only {recorded(station)} of {parts} parts recorded in {timeout_s} s"
        review_holds(station)
        time.sleep(0.1)
    review_holds(station)
