"""A real records database (SQLite file, the station's schema) filled with parts for the thresholds tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from hmi.store.database import open_database, transaction

SHA = "ab" * 32
FRAME = 384
CELL = FRAME // 8


@dataclass(frozen=True)
class Row:
    """One part to record: score, automatic and final verdict, reviewer, largest region, image."""

    score: float
    auto: str
    final: str | None = None
    reviewer: str | None = None
    largest_px: int = 0
    image: str | None = None
    recipe: str = "r1"
    sha: str = SHA


def spot_frame(score: float) -> np.ndarray:
    """A grey frame whose 2 x 2-cell spot makes the tiny model score exactly `score` (to 1/128)."""
    img = np.full((FRAME, FRAME), 128, np.uint8)
    grey = int(round(128 + score * 128))
    img[3 * CELL:5 * CELL, 3 * CELL:5 * CELL] = min(grey, 255)
    return img


def write_records(db_path: Path, rows: list[Row], *, data_dir: Path | None = None, start_seq: int = 1) -> None:
    """Record `rows` in order (oldest first); with `data_dir`, rows with `image` get a PNG there."""
    conn = open_database(db_path)
    try:
        with transaction(conn):
            for i, row in enumerate(rows):
                seq = start_seq + i
                at = f"2025-03-01T08:{(seq // 60) % 60:02d}:{seq % 60:02d}.000Z"
                conn.execute(
                    "INSERT INTO inspections (seq, captured_at, captured_mono, recipe, model_name, model_sha256, "
                    "threshold_version, score, auto_verdict, verdict, reviewed_by, image_path) "
                    "VALUES (?, ?, ?, ?, 'tiny', ?, 1, ?, ?, ?, ?, ?)",
                    (seq, at, float(seq), row.recipe, row.sha, row.score, row.auto, row.final or row.auto,
                     row.reviewer, row.image))
                if row.largest_px:
                    conn.execute("INSERT INTO regions (seq, idx, x, y, w, h, area_px, peak_score, label) "
                                 "VALUES (?, 0, 0, 0, 10, 10, ?, ?, 'anomaly')", (seq, row.largest_px, row.score))
                if row.image and data_dir is not None:
                    path = data_dir / row.image
                    path.parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(path), spot_frame(row.score))
    finally:
        conn.close()
