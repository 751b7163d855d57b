"""A week of records as a busy line writes them: the database the report measurement runs on.

Ten parts a second around the clock gives about 6 million parts: realistic scores per model version,
a verdict mix with HOLD reviews, overrides and timed-out holds (each with its audit entry), defect
regions, three recipes / model versions with a slow drift on one, and a few alarms with the stops
they caused. Rows go in with executemany in large transactions.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from hmi.core.alarm_catalogue import (CAMERA_LOST, DISK_LOW, LIGHTING_DRIFT, PLC_SILENT, REJECT_RATE, STORE_WRITE,
                                     AlarmSpec)
from hmi.core.messages import TIMEOUT_REVIEWER
from hmi.store.audit import AuditAction, AuditRequest, append_entry, part_subject
from hmi.store.database import database_path, iso_utc, open_database, transaction

# The demo product's shipped model: its good-part scores match its teach-time held-out scores.
DEMO_SHA = "c252ee26ef50617836bb3401ba9823a09813d8246026a7f61f9cf52e4776908f"
DEFECTS = ("scratch", "dent", "crack", "contamination", "missing material")
# How often a defect type turns up (a Pareto has a head and a tail).
DEFECT_WEIGHTS = np.array([0.42, 0.24, 0.16, 0.12, 0.06])
OPERATORS = {"Early": ("anna", "ben"), "Late": ("carla", "deniz"), "Night": ("emil",)}
CAMERA = "Basler acA1300-60gm (emulated, serial 0815-0000)"
PLC_MS = 28.0


@dataclass(frozen=True)
class ModelEra:
    """One recipe / model version in force from `start_day` (days after the week's start)."""

    start_day: float
    recipe: str
    model_name: str
    sha256: str
    kind: str
    threshold: float
    hold_band: float
    threshold_version: int
    good_mean: float
    good_sd: float
    drift_per_day: float = 0.0  # how far the good-part mean moves per day (a lens getting dirty, a new lot)


ERAS = (
    ModelEra(0.0, "demo", "demo-part", DEMO_SHA, "anomaly", 22.183, 0.3882, 1, 19.47, 0.77),
    ModelEra(2.5, "demo", "demo-part", "7d0e" + "5b1c" * 15, "anomaly", 22.4, 0.40, 2, 19.60, 0.80,
             drift_per_day=0.25),
    ModelEra(5.0, "flange-b", "flange-b-yolo", "a9f3" + "0c7e" * 15, "yolo_detect", 0.50, 0.05, 1, 0.12, 0.06),
)


@dataclass(frozen=True)
class Stop:
    """A stop of the line: no parts from `start_h` for `minutes`, with the alarm that explains it."""

    start_h: float  # hours after the week's start
    minutes: float
    alarm: AlarmSpec
    message: str


STOPS = (
    Stop(30.25, 6.0, CAMERA_LOST, CAMERA_LOST.message(problem="camera 40012345 not answering")),
    Stop(61.5, 24.0, PLC_SILENT, PLC_SILENT.message(host="192.168.0.10")),
    Stop(118.8, 11.0, STORE_WRITE, STORE_WRITE.message(problem="disk I/O error", waiting=412, lost="")),
    Stop(146.1, 3.0, CAMERA_LOST, CAMERA_LOST.message(problem="camera 40012345 not answering")),
)
# Alarms that did not stop the line: (hours after start, minutes active, alarm, words).
WARNINGS = (
    (20.4, 35.0, REJECT_RATE, REJECT_RATE.message(rate=0.24, window=100, limit=0.2)),
    (75.0, 90.0, LIGHTING_DRIFT, LIGHTING_DRIFT.message(mean=106, drift=-17, reference=128, limit=15)),
    (131.3, 12.0, DISK_LOW, DISK_LOW.message(free_mb=480, folder="/var/lib/hmi", limit_mb=500)),
)

_INSERT = (
    "INSERT INTO inspections (seq, part_id, lot_id, captured_at, captured_mono, decided_at, recipe, model_name, "
    "model_sha256, threshold_version, backend, camera_source, exposure_us, gain_db, score, infer_ms, auto_verdict, "
    "verdict, reason, latency_ms, reviewed_by, reviewed_at, review_note, defect_type, plc_status, plc_delivered_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_REGION = ("INSERT INTO regions (seq, idx, x, y, w, h, area_px, peak_score, label, confidence) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


@dataclass(frozen=True)
class GeneratedWeek:
    """What was written: parts, span, and how long it took."""

    path: Path
    parts: int
    start: datetime
    end: datetime
    seconds: float
    size_mb: float


def _iso(epoch_s: np.ndarray) -> list[str]:
    """Epoch seconds as the records' ISO-8601 UTC text with milliseconds and Z."""
    ms = np.round(epoch_s * 1000.0).astype("int64").astype("datetime64[ms]")
    return [s + "Z" for s in np.datetime_as_string(ms, unit="ms").tolist()]


def _era(day: float) -> ModelEra:
    return [e for e in ERAS if e.start_day <= day][-1]


def generate_week(data_dir: Path, start: datetime, *, shift_names: Callable[[datetime], str] | None = None,
                  rate_hz: float = 10.0, days: float = 7.0, seed: int = 7,
                  progress: Callable[[str], None] | None = None) -> GeneratedWeek:
    """Write `days` of records at `rate_hz` parts a second from `start` (UTC) into DATA_DIR/hmi.db.

    `shift_names(moment)` names the shift a moment belongs to, which picks the operators who review.
    The database must not exist yet (the measurement wants a known content).
    """
    path = database_path(data_dir)
    if path.exists():
        raise FileExistsError(f"{path} exists already; generate into an empty data folder")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    conn = open_database(path)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    start = start.astimezone(timezone.utc)
    t0 = start.timestamp()
    total_s = days * 86400.0
    chunk_s = 3600.0
    seq = 1
    parts = 0
    with transaction(conn):
        _threshold_sets(conn, start)
    t = 0.0
    while t < total_s:
        span = min(chunk_s, total_s - t)
        with transaction(conn):
            made = _hour(conn, rng, t0, t, span, rate_hz, seq, shift_names)
        seq += made
        parts += made
        t += span
        if progress is not None and int(t) % (6 * 3600) == 0:
            progress(f"{parts:,} parts written ({t / total_s:.0%}, {time.perf_counter() - started:.0f} s)")
    with transaction(conn):
        _alarm_events(conn, t0)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()
    return GeneratedWeek(path, parts, start, start + timedelta(seconds=total_s), time.perf_counter() - started,
                         path.stat().st_size / 1e6)


def _threshold_sets(conn: sqlite3.Connection, start: datetime) -> None:
    for era in ERAS:
        values = {"score": era.threshold, "hold_below": era.hold_band, "hold_above": era.hold_band,
                  "min_defect_area_px": 0}
        conn.execute('INSERT OR IGNORE INTO threshold_sets (recipe, version, "values", created_by, created_at, reason) '
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     (era.recipe, era.threshold_version, json.dumps(values, sort_keys=True, separators=(",", ":")),
                      "station", iso_utc(start + timedelta(days=era.start_day)), "loaded from the recipe file"))


def _stopped(offsets_h: np.ndarray) -> np.ndarray:
    mask = np.zeros(offsets_h.shape, bool)
    for stop in STOPS:
        mask |= (offsets_h >= stop.start_h) & (offsets_h < stop.start_h + stop.minutes / 60.0)
    return mask


def _hour(conn: sqlite3.Connection, rng: np.random.Generator, t0: float, t: float, span: float, rate_hz: float,
          first_seq: int, shift_names: Callable[[datetime], str] | None) -> int:
    """Write one hour (or less) of parts starting `t` seconds after the week's start; returns how many."""
    n = int(round(span * rate_hz))
    offsets = t + np.arange(n) / rate_hz + rng.uniform(0.0, 0.2 / rate_hz, n)
    offsets = offsets[~_stopped(offsets / 3600.0)]
    n = offsets.size
    if n == 0:
        return 0
    era = _era(t / 86400.0)
    when = datetime.fromtimestamp(t0 + t, timezone.utc)
    names = OPERATORS.get(shift_names(when) if shift_names else "", ("anna", "carla", "emil"))

    # Scores: most parts good around the model's good-part mean, a few percent defective above the threshold.
    drift = era.drift_per_day * max(0.0, t / 86400.0 - era.start_day)
    scores = rng.normal(era.good_mean + drift, era.good_sd, n)
    defective = rng.random(n) < 0.022
    k = int(defective.sum())
    low = era.threshold - era.hold_band - era.good_sd
    scores[defective] = low + rng.exponential(4.0 * era.good_sd, k)
    if era.kind == "yolo_detect":
        scores = np.clip(scores, 0.0, 1.0)
    not_inspected = rng.random(n) < 0.0004
    hold_low, ng_from = era.threshold - era.hold_band, era.threshold + era.hold_band
    auto = np.where(scores >= ng_from, "NG", np.where(scores >= hold_low, "HOLD", "OK")).astype(object)
    auto[not_inspected] = "NOT_INSPECTED"
    final = auto.copy()

    # People: most HOLD parts are reviewed, some time out to the recipe's default (NG);
    # a few NG parts are overruled to OK (the false rejects), very few OK parts to NG.
    u = rng.random(n)
    hold = auto == "HOLD"
    reviewed = (hold & (u < 0.86)) | ((auto == "NG") & (u < 0.035)) | ((auto == "OK") & (u < 0.00015))
    timed_out = hold & ~reviewed
    final[hold & reviewed] = np.where(scores[hold & reviewed] < era.threshold + 0.3 * era.hold_band, "OK", "NG")
    final[(auto == "NG") & reviewed] = "OK"
    final[(auto == "OK") & reviewed] = "NG"
    final[timed_out] = "NG"
    who = np.array(names, dtype=object)[rng.integers(0, len(names), n)]
    defect_idx = rng.choice(len(DEFECTS), n, p=DEFECT_WEIGHTS)

    captured = t0 + offsets
    infer = rng.gamma(9.0, 2.2, n)
    latency = infer + rng.gamma(4.0, 1.5, n)
    review_delay = rng.uniform(8.0, 140.0, n)
    cap_txt = _iso(captured)
    dec_txt = _iso(captured + latency / 1000.0)
    plc_txt = _iso(captured + (latency + PLC_MS) / 1000.0)
    rev_txt = _iso(captured + np.where(timed_out, 300.0, review_delay))
    seqs = range(first_seq, first_seq + n)
    rows = []
    audits: list[AuditRequest] = []
    for i, s in enumerate(seqs):
        a, f = auto[i], final[i]
        score = None if a == "NOT_INSPECTED" else round(float(scores[i]), 4)
        if a == "NOT_INSPECTED":
            reason = "not judged within the deadline (2000 ms)"
        elif a == "OK":
            reason = f"score {score:.3f} below {hold_low:.3f}"
        elif a == "HOLD":
            reason = f"score {score:.3f} in borderline band {hold_low:.3f}–{ng_from:.3f}"
        else:
            reason = f"score {score:.3f} at or above {ng_from:.3f}"
        by = at = note = defect = None
        if reviewed[i]:
            by, at = who[i], rev_txt[i]
            defect = DEFECTS[defect_idx[i]] if f == "NG" else None
            note = "cosmetic mark, within specification" if (a == "NG" and f == "OK") else None
            action = AuditAction.REVIEW if a == "HOLD" else AuditAction.OVERRIDE
            audits.append(AuditRequest(by, action, part_subject(s), a, f, note or "", _dt(captured[i] + review_delay[i])))
        elif timed_out[i]:
            by, at = TIMEOUT_REVIEWER, rev_txt[i]
            note = "not reviewed within 300 s: recipe default NG applied"
            audits.append(AuditRequest(TIMEOUT_REVIEWER, AuditAction.REVIEW, part_subject(s), "HOLD", "NG",
                                       "HOLD not reviewed in time: the recipe's default verdict was applied",
                                       _dt(captured[i] + 300.0)))
        rows.append((s, None, f"L{int(captured[i] // 14400) % 100000:05d}", cap_txt[i], float(offsets[i]),
                     dec_txt[i], era.recipe, era.model_name, era.sha256, era.threshold_version, "onnxruntime-cpu",
                     CAMERA, 5000.0, 0.0, score, None if score is None else round(float(infer[i]), 2), a, f, reason,
                     round(float(latency[i]), 2), by, at, note, defect, "delivered", plc_txt[i]))
    conn.executemany(_INSERT, rows)
    conn.executemany(_INSERT_REGION, _regions(rng, era, first_seq, scores, auto, defect_idx))
    for request in audits:
        append_entry(conn, request)
    return n


def _dt(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(float(epoch_s), timezone.utc)


def _regions(rng: np.random.Generator, era: ModelEra, first_seq: int, scores: np.ndarray, auto: np.ndarray,
             defect_idx: np.ndarray) -> list[tuple]:
    """One to three regions on every NG and HOLD part; a detector names the class, an anomaly model does not."""
    out = []
    for i in np.flatnonzero((auto == "NG") | (auto == "HOLD")):
        count = 1 + int(rng.random() < 0.3) + int(rng.random() < 0.1)
        for idx in range(count):
            w, h = (int(v) for v in rng.integers(6, 60, 2))
            x, y = (int(v) for v in rng.integers(16, 320, 2))
            area = int(w * h * rng.uniform(0.4, 0.8))
            peak = round(float(scores[i]) * (1.0 if idx == 0 else rng.uniform(0.85, 0.99)), 4)
            if era.kind == "yolo_detect":
                label = DEFECTS[int(defect_idx[i])] if idx == 0 else DEFECTS[int(rng.integers(0, len(DEFECTS)))]
                out.append((first_seq + int(i), idx, x, y, w, h, area, peak, label, round(peak, 3)))
            else:
                out.append((first_seq + int(i), idx, x, y, w, h, area, peak, "anomaly", None))
    return out


def _alarm_events(conn: sqlite3.Connection, t0: float) -> None:
    """The alarms of the week: each raised, cleared and acknowledged by whoever was on shift."""
    rows = []
    spans = [(s.start_h, s.minutes, s.alarm, s.message) for s in STOPS] + list(WARNINGS)
    for start_h, minutes, alarm, message in spans:
        code, priority = alarm.code, alarm.priority
        raised = t0 + start_h * 3600.0 - 2.0
        cleared = raised + minutes * 60.0 + 4.0
        ack = raised + min(90.0, minutes * 30.0)
        for at, event, user in ((raised, "raised", None), (ack, "acknowledged", "anna"), (cleared, "cleared", None)):
            rows.append((iso_utc(_dt(at)), code, event, int(priority), message, user))
    rows.sort()
    conn.executemany("INSERT INTO alarm_events (at, code, event, priority, message, user) VALUES (?, ?, ?, ?, ?, ?)",
                     rows)

