"""A shift's figures from the records: verdicts, yield, Pareto, overrides, hourly chart, scores, model health, stops.

Built for 300 000 parts a shift in well under 2 s: one grouped pass over the shift's rows for the
counts (per minute, so hours and stops come from it too), one grouped pass per model for the score
histograms (bins computed in SQL), and small index look-ups for the rest. Everything runs in one
read transaction on the reports' own read-only connection.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from hmi.core.verdict import Verdict
from hmi.reports.connection import has_table, snapshot
from hmi.reports.drift import Binned, DriftCheck, binned, compare
from hmi.reports.models import ModelBaselines
from hmi.reports.shifts import ShiftCalendar, ShiftWindow
from hmi.store.database import iso_utc

HISTOGRAM_BINS = 48
MIN_STOP_S = 120.0       # a pause shorter than this is normal line behaviour, not a stop
SYSTEM_USER = "system"   # who the records name when a HOLD timed out and the recipe's default applied
_ALARM_LOOKBACK = timedelta(days=2)


@dataclass(frozen=True)
class VerdictTally:
    """Parts per verdict."""

    ok: int = 0
    ng: int = 0
    hold: int = 0
    not_inspected: int = 0

    @property
    def total(self) -> int:
        """All parts."""
        return self.ok + self.ng + self.hold + self.not_inspected

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
    with snapshot(conn):
        minutes, tally, auto, operators, timed_out = _main_pass(conn, window, model_sha256)
        models = _models_in(conn, window, model_sha256)
        distributions, health, notes = [], [], []
        for m in models:
            dist, good, auto_ng, ng_to_ok = _distribution(conn, m)
            distributions.append(dist)
            drift, note = _drift(conn, m, dist, good, window, calendar, baselines)
            if note:
                notes.append(note)
            health.append(ModelHealth(m.name, m.sha256, m.parts, auto_ng, ng_to_ok, drift))
        pareto = _pareto(conn, window, model_sha256)
        alarms = _alarms(conn, window)
        stops = _stops(conn, window, until, minutes, alarms, min_stop_s)
        recipes = tuple(sorted({m.recipe for m in models}))
        head = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    return ShiftReport(window, model_sha256, now, until, tally, auto, _hours(window, minutes), pareto,
                       operators, timed_out, tuple(distributions), tuple(health), alarms, stops, recipes,
                       time.perf_counter() - started, tuple(notes), (int(head[0]), head[1]) if head else None)


# --- the grouped pass ------------------------------------------------------------------------------

@dataclass
class _Minute:
    parts: int = 0
    ok: int = 0
    rejects: int = 0
    hold: int = 0


def _range(window: ShiftWindow, model_sha256: str | None, alias: str = "") -> tuple[str, list]:
    p = f"{alias}." if alias else ""
    sql = f"{p}captured_at >= ? AND {p}captured_at < ?"
    args: list = [window.start_text, window.end_text]
    if model_sha256:
        sql += f" AND {p}model_sha256 = ?"
        args.append(model_sha256)
    return sql, args


def _main_pass(conn: sqlite3.Connection, window: ShiftWindow, model_sha256: str | None):
    """Counts per minute, verdicts final and automatic, and who changed which verdict, in one pass."""
    where, args = _range(window, model_sha256)
    rows = conn.execute(
        "SELECT substr(captured_at, 1, 16), auto_verdict, verdict, reviewed_by, count(*) "
        f"FROM inspections WHERE {where} GROUP BY 1, 2, 3, 4", args).fetchall()
    minutes: dict[str, _Minute] = defaultdict(_Minute)
    final: Counter[str] = Counter()
    auto: Counter[str] = Counter()
    people: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    timed_out = 0
    for minute, a, v, who, n in rows:
        m = minutes[minute]
        m.parts += n
        m.ok += n if v == "OK" else 0
        m.rejects += n if v in ("NG", "NOT_INSPECTED") else 0
        m.hold += n if v == "HOLD" else 0
        final[v] += n
        auto[a] += n
        if who is None:
            continue
        if who == SYSTEM_USER and a == "HOLD":
            timed_out += n
            continue
        tally = people[who]
        if a == "HOLD":
            tally[0] += n
        elif v != a:
            tally[1] += n
            tally[2 if v == "OK" else 3] += n
    operators = tuple(sorted((OperatorFigures(u, *t) for u, t in people.items()), key=lambda o: (-o.total, o.user)))
    return dict(minutes), VerdictTally.from_counts(final), VerdictTally.from_counts(auto), operators, timed_out


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


# --- models and score distributions ----------------------------------------------------------------

@dataclass(frozen=True)
class _ModelSpan:
    sha256: str
    name: str
    recipe: str
    threshold_version: int | None
    first: str
    last: str
    parts: int


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
        parts = conn.execute("SELECT count(*) FROM inspections WHERE model_sha256 = ? AND captured_at >= ? "
                             "AND captured_at <= ?", (sha, first[0], last)).fetchone()[0]
        spans.append(_ModelSpan(sha, name, first[1], first[2], first[0], last, int(parts)))
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


def _edges(conn: sqlite3.Connection, m: _ModelSpan, threshold: float | None) -> tuple[float, ...]:
    """Bins from just below the good parts to as far above the threshold; outliers go to the end bins."""
    sample = np.array([r[0] for r in conn.execute(
        "SELECT score FROM inspections WHERE model_sha256 = ? AND captured_at >= ? AND score IS NOT NULL "
        "ORDER BY captured_at LIMIT 4000", (m.sha256, m.first))], float)
    if sample.size == 0:
        sample = np.array([0.0, 1.0])
    base = float(np.percentile(sample, 0.5))
    top = threshold if threshold is not None else float(np.percentile(sample, 99.5))
    if top <= base:
        top = base + max(1e-6, abs(base) * 0.1)
    lo = base - 0.25 * (top - base)
    if sample.min() >= 0.0:
        lo = max(lo, 0.0)
    hi = top + 0.6 * (top - lo)
    return tuple(float(x) for x in np.linspace(lo, hi, HISTOGRAM_BINS + 1))


def _distribution(conn: sqlite3.Connection, m: _ModelSpan) -> tuple[ScoreDistribution, Binned, int, int]:
    """The model's score histogram (good, rejected, held) plus its automatic NG parts and those overruled to OK."""
    threshold = _threshold(conn, m.recipe, m.threshold_version)
    edges = _edges(conn, m, threshold)
    lo, width = edges[0], (edges[-1] - edges[0]) / HISTOGRAM_BINS
    # Bin in SQL (bin = floor((score - lo) / width), clamped) so 300 000 scores never leave SQLite.
    rows = conn.execute(
        "SELECT auto_verdict = 'NG', verdict, "
        f"min(max(CAST((score - ?) / ? AS INTEGER), 0), {HISTOGRAM_BINS - 1}), count(*) FROM inspections "
        "WHERE captured_at >= ? AND captured_at <= ? AND model_sha256 = ? AND score IS NOT NULL GROUP BY 1, 2, 3",
        (lo, width, m.first, m.last, m.sha256)).fetchall()
    counts = np.zeros((3, HISTOGRAM_BINS), int)
    auto_ng = ng_to_ok = 0
    for was_ng, verdict, b, n in rows:
        kind = 0 if verdict == "OK" else 2 if verdict == "HOLD" else 1
        counts[kind, int(b)] += int(n)
        if was_ng:
            auto_ng += int(n)
            ng_to_ok += int(n) if verdict == "OK" else 0
    dist = ScoreDistribution(m.name, m.sha256, threshold, edges, tuple(int(x) for x in counts[0]),
                             tuple(int(x) for x in counts[1]), tuple(int(x) for x in counts[2]))
    return dist, Binned(edges, dist.good), auto_ng, ng_to_ok


def _drift(conn: sqlite3.Connection, m: _ModelSpan, dist: ScoreDistribution, good: Binned, window: ShiftWindow,
           calendar: ShiftCalendar | None, baselines: ModelBaselines | None) -> tuple[DriftCheck | None, str]:
    """Against the teach-time held-out scores when the package has them, else against the model's first shift."""
    if baselines is not None:
        held = baselines.heldout_scores(m.sha256)
        if held:
            return compare(good, binned(held, dist.edges), f"the {len(held)} held-out good images it was taught with"), ""
    if calendar is None:
        return None, f"Model {m.name}: no teach-time scores and no shift calendar, so no drift check."
    row = conn.execute("SELECT captured_at FROM inspections WHERE model_sha256 = ? ORDER BY captured_at LIMIT 1",
                       (m.sha256,)).fetchone()
    first_seen = datetime.fromisoformat(row[0].replace("Z", "+00:00"))
    first = calendar.containing(first_seen) or window
    note = f"Model {m.name} {m.sha256[:12]}: its package holds no teach-time scores; drift is judged against its first shift."
    if first.start == window.start:
        return None, note + " This is that shift, so it is the baseline."
    lo, width = dist.edges[0], (dist.edges[-1] - dist.edges[0]) / HISTOGRAM_BINS
    rows = conn.execute(
        f"SELECT min(max(CAST((score - ?) / ? AS INTEGER), 0), {HISTOGRAM_BINS - 1}), count(*) FROM inspections "
        "WHERE captured_at >= ? AND captured_at < ? AND model_sha256 = ? AND verdict = 'OK' AND score IS NOT NULL "
        "GROUP BY 1", (lo, width, first.start_text, first.end_text, m.sha256)).fetchall()
    counts = np.zeros(HISTOGRAM_BINS, int)
    for b, n in rows:
        counts[int(b)] += int(n)
    base = Binned(dist.edges, tuple(int(x) for x in counts))
    return compare(good, base, f"its first shift ({first.name} {first.day.isoformat()})"), note


# --- Pareto, alarms, stops -------------------------------------------------------------------------

def _pareto(conn: sqlite3.Connection, window: ShiftWindow, model_sha256: str | None) -> tuple[DefectCount, ...]:
    """Rejects by kind: the reviewer's defect type, else the detector's class of the largest region."""
    where, args = _range(window, model_sha256, "i")
    rows = conn.execute(
        "SELECT i.verdict, i.defect_type, r.label, count(*) FROM inspections AS i "
        "LEFT JOIN regions AS r ON r.seq = i.seq AND r.idx = 0 "
        f"WHERE i.verdict IN ('NG', 'NOT_INSPECTED') AND {where} GROUP BY 1, 2, 3", args).fetchall()
    kinds: Counter[str] = Counter()
    for verdict, defect, region_label, n in rows:
        if verdict == "NOT_INSPECTED":
            kinds["not inspected"] += n
        elif defect:
            kinds[defect] += n
        elif region_label and region_label != "anomaly":
            kinds[region_label] += n
        else:
            kinds["not classified"] += n
    total = sum(kinds.values())
    out, running = [], 0
    for defect, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])):
        running += n
        out.append(DefectCount(defect, n, n / total, running / total))
    return tuple(out)


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
        ("HOLD (not yet reviewed)", f"{t.hold:,}"),
        ("NOT INSPECTED", f"{t.not_inspected:,}"),
        ("First-pass yield", _pct(report.first_pass_yield)),
        ("Final yield", _pct(report.final_yield)),
        ("HOLD reviewed / timed out", f"{report.reviews:,} / {report.timed_out:,}"),
        ("Overrides (rate)", f"{report.overrides:,} ({_pct(report.override_rate)})"),
        ("Parts per hour", "—" if math.isnan(report.parts_per_hour) else f"{report.parts_per_hour:,.0f}"),
        ("Downtime", f"{report.downtime_s / 60:.1f} min in {len(report.stops)} stop(s)"),
        ("Alarms", f"{len(report.alarms)}"),
    ]
