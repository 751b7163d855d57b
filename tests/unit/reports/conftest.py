"""Records databases for the report tests: a hand-made shift with known figures, and a generated week."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hmi.store.database import database_path, iso_utc, open_database, transaction

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)   # Early shift of Monday 2 March 2026 (UTC plant)
SHA_A = "a" * 64


def part(seq: int, at: datetime, auto: str, final: str | None = None, score: float | None = 0.1,
         by: str | None = None, defect: str | None = None, sha: str = SHA_A) -> tuple:
    """An inspections row with the columns the reports read."""
    return (seq, iso_utc(at), 0.0, "demo", "model-a", sha, 1, score, auto, final or auto, "", by,
            iso_utc(at + timedelta(seconds=30)) if by else None, defect)


def write(data_dir: Path, rows: list[tuple], regions: list[tuple] = (), alarms: list[tuple] = ()) -> Path:
    """Write `rows` (from `part`), regions and alarm events into DATA_DIR/hmi.db through the real schema."""
    conn = open_database(database_path(data_dir))
    with transaction(conn):
        conn.execute('INSERT OR IGNORE INTO threshold_sets (recipe, version, "values", created_by, created_at, reason) '
                     "VALUES ('demo', 1, '{\"score\": 0.5}', 'station', ?, 'test')", (iso_utc(T0),))
        conn.executemany(
            "INSERT INTO inspections (seq, captured_at, captured_mono, recipe, model_name, model_sha256, "
            "threshold_version, score, auto_verdict, verdict, reason, reviewed_by, reviewed_at, defect_type) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.executemany("INSERT INTO regions (seq, idx, x, y, w, h, area_px, peak_score, label, confidence) "
                         "VALUES (?, ?, 0, 0, 4, 4, 10, 0.9, ?, NULL)", regions)
        conn.executemany("INSERT INTO alarm_events (at, code, event, priority, message, user) VALUES (?, ?, ?, ?, ?, ?)",
                         alarms)
    conn.close()
    return data_dir


@pytest.fixture
def known_shift(tmp_path) -> Path:
    """One Early shift, one part a minute for 8 hours except a stop 09:00-09:20, with known verdicts and reviews."""
    rows = []
    seq = 0
    for minute in range(480):
        at = T0 + timedelta(minutes=minute, seconds=5)
        if 180 <= minute < 200:
            continue  # the stop
        seq += 1
        k = seq % 20
        if k == 1:
            rows.append(part(seq, at, "NG", score=0.9))                                  # NG, not reviewed
        elif k == 2:
            rows.append(part(seq, at, "NG", "OK", 0.8, by="anna"))                       # override NG -> OK
        elif k == 3:
            rows.append(part(seq, at, "HOLD", "NG", 0.5, by="ben", defect="scratch"))   # review
        elif k == 4:
            rows.append(part(seq, at, "HOLD", "NG", 0.5, by="system"))                  # timed out
        elif k == 5 and seq % 40 == 5:
            rows.append(part(seq, at, "NOT_INSPECTED", score=None))
        else:
            rows.append(part(seq, at, "OK", score=0.1 + 0.001 * (seq % 50)))
    regions = [(r[0], 0, "dent") for r in rows if r[8] == "NG" and r[9] == "NG" and r[11] is None]
    alarms = [(iso_utc(T0 + timedelta(minutes=179, seconds=50)), "CAMERA_LOST", "raised", 1, "Camera not answering", None),
              (iso_utc(T0 + timedelta(minutes=181)), "CAMERA_LOST", "acknowledged", 1, "Camera not answering", "anna"),
              (iso_utc(T0 + timedelta(minutes=200)), "CAMERA_LOST", "cleared", 1, "Camera not answering", None)]
    return write(tmp_path / "data", rows, regions, alarms)
