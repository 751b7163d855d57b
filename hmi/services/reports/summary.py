"""A shift's figures from the records: verdicts, yield, Pareto, overrides, hourly chart, scores, model health, stops.

Built for 300 000 parts a shift in well under 2 s: ONE grouped pass over the shift's rows (read as a
run of table pages by record number) gives every count at once: per minute (so hours and stops come
from it too), per verdict, person, reject kind, model and score bin (bins computed in SQL). The rest
are small index look-ups. A model's bin scale and its first shift's histogram (the drift baseline
when its package holds no teach-time scores) are history, so they are read once and kept in memory.
It runs on the reports' own read-only connection, an hour of rows per statement, so no read holds
the write-ahead log back for long.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

from hmi.core.messages import TIMEOUT_REVIEWER
from hmi.core.verdict import Verdict
from hmi.pipeline.outlet import VerdictCounts
from hmi.services.reports.connection import has_table
from hmi.services.reports.drift import Binned, DriftCheck, binned, compare
from hmi.services.reports.models import ModelBaselines
from hmi.services.reports.shifts import ShiftCalendar, ShiftWindow
from hmi.store.database import iso_utc

HISTOGRAM_BINS = 48
MIN_STOP_S = 120.0       # a pause shorter than this is normal line behaviour, not a stop
_ALARM_LOOKBACK = timedelta(days=2)


@dataclass(frozen=True)
class VerdictTally(VerdictCounts):
    """Parts per verdict (the station's counters, read back from the records)."""

    @property
    def rejects(self) -> int:
        """NG and NOT INSPECTED: parts that left the line as bad."""
        return self.ng + self.not_inspected

    def of(self, verdict: Verdict) -> int:
        """The count of one verdict."""
        return {Verdict.OK: self.ok, Verdict.NG: self.ng, Verdict.HOLD: self.hold,
                Verdict.NOT_INSPECTED: self.not_inspected}[verdict]

    @classmethod
    def from_counts(cls, counts: dict[str, int]) -> "VerdictTally":
        """From {'OK': n, 'NG': n, ...} as stored."""
        return cls(counts.get("OK", 0), counts.get("NG", 0), counts.get("HOLD", 0), counts.get("NOT_INSPECTED", 0))


@dataclass(frozen=True)
class HourFigures:
    """One hour of the shift: parts, good parts, rejects, still held; starts at `start` (UTC)."""

    start: datetime
    label: str
    parts: int
    ok: int
    rejects: int
    hold: int

    @property
    def yield_pct(self) -> float:
        """Final OK parts per part, in percent (NaN for an hour without parts)."""
        return 100.0 * self.ok / self.parts if self.parts else math.nan


@dataclass(frozen=True)
class DefectCount:
    """One bar of the Pareto: rejects of this kind, their share of all rejects and the running share."""

    defect: str
    parts: int
    share: float
    cumulative: float


@dataclass(frozen=True)
class OperatorFigures:
    """What one person did to verdicts this shift."""

    user: str
    reviews: int      # HOLD parts given a verdict
    overrides: int    # automatic OK / NG / NOT INSPECTED changed
    to_ok: int        # of the overrides: changed to OK (the model's rejects they judged good)
    to_ng: int

    @property
    def total(self) -> int:
        """Verdicts this person set."""
        return self.reviews + self.overrides


@dataclass(frozen=True)
class ScoreDistribution:
    """Histogram of one model's scores this shift: good parts, rejected parts and held parts on the same bins."""

    model_name: str
    model_sha256: str
    threshold: float | None
    edges: tuple[float, ...]
    good: tuple[int, ...]
    rejected: tuple[int, ...]
    held: tuple[int, ...]


@dataclass(frozen=True)
class ModelHealth:
    """One model version in the shift: its parts, drift of its good-part scores, overrides as false rejects."""

    model_name: str
    model_sha256: str
    parts: int
    auto_ng: int
    ng_to_ok: int
    drift: DriftCheck | None

    @property
    def false_reject_rate(self) -> float:
        """Share of the model's automatic NG verdicts that a person overruled to OK (a proxy for false rejects)."""
        return self.ng_to_ok / self.auto_ng if self.auto_ng else math.nan


@dataclass(frozen=True)
class AlarmSpan:
    """An alarm that was active during the shift (times UTC; cleared None = still active at the end)."""

    code: str
    priority: int
    message: str
    raised_at: datetime
    cleared_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None

    def active_s(self, start: datetime, end: datetime) -> float:
        """Seconds it was active inside [start, end)."""
        a = max(self.raised_at, start)
        b = min(self.cleared_at or end, end)
        return max(0.0, (b - a).total_seconds())


@dataclass(frozen=True)
class Stop:
    """A time without parts, from the last part before to the first part after, and the alarms active then."""

    start: datetime
    end: datetime
    alarms: tuple[str, ...]

    @property
    def seconds(self) -> float:
        """Length of the stop."""
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class ShiftReport:
    """Everything a quality manager reads about one shift (optionally only the parts of one model version)."""

    window: ShiftWindow
    model_sha256: str | None
    built_at: datetime
    until: datetime
    tally: VerdictTally
    auto_tally: VerdictTally
    hourly: tuple[HourFigures, ...]
    pareto: tuple[DefectCount, ...]
    operators: tuple[OperatorFigures, ...]
    timed_out: int
    distributions: tuple[ScoreDistribution, ...]
    models: tuple[ModelHealth, ...]
    alarms: tuple[AlarmSpan, ...]
    stops: tuple[Stop, ...]
    recipes: tuple[str, ...]
    build_s: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)
    audit_head: tuple[int, str] | None = None  # newest audit entry (id, hash) when the report was built
    decided_after_end: int = 0  # held parts decided after the shift's end: counted as HOLD open at the end

    @property
    def closed(self) -> bool:
        """True once the shift is over: its figures are as they stood at its end and no longer change."""
        return self.until >= self.window.end

    @property
    def title(self) -> str:
        """'Early 2024-05-01, 06:00–14:00 Europe/Berlin' (and the model when the report is of one model)."""
        if self.model_sha256:
            name = next((m.model_name for m in self.models), "")
            return f"{self.window.label} — model {name} {self.model_sha256[:12]}"
        return self.window.label

    @property
    def parts(self) -> int:
        """Parts captured in the shift."""
        return self.tally.total

    @property
    def first_pass_yield(self) -> float:
        """Share of parts the station judged OK by itself, without review or rework (percent)."""
        return 100.0 * self.auto_tally.ok / self.parts if self.parts else math.nan

    @property
    def final_yield(self) -> float:
        """Share of parts whose final verdict is OK, after reviews and overrides (percent)."""
        return 100.0 * self.tally.ok / self.parts if self.parts else math.nan

    @property
    def overrides(self) -> int:
        """Automatic verdicts (not HOLD) that a person changed."""
        return sum(o.overrides for o in self.operators)

    @property
    def reviews(self) -> int:
        """HOLD parts a person gave a verdict."""
        return sum(o.reviews for o in self.operators)

    @property
    def override_rate(self) -> float:
        """Overrides per automatically decided part (OK, NG, NOT INSPECTED), percent."""
        decided = self.parts - self.auto_tally.hold
        return 100.0 * self.overrides / decided if decided else math.nan

    @property
    def downtime_s(self) -> float:
        """Seconds of stops in the shift."""
        return sum(s.seconds for s in self.stops)

    @property
    def run_hours(self) -> float:
        """Hours the shift has run so far (the whole shift once it is over)."""
        return max(0.0, (self.until - self.window.start).total_seconds() / 3600.0)

    @property
    def parts_per_hour(self) -> float:
        """Mean throughput over the hours run, stops included."""
        return self.parts / self.run_hours if self.run_hours > 0 else math.nan


def build_report(conn: sqlite3.Connection, window: ShiftWindow, *, model_sha256: str | None = None,
                 calendar: ShiftCalendar | None = None, baselines: ModelBaselines | None = None,
                 now: datetime | None = None, min_stop_s: float = MIN_STOP_S) -> ShiftReport:
    """The report of `window` from the records on `conn` (a reports connection); only one model's parts if given.

    `calendar` finds a model's first shift when its package holds no teach-time scores (drift
    baseline); `baselines` finds the teach-time scores in the model packages.
    """
    started = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    until = min(window.end, max(now, window.start))
    # No read transaction around the whole report: each statement reads its own snapshot and the
    # longest is one hour's grouped query, so the writer's checkpoints are never held back for long.
    plans = [_plan(conn, m) for m in _models_in(conn, window, model_sha256)]
    shift = _one_pass(conn, window, model_sha256, plans)
    distributions, health, notes = [], [], []
    for i, plan in enumerate(plans):
        seen = shift.models.get(i)
        if seen is None:
            continue
        dist = ScoreDistribution(plan.span.name, plan.span.sha256, plan.threshold, plan.edges,
                                 *(tuple(int(x) for x in row) for row in seen.counts))
        distributions.append(dist)
        drift, note = _drift(conn, plan, Binned(plan.edges, dist.good), window, calendar, baselines)
        if note:
            notes.append(note)
        health.append(ModelHealth(plan.span.name, plan.span.sha256, seen.parts, seen.auto_ng, seen.ng_to_ok, drift))
    alarms = _alarms(conn, window)
    stops = _stops(conn, window, until, shift.minutes, alarms, min_stop_s)
    recipes = tuple(sorted({p.span.recipe for p in plans}))
    if shift.late_holds:
        notes.append(f"Figures as they stood at the shift's end: {shift.late_holds:,} held part(s) decided after "
                     f"{window.local(window.end):%H:%M} (by a person or by the time limit) count as HOLD open.")
    head = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    return ShiftReport(window, model_sha256, now, until, shift.tally, shift.auto, _hours(window, shift.minutes),
                       shift.pareto, shift.operators, shift.timed_out, tuple(distributions), tuple(health), alarms,
                       stops, recipes, time.perf_counter() - started, tuple(notes),
                       (int(head[0]), head[1]) if head else None, shift.late_holds)


# --- models in the shift and their histogram bins -----------------------------------------------------

@dataclass(frozen=True)
class _ModelSpan:
    sha256: str
    name: str
    recipe: str
    threshold_version: int | None
    first: str
    last: str


@dataclass(frozen=True)
class _ModelPlan:
    """A model in the shift with the threshold in force and the bins its scores are counted in."""

    span: _ModelSpan
    threshold: float | None
    edges: tuple[float, ...]
    first_seen: datetime

    @property
    def lo(self) -> float:
        """Lower edge of the first bin."""
        return self.edges[0]

    @property
    def width(self) -> float:
        """Width of one bin."""
        return (self.edges[-1] - self.edges[0]) / HISTOGRAM_BINS


def known_models(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """Every model version in the records as (sha256, name), by walking the model index (no table scan)."""
    found, after = [], ""
    while True:
        row = conn.execute("SELECT model_sha256, model_name FROM inspections WHERE model_sha256 > ? "
                           "ORDER BY model_sha256 LIMIT 1", (after,)).fetchone()
        if row is None:
            return found
        found.append((row[0], row[1] or "?"))
        after = row[0]


def _models_in(conn: sqlite3.Connection, window: ShiftWindow, model_sha256: str | None) -> list[_ModelSpan]:
    """The model versions that judged parts in the shift, each from two look-ups in the model index."""
    spans = []
    for sha, name in known_models(conn):
        if model_sha256 and sha != model_sha256:
            continue
        args = (sha, window.start_text, window.end_text)
        first = conn.execute("SELECT captured_at, recipe, threshold_version FROM inspections WHERE model_sha256 = ? "
                             "AND captured_at >= ? AND captured_at < ? ORDER BY captured_at LIMIT 1", args).fetchone()
        if first is None:
            continue
        last = conn.execute("SELECT captured_at FROM inspections WHERE model_sha256 = ? AND captured_at >= ? "
                            "AND captured_at < ? ORDER BY captured_at DESC LIMIT 1", args).fetchone()[0]
        spans.append(_ModelSpan(sha, name, first[1], first[2], first[0], last))
    return sorted(spans, key=lambda s: s.first)


def _threshold(conn: sqlite3.Connection, recipe: str, version: int | None) -> float | None:
    if version is None:
        return None
    row = conn.execute('SELECT "values" FROM threshold_sets WHERE recipe = ? AND version = ?',
                       (recipe, int(version))).fetchone()
    if row is None:
        return None
    try:
        return float(json.loads(row[0])["score"])
    except (ValueError, KeyError, TypeError):
        return None


def _plan(conn: sqlite3.Connection, span: _ModelSpan) -> _ModelPlan:
    threshold = _threshold(conn, span.recipe, span.threshold_version)
    first_seen, (base, top, nonneg) = _model_scale(conn, span.sha256)
    return _ModelPlan(span, threshold, _edges(base, top, nonneg, threshold), first_seen)


def _model_scale(conn: sqlite3.Connection, sha256: str) -> tuple[datetime, tuple[float, float, bool]]:
    """When the model judged its first part, and the spread of its first scores (cached: history does not change).

    Taking the scale from the model's first parts, not from each shift's, keeps a model's bins the
    same in every shift: its histograms can be set side by side and its first shift's counts cached.
    """
    first = conn.execute("SELECT captured_at FROM inspections WHERE model_sha256 = ? ORDER BY captured_at LIMIT 1",
                         (sha256,)).fetchone()[0]
    key = (_database_key(conn), sha256, first)
    with _CACHE_LOCK:
        scale = _SCALES.get(key)
    if scale is None:
        sample = np.array([r[0] for r in conn.execute(
            "SELECT score FROM inspections WHERE model_sha256 = ? AND captured_at >= ? AND score IS NOT NULL "
            "ORDER BY captured_at LIMIT 4000", (sha256, first))], float)
        if sample.size == 0:
            sample = np.array([0.0, 1.0])
        scale = (float(np.percentile(sample, 0.5)), float(np.percentile(sample, 99.5)), bool(sample.min() >= 0.0))
        with _CACHE_LOCK:
            _SCALES[key] = scale
    return _when(first), scale  # type: ignore[return-value]


def _edges(base: float, top: float, nonneg: bool, threshold: float | None) -> tuple[float, ...]:
    """Bins from just below the good parts to as far above the threshold; outliers go to the end bins."""
    if threshold is not None:
        top = threshold
    if top <= base:
        top = base + max(1e-6, abs(base) * 0.1)
    lo = base - 0.25 * (top - base)
    if nonneg:
        lo = max(lo, 0.0)
    hi = top + 0.6 * (top - lo)
    return tuple(float(x) for x in np.linspace(lo, hi, HISTOGRAM_BINS + 1))


def _database_key(conn: sqlite3.Connection) -> tuple[str, int]:
    """Which records file `conn` reads (path and inode), so caches never mix two databases."""
    path = next((r[2] for r in conn.execute("PRAGMA database_list") if r[1] == "main"), "")
    try:
        return path, os.stat(path).st_ino
    except OSError:
        return path, 0


# Caches over history that cannot change: a model's first scores, and the good-part histogram of its
# first shift in given bins. Small (a few floats / 48 counts per model version).
_SCALES: dict[tuple, tuple[float, float, bool]] = {}
_FIRST_SHIFT: dict[tuple, Binned] = {}
_CACHE_LOCK = threading.Lock()


# --- the one pass over the shift's rows -------------------------------------------------------------

@dataclass
class _Minute:
    parts: int = 0
    ok: int = 0
    rejects: int = 0
    hold: int = 0


@dataclass
class _ModelCounts:
    parts: int = 0
    auto_ng: int = 0
    ng_to_ok: int = 0
    counts: np.ndarray = field(default_factory=lambda: np.zeros((3, HISTOGRAM_BINS), int))  # good, rejected, held


@dataclass
class _ShiftCounts:
    minutes: dict[str, _Minute]
    tally: VerdictTally
    auto: VerdictTally
    operators: tuple[OperatorFigures, ...]
    timed_out: int
    pareto: tuple[DefectCount, ...]
    models: dict[int, _ModelCounts]
    late_holds: int = 0


def seq_range(conn: sqlite3.Connection, start: str, end: str) -> tuple[int, int] | None:
    """First and last record number captured in [start, end), from the time index alone (None when empty).

    The records are numbered as they are written, so a shift's rows lie together in the table: the
    pass reads them as one run of pages instead of looking each one up through the time index.
    """
    row = conn.execute("SELECT min(seq), max(seq) FROM inspections WHERE captured_at >= ? AND captured_at < ?",
                       (start, end)).fetchone()
    return None if row[0] is None else (int(row[0]), int(row[1]))


# A grouped row's cell packs model, automatic and final verdict and score bin into one integer
# (cell = ((model * 4 + auto) * 4 + final) * 64 + bin): the pass sorts small keys, which is most of its cost.
_VERDICT_CODES = ("OK", "NG", "HOLD", "NOT_INSPECTED")
_NO_BIN = 63  # no score (NOT INSPECTED) or no model; HISTOGRAM_BINS must stay below it


def _verdict_code(column: str) -> str:
    return f"(CASE {column} " + " ".join(f"WHEN '{v}' THEN {i}" for i, v in enumerate(_VERDICT_CODES[:3])) + " ELSE 3 END)"


def _hour_slices(window: ShiftWindow) -> list[tuple[str, str]]:
    """The shift cut into hours from its start (the last one shorter on a 7- or 9-hour night)."""
    slices, at = [], window.start
    while at < window.end:
        nxt = min(at + timedelta(hours=1), window.end)
        slices.append((iso_utc(at), iso_utc(nxt)))
        at = nxt
    return slices  # type: ignore[return-value]


def _one_pass(conn: sqlite3.Connection, window: ShiftWindow, model_sha256: str | None,
              plans: list[_ModelPlan]) -> _ShiftCounts:
    """Every count of the report from one grouped read of the shift's rows, an hour per statement.

    Grouped by minute (hours, stops), model, automatic and final verdict (tallies, overrides), the
    person who set it, the kind of reject (Pareto) and the score bin of that model (histograms). The
    reject kind is the reviewer's defect type, else the class of the largest detected region (looked
    up only for NG parts). Grouping and binning run inside SQLite, which lets other threads run. Each
    hour is its own statement, so no read lasts long enough to keep the write-ahead log from being
    folded back, even when the report thread gets little CPU.
    """
    head: list = []
    model_case, bin_case = str(len(plans)), str(_NO_BIN)
    if plans:
        model_case = "CASE model_sha256 " + " ".join("WHEN ? THEN %d" % i for i in range(len(plans))) + f" ELSE {len(plans)} END"
        head += [p.span.sha256 for p in plans]
        clamp = f"min(max(CAST((score - ?) / ? AS INTEGER), 0), {HISTOGRAM_BINS - 1})"
        bin_case = "coalesce(CASE model_sha256 " + " ".join(f"WHEN ? THEN {clamp}" for _ in plans) + f" END, {_NO_BIN})"
        for p in plans:
            head += [p.span.sha256, p.lo, p.width]
    where = "seq BETWEEN ? AND ? AND captured_at >= ? AND captured_at < ?"
    if model_sha256:
        where += " AND model_sha256 = ?"
    cell = f"((({model_case}) * 4 + {_verdict_code('auto_verdict')}) * 4 + {_verdict_code('verdict')}) * 64 + {bin_case}"
    # A held part decided after the shift's end (reviewed late, or its time limit ran out then) counts as
    # it stood at the end: HOLD, open. So a closed shift's figures stay as they were when it closed.
    late = "(auto_verdict = 'HOLD' AND reviewed_at >= ?)"
    rows_of_shift = (f"(SELECT seq, captured_at, model_sha256, score, auto_verdict, defect_type, "
                     f"CASE WHEN {late} THEN 'HOLD' ELSE verdict END AS verdict, "
                     f"CASE WHEN {late} THEN NULL ELSE reviewed_by END AS reviewed_by, {late} AS late "
                     f"FROM inspections WHERE {where})")
    sql = (f"SELECT substr(captured_at, 1, 16), {cell}, reviewed_by, "
           "CASE WHEN verdict = 'NG' THEN coalesce(nullif(defect_type, ''), "
           "(SELECT label FROM regions AS r WHERE r.seq = i.seq AND r.idx = 0)) END, late, "
           f"count(*) FROM {rows_of_shift} AS i GROUP BY 1, 2, 3, 4, 5")
    rows: list = []
    for start, end in _hour_slices(window):
        seqs = seq_range(conn, start, end)
        if seqs is None:
            continue
        args = [*head, *[window.end_text] * 3, seqs[0], seqs[1], start, end] + ([model_sha256] if model_sha256 else [])
        rows += conn.execute(sql, args).fetchall()
    return _tally(rows, len(plans))


def _tally(rows: list, models_planned: int) -> _ShiftCounts:
    """Fold the grouped rows into the report's counts."""
    minutes: dict[str, _Minute] = defaultdict(_Minute)
    final: Counter[str] = Counter()
    auto: Counter[str] = Counter()
    people: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    kinds: Counter[str] = Counter()
    models: dict[int, _ModelCounts] = {}
    timed_out = late_holds = 0
    for minute, cell, who, kind, late, n in rows:
        late_holds += n if late else 0
        b, pair, model = cell % 64, (cell // 64) % 16, cell // 1024
        a, v = _VERDICT_CODES[pair // 4], _VERDICT_CODES[pair % 4]
        m = minutes[minute]
        m.parts += n
        m.ok += n if v == "OK" else 0
        m.rejects += n if v in ("NG", "NOT_INSPECTED") else 0
        m.hold += n if v == "HOLD" else 0
        final[v] += n
        auto[a] += n
        if v == "NOT_INSPECTED":
            kinds["not inspected"] += n
        elif v == "NG":
            kinds[kind if kind and kind != "anomaly" else "not classified"] += n
        if model < models_planned:
            mc = models.setdefault(model, _ModelCounts())
            mc.parts += n
            if a == "NG":
                mc.auto_ng += n
                mc.ng_to_ok += n if v == "OK" else 0
            if b != _NO_BIN:
                mc.counts[0 if v == "OK" else 2 if v == "HOLD" else 1, b] += n
        if who is None:
            continue
        if who == TIMEOUT_REVIEWER and a == "HOLD":
            timed_out += n
            continue
        tally = people[who]
        if a == "HOLD":
            tally[0] += n
        elif v != a:
            tally[1] += n
            tally[2 if v == "OK" else 3] += n
    operators = tuple(sorted((OperatorFigures(u, *t) for u, t in people.items()), key=lambda o: (-o.total, o.user)))
    return _ShiftCounts(dict(minutes), VerdictTally.from_counts(final), VerdictTally.from_counts(auto), operators,
                        timed_out, _pareto(kinds), models, late_holds)


def _pareto(kinds: Counter[str]) -> tuple[DefectCount, ...]:
    """Rejects by kind, largest first, with each kind's share and the running share."""
    total = sum(kinds.values())
    out, running = [], 0
    for defect, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])):
        running += n
        out.append(DefectCount(defect, n, n / total, running / total))
    return tuple(out)


def _hours(window: ShiftWindow, minutes: dict[str, _Minute]) -> tuple[HourFigures, ...]:
    """Hour buckets from the shift's start (local labels); a clock-change night has 7 or 9 of them."""
    count = max(1, math.ceil((window.end - window.start).total_seconds() / 3600.0 - 1e-9))
    buckets = [_Minute() for _ in range(count)]
    for text, m in minutes.items():
        at = datetime.fromisoformat(text + ":00+00:00")
        i = min(count - 1, max(0, int((at - window.start).total_seconds() // 3600)))
        b = buckets[i]
        b.parts += m.parts
        b.ok += m.ok
        b.rejects += m.rejects
        b.hold += m.hold
    out = []
    for i, b in enumerate(buckets):
        start = window.start + timedelta(hours=i)
        out.append(HourFigures(start, f"{window.local(start):%H:%M}", b.parts, b.ok, b.rejects, b.hold))
    return tuple(out)


# --- drift -----------------------------------------------------------------------------------------

def _drift(conn: sqlite3.Connection, plan: _ModelPlan, good: Binned, window: ShiftWindow,
           calendar: ShiftCalendar | None, baselines: ModelBaselines | None) -> tuple[DriftCheck | None, str]:
    """Against the teach-time held-out scores when the package has them, else against the model's first shift."""
    m = plan.span
    if baselines is not None:
        held = baselines.heldout_scores(m.sha256)
        if held:
            return compare(good, binned(held, plan.edges), f"the {len(held)} held-out good images it was taught with"), ""
    if calendar is None:
        return None, f"Model {m.name}: no teach-time scores and no shift calendar, so no drift check."
    first = calendar.containing(plan.first_seen) or window
    note = f"Model {m.name} {m.sha256[:12]}: its package holds no teach-time scores; drift is judged against its first shift."
    if first.start == window.start:
        return None, note + " This is that shift, so it is the baseline."
    return compare(good, _first_shift(conn, plan, first), f"its first shift ({first.name} {first.day.isoformat()})"), note


def _first_shift(conn: sqlite3.Connection, plan: _ModelPlan, first: ShiftWindow) -> Binned:
    """Good-part histogram of the model's first shift in the plan's bins; read once, then kept in memory."""
    key = (_database_key(conn), plan.span.sha256, first.start_text, first.end_text, plan.edges)
    with _CACHE_LOCK:
        cached = _FIRST_SHIFT.get(key)
    if cached is not None:
        return cached
    counts = np.zeros(HISTOGRAM_BINS, int)
    for start, end in _hour_slices(first):  # an hour per statement, as in the report's pass
        seqs = seq_range(conn, start, end)
        if seqs is None:
            continue
        rows = conn.execute(
            f"SELECT min(max(CAST((score - ?) / ? AS INTEGER), 0), {HISTOGRAM_BINS - 1}), count(*) FROM inspections "
            "WHERE seq BETWEEN ? AND ? AND captured_at >= ? AND captured_at < ? AND model_sha256 = ? "
            "AND verdict = 'OK' AND score IS NOT NULL GROUP BY 1",
            (plan.lo, plan.width, *seqs, start, end, plan.span.sha256)).fetchall()
        for b, n in rows:
            counts[int(b)] += int(n)
    base = Binned(plan.edges, tuple(int(x) for x in counts))
    if first.end <= datetime.now(timezone.utc):  # a finished shift no longer changes
        with _CACHE_LOCK:
            _FIRST_SHIFT[key] = base
    return base


# --- alarms, stops ---------------------------------------------------------------------------------

def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _alarms(conn: sqlite3.Connection, window: ShiftWindow) -> tuple[AlarmSpan, ...]:
    """Alarms active at any time in the shift, paired from their raise / acknowledge / clear events."""
    if not has_table(conn, "alarm_events"):
        return ()
    rows = conn.execute("SELECT at, code, event, priority, message, user FROM alarm_events WHERE at >= ? AND at < ? "
                        "ORDER BY at, id", (iso_utc(window.start - _ALARM_LOOKBACK), window.end_text)).fetchall()
    spans: list[dict] = []
    open_by_code: dict[str, dict] = {}
    for at, code, event, priority, message, user in rows:
        when = _when(at)
        if event == "raised":
            span = {"code": code, "priority": priority, "message": message, "raised_at": when, "cleared_at": None,
                    "acknowledged_by": None, "acknowledged_at": None}
            spans.append(span)
            open_by_code[code] = span
            continue
        span = open_by_code.get(code)
        if span is None:
            continue
        if event == "cleared":
            span["cleared_at"] = when
            open_by_code.pop(code, None)
        elif event == "acknowledged" and span["acknowledged_by"] is None:
            span["acknowledged_by"], span["acknowledged_at"] = user, when
    out = [AlarmSpan(**s) for s in spans
           if s["raised_at"] < window.end and (s["cleared_at"] is None or s["cleared_at"] > window.start)]
    return tuple(sorted(out, key=lambda a: a.raised_at))


def _stops(conn: sqlite3.Connection, window: ShiftWindow, until: datetime, minutes: dict[str, _Minute],
           alarms: tuple[AlarmSpan, ...], min_stop_s: float) -> tuple[Stop, ...]:
    """Runs of minutes without parts, widened to the last part before and the first part after."""
    if until <= window.start:
        return ()
    stops = []
    t = window.start.replace(second=0, microsecond=0)
    run_start: datetime | None = None
    while t < until:
        empty = minutes.get(t.strftime("%Y-%m-%dT%H:%M")) is None
        if empty and run_start is None:
            run_start = t
        if not empty and run_start is not None:
            stops.append(_widen(conn, window, until, run_start, t))
            run_start = None
        t += timedelta(minutes=1)
    if run_start is not None:
        stops.append(_widen(conn, window, until, run_start, until))
    out = []
    for a, b in stops:
        if (b - a).total_seconds() >= min_stop_s:
            codes = tuple(dict.fromkeys(s.code for s in alarms if s.raised_at < b and (s.cleared_at or until) > a))
            out.append(Stop(a, b, codes))
    return tuple(out)


def _widen(conn: sqlite3.Connection, window: ShiftWindow, until: datetime, a: datetime, b: datetime):
    before = conn.execute("SELECT max(captured_at) FROM inspections WHERE captured_at < ?", (iso_utc(a),)).fetchone()[0]
    after = conn.execute("SELECT min(captured_at) FROM inspections WHERE captured_at >= ?", (iso_utc(b),)).fetchone()[0]
    start = max(window.start, _when(before) or window.start)
    end = min(until, _when(after) or until)
    return start, end


def resolve_model_shift(conn: sqlite3.Connection, calendar: ShiftCalendar, sha256: str) -> ShiftWindow | None:
    """The last shift in which model version `sha256` judged parts (for comparing model versions)."""
    row = conn.execute("SELECT captured_at FROM inspections WHERE model_sha256 = ? ORDER BY captured_at DESC LIMIT 1",
                       (sha256,)).fetchone()
    if row is None:
        return None
    return calendar.containing(_when(row[0]))  # type: ignore[arg-type]


def _pct(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.2f} %"


def key_figures(report: ShiftReport) -> list[tuple[str, str]]:
    """The headline figures as (name, value) text, shared by the PDF and the screen."""
    t = report.tally
    parts = report.parts or 1
    return [
        ("Parts", f"{report.parts:,}"),
        ("OK", f"{t.ok:,} ({100 * t.ok / parts:.2f} %)"),
        ("NG", f"{t.ng:,} ({100 * t.ng / parts:.2f} %)"),
        ("HOLD open at the shift's end" if report.closed else "HOLD (not yet reviewed)", f"{t.hold:,}"),
        ("NOT INSPECTED", f"{t.not_inspected:,}"),
        ("First-pass yield", _pct(report.first_pass_yield)),
        ("Final yield", _pct(report.final_yield)),
        ("HOLD reviewed / timed out", f"{report.reviews:,} / {report.timed_out:,}"),
        ("Overrides (rate)", f"{report.overrides:,} ({_pct(report.override_rate)})"),
        ("Parts per hour", "—" if math.isnan(report.parts_per_hour) else f"{report.parts_per_hour:,.0f}"),
        ("Downtime", f"{report.downtime_s / 60:.1f} min in {len(report.stops)} stop(s)"),
        ("Alarms", f"{len(report.alarms)}"),
    ]
