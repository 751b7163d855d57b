"""Plant reports from the plant database: yield, rejects, defect Pareto, overrides, model health, replication freshness.

One read-only, repeatable-read transaction with a short statement timeout reads a time window (optionally
one line or one station). The figures come from ONE statement over the window's parts, aggregated inside
PostgreSQL: the monthly partitions of `parts` and `regions` are pruned to the window, the parts are
counted per cell (station, line, recipe, shift, model, automatic and final verdict, who set it, reject
kind: one plain GROUP BY, which may run in parallel), and every breakdown (plant, station, line, recipe,
shift, model, model per station, verdict pair, reject kind) is summed from those cells at once with
GROUPING SETS. Python receives a few hundred summary rows, never the parts. Freshness (each station's
newest part in the plant and its reported lag) is a small look-up per station on the
(station_id, captured_at) index. Time grows with the parts in the window, not with what else the
database holds (tools/plant_report_bench.py: a shift of a dozen stations in hundredths of a second).

`run_report_command` is `hmi plant report`: a text summary, one CSV and an A4 PDF (hmi.plant.report_pdf).
The CSV is ONE file, one row per figure line, its first column `table` naming the breakdown
(report, plant, station, line, recipe, shift, pareto, override, model, model_station, freshness); the
columns a table does not use are empty. Times in the CSV are ISO-8601 in the plant's time zone, with offset.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from hmi.config.schema import PlantConfig
from hmi.core.errors import ConfigError, StationError, StoreError
from hmi.core.messages import TIMEOUT_REVIEWER
from hmi.services.reports.summary import DefectCount

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

MAX_WINDOW = timedelta(days=366)
COMMAND_TIMEOUT_S = 60.0   # `hmi plant report`: the longest one statement may run
SCREEN_TIMEOUT_S = 20.0    # the reports screen's Plant scope
STALE_S = 120.0            # a station not heard from for this long is named in the freshness notes
_WHEN = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})(?:[ T]+(\d{1,2}:\d{2}(?::\d{2})?))?\s*$")


# --- the window -----------------------------------------------------------------------------------

def parse_when(text: str, tz: ZoneInfo, what: str) -> datetime:
    """'2026-12-01' or '2026-12-01 06:00[:00]' in the plant's time zone, as an aware UTC datetime."""
    m = _WHEN.match(text or "")
    if not m:
        raise ConfigError(f"{what} '{text}' is not a date or a date and time",
                          "write it as 2026-12-01 or '2026-12-01 06:00' (plant time)")
    try:
        day = date.fromisoformat(m.group(1))
        clock = datetime.strptime(m.group(2), "%H:%M:%S" if m.group(2).count(":") == 2 else "%H:%M").time() \
            if m.group(2) else datetime.min.time()
    except ValueError:
        raise ConfigError(f"{what} '{text}' is not a calendar date and time",
                          "write it as 2026-12-01 or '2026-12-01 06:00' (plant time)") from None
    return datetime.combine(day, clock, tzinfo=tz).astimezone(timezone.utc)


def report_window(start_text: str, end_text: str, tz_name: str) -> tuple[datetime, datetime]:
    """The [start, end) of `--from` / `--to` in UTC; refused plainly when empty, reversed or longer than a year."""
    tz = ZoneInfo(tz_name)
    start, end = parse_when(start_text, tz, "--from"), parse_when(end_text, tz, "--to")
    if end <= start:
        raise ConfigError(f"--to {end_text} is not after --from {start_text}",
                          "give an end later than the start (the end is not included)")
    if end - start > MAX_WINDOW:
        raise ConfigError(f"the window {start_text} to {end_text} is longer than a year",
                          "report at most a year at a time (366 days); for longer, make one report per year")
    return start, end


# --- the figures ----------------------------------------------------------------------------------

def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else math.nan


@dataclass(frozen=True)
class Figures:
    """Parts of one group by final and automatic verdict, with the people's reviews and overrides."""

    parts: int = 0
    ok: int = 0
    ng: int = 0
    hold: int = 0
    not_inspected: int = 0
    auto_ok: int = 0
    auto_ng: int = 0
    auto_hold: int = 0
    overrides: int = 0     # an automatic OK / NG / NOT INSPECTED changed by a person
    reviews: int = 0       # a HOLD part given its verdict by a person
    timed_out: int = 0     # a HOLD part given the default verdict when its review time ran out
    ng_to_ok: int = 0      # automatic NG a person overruled to OK
    mean_score: float | None = None

    @property
    def rejects(self) -> int:
        """NG and NOT INSPECTED: parts that left the line as bad."""
        return self.ng + self.not_inspected

    @property
    def first_pass_yield(self) -> float:
        """Parts the stations judged OK by themselves, percent of all (NaN without parts)."""
        return _pct(self.auto_ok, self.parts)

    @property
    def final_yield(self) -> float:
        """Parts whose final verdict is OK, after reviews and overrides, percent of all."""
        return _pct(self.ok, self.parts)

    @property
    def override_rate(self) -> float:
        """Overrides per automatically decided part (not HOLD), percent."""
        return _pct(self.overrides, self.parts - self.auto_hold)

    @property
    def hold_share(self) -> float:
        """Parts the model put in the borderline band around the threshold (automatic HOLD), percent."""
        return _pct(self.auto_hold, self.parts)

    @property
    def ng_overruled(self) -> float:
        """Share of automatic NG verdicts a person overruled to OK (a proxy for false rejects), percent."""
        return _pct(self.ng_to_ok, self.auto_ng)


@dataclass(frozen=True)
class Group:
    """One line of a breakdown: which parts (station, line, recipe, shift or model) and their figures."""

    figures: Figures
    station: str = ""
    line: str = ""
    recipe: str = ""
    shift: str = ""
    shift_start: datetime | None = None
    model_name: str = ""
    model_sha256: str = ""

    @property
    def model(self) -> str:
        """'demo-part c252ee26ef50', or 'no model (not inspected)' for parts judged without one."""
        if not self.model_sha256:
            return "no model (not inspected)"
        return f"{self.model_name} {self.model_sha256[:12]}".strip()


@dataclass(frozen=True)
class OverridePair:
    """Automatic verdicts a person changed from one verdict to another, and their share of all overrides."""

    auto_verdict: str
    verdict: str
    parts: int
    share: float


@dataclass(frozen=True)
class Freshness:
    """How far a station's records have reached the plant: its newest part here and its lag when last heard from."""

    station: str
    name: str
    line: str
    last_seen: datetime | None
    last_part_at: datetime | None
    local_high_seq: int
    local_high_at: datetime | None
    behind: int


@dataclass(frozen=True)
class PlantReport:
    """Everything a quality manager reads about the plant for one window, optionally one line or station."""

    start: datetime
    end: datetime
    timezone: str
    line: str | None
    station: str | None
    built_at: datetime
    plant: Figures
    stations: tuple[Group, ...]
    lines: tuple[Group, ...]
    recipes: tuple[Group, ...]
    shifts: tuple[Group, ...]
    models: tuple[Group, ...]
    model_stations: tuple[Group, ...]
    pareto: tuple[DefectCount, ...]
    overrides: tuple[OverridePair, ...]
    freshness: tuple[Freshness, ...]
    label: str = ""
    build_s: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def local(self, moment: datetime) -> datetime:
        """`moment` in the plant's time zone."""
        return moment.astimezone(ZoneInfo(self.timezone))

    @property
    def window_text(self) -> str:
        """'2026-12-01 06:00 – 2026-12-02 06:00 Europe/Berlin' (the end not included)."""
        return f"{self.local(self.start):%Y-%m-%d %H:%M} – {self.local(self.end):%Y-%m-%d %H:%M} {self.timezone}"

    @property
    def scope(self) -> str:
        """'all lines, all stations', 'line L1' or 'station L1-S2'."""
        if self.station:
            return f"station {self.station}" + (f" on line {self.line}" if self.line else "")
        return f"line {self.line}" if self.line else "all lines, all stations"

    @property
    def title(self) -> str:
        """The report's heading: its window (or shift label) and its scope."""
        return f"{self.label or self.window_text} — {self.scope}"

    @property
    def parts(self) -> int:
        """Parts captured in the window."""
        return self.plant.parts

    def stations_of(self, model_sha256: str) -> list[str]:
        """The stations that judged parts with this model version in the window."""
        return sorted(g.station for g in self.model_stations if g.model_sha256 == model_sha256)


def _number(x: float, digits: int = 2) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f} %"


def key_figures(report: PlantReport) -> list[tuple[str, str]]:
    """The headline figures as (name, value) text, shared by the summary, the PDF and the screen."""
    f = report.plant
    whole = f.parts or 1
    heard = [s for s in report.freshness if s.last_part_at is not None]
    newest = max((s.last_part_at for s in heard), default=None)
    return [
        ("Parts", f"{f.parts:,}"),
        ("OK", f"{f.ok:,} ({100 * f.ok / whole:.2f} %)"),
        ("NG", f"{f.ng:,} ({100 * f.ng / whole:.2f} %)"),
        ("HOLD (not yet reviewed)", f"{f.hold:,}"),
        ("NOT INSPECTED", f"{f.not_inspected:,}"),
        ("First-pass yield", _number(f.first_pass_yield)),
        ("Final yield", _number(f.final_yield)),
        ("Rejects", f"{f.rejects:,}"),
        ("Overrides (rate)", f"{f.overrides:,} ({_number(f.override_rate)})"),
        ("HOLD reviewed / timed out", f"{f.reviews:,} / {f.timed_out:,}"),
        ("Stations", f"{len(report.stations)} on {len({s.line for s in report.stations})} line(s)"),
        ("Newest part in the plant", f"{report.local(newest):%Y-%m-%d %H:%M:%S}" if newest else "none"),
    ]


# --- the queries ----------------------------------------------------------------------------------

# The columns GROUPING() reports on, in order; each breakdown is one grouping set of them.
_GROUPED = ("station_id", "line", "recipe", "shift_start", "shift", "model_sha256", "auto_verdict", "verdict", "kind")
_SETS = {
    "plant": (),
    "station": ("station_id", "line"),
    "line": ("line",),
    "recipe": ("recipe",),
    "shift": ("station_id", "line", "shift_start", "shift"),
    "model": ("model_sha256",),
    "model_station": ("model_sha256", "station_id"),
    "pair": ("auto_verdict", "verdict"),
    "kind": ("kind",),
}


def _mask(grouped: tuple[str, ...]) -> int:
    """GROUPING()'s bit mask for a set: a bit is set for each column NOT grouped (first column = highest bit)."""
    n = len(_GROUPED)
    return sum(1 << (n - 1 - i) for i, c in enumerate(_GROUPED) if c not in grouped)


_SET_OF_MASK = {_mask(cols): name for name, cols in _SETS.items()}

# First pass: the window's parts (partitions pruned to it) counted by every column a breakdown needs, with
# who set the verdict reduced to none / the review timer / a person. It is one plain GROUP BY, which
# PostgreSQL may run in parallel, and it leaves a few thousand cells even for a year of a dozen stations.
# The reject kind: NOT INSPECTED, else the reviewer's defect type, else the label of the part's largest region.
_CELLS = """
SELECT p.station_id, p.line, p.recipe, p.shift_start, p.shift, p.model_sha256, max(p.model_name) AS model_name,
       p.auto_verdict, p.verdict,
       CASE WHEN p.reviewed_by IS NULL THEN 0 WHEN p.reviewed_by = %(timeout)s THEN 1 ELSE 2 END AS who,
       CASE WHEN p.verdict = 'NOT_INSPECTED' THEN 'not inspected'
            WHEN p.verdict = 'NG' THEN coalesce(nullif(nullif(coalesce(nullif(p.defect_type, ''), r.label), ''),
                                                        'anomaly'), 'not classified')
       END AS kind,
       count(*) AS n, sum(p.score) AS score_sum, count(p.score) AS scored
FROM parts AS p
LEFT JOIN regions AS r
       ON r.station_id = p.station_id AND r.seq = p.seq AND r.captured_at = p.captured_at AND r.idx = 0
      AND r.captured_at >= %(start)s AND r.captured_at < %(end)s
      AND p.verdict = 'NG' AND coalesce(p.defect_type, '') = ''
WHERE p.captured_at >= %(start)s AND p.captured_at < %(end)s {filters}
GROUP BY 1, 2, 3, 4, 5, 6, 8, 9, 10, 11
"""

# Second pass: every breakdown from those cells at once (GROUPING SETS), so each count is summed in one place.
_FIGURES = """
sum(n),
sum(n) FILTER (WHERE verdict = 'OK'), sum(n) FILTER (WHERE verdict = 'NG'),
sum(n) FILTER (WHERE verdict = 'HOLD'), sum(n) FILTER (WHERE verdict = 'NOT_INSPECTED'),
sum(n) FILTER (WHERE auto_verdict = 'OK'), sum(n) FILTER (WHERE auto_verdict = 'NG'),
sum(n) FILTER (WHERE auto_verdict = 'HOLD'),
sum(n) FILTER (WHERE who = 2 AND auto_verdict <> 'HOLD' AND verdict <> auto_verdict),
sum(n) FILTER (WHERE who = 2 AND auto_verdict = 'HOLD'),
sum(n) FILTER (WHERE who = 1 AND auto_verdict = 'HOLD'),
sum(n) FILTER (WHERE who = 2 AND auto_verdict = 'NG' AND verdict = 'OK'),
sum(score_sum) / nullif(sum(scored), 0)
"""

_GROUPED_SQL = (
    f"WITH cells AS ({_CELLS}) SELECT GROUPING({', '.join(_GROUPED)}), {', '.join(_GROUPED)}, max(model_name), "
    f"{_FIGURES} FROM cells GROUP BY GROUPING SETS ("
    + ", ".join(f"({', '.join(cols)})" for cols in _SETS.values()) + ")")

_FRESHNESS_SQL = """
SELECT s.station_id, s.name, s.line, s.last_seen,
       (SELECT max(p.captured_at) FROM parts AS p WHERE p.station_id = s.station_id),
       s.local_high_seq, s.local_high_at, s.behind
FROM stations AS s WHERE true {filters} ORDER BY s.line, s.station_id
"""


def _filters(alias: str, line: str | None, station: str | None) -> str:
    text = ""
    if line:
        text += f" AND {alias}.line = %(line)s"
    if station:
        text += f" AND {alias}.station_id = %(station)s"
    return text


def build_plant_report(conn: psycopg.Connection, start: datetime, end: datetime, *, tz_name: str,
                       line: str | None = None, station: str | None = None, label: str = "") -> PlantReport:
    """The report of [start, end) from the plant database on `conn` (inside the caller's read-only transaction)."""
    started = time.perf_counter()
    args = {"start": start, "end": end, "line": line, "station": station, "timeout": TIMEOUT_REVIEWER}
    _check_filters(conn, line, station)
    now = conn.execute("SELECT now()").fetchone()[0]
    rows = conn.execute(_GROUPED_SQL.format(filters=_filters("p", line, station)), args).fetchall()
    fresh = tuple(Freshness(*r[:5], int(r[5] or 0), r[6], int(r[7] or 0)) for r in conn.execute(
        _FRESHNESS_SQL.format(filters=_filters("s", line, station)), args).fetchall())
    sets: dict[str, list[tuple]] = {name: [] for name in _SETS}
    for row in rows:
        name = _SET_OF_MASK.get(row[0])
        if name is not None:
            sets[name].append(row)
    plant = _figures(sets["plant"][0]) if sets["plant"] else Figures()
    stations = _stations(sets["station"], fresh)
    lines = tuple(sorted((Group(_figures(r), line=r[2]) for r in sets["line"]), key=lambda g: g.line))
    recipes = tuple(sorted((Group(_figures(r), recipe=r[3]) for r in sets["recipe"]), key=lambda g: g.recipe))
    shifts = tuple(sorted((Group(_figures(r), station=r[1], line=r[2], shift=r[5], shift_start=r[4])
                           for r in sets["shift"]),
                          key=lambda g: (g.shift_start or start, g.station)))
    models = tuple(sorted((Group(_figures(r), model_name=r[10] or "", model_sha256=r[6] or "") for r in sets["model"]),
                          key=lambda g: -g.figures.parts))
    model_stations = tuple(Group(_figures(r), station=r[1], model_name=r[10] or "", model_sha256=r[6] or "")
                           for r in sets["model_station"])
    pareto = _pareto({r[9]: _figures(r).parts for r in sets["kind"] if r[9] is not None})
    overrides = _overrides(sets["pair"])
    report = PlantReport(start, end, tz_name, line, station, now, plant, stations, lines, recipes, shifts, models,
                         model_stations, pareto, overrides, fresh, label)
    return replace(report, notes=_notes(report, now), build_s=time.perf_counter() - started)


def explain_report(conn: psycopg.Connection, start: datetime, end: datetime, *, line: str | None = None,
                   station: str | None = None) -> str:
    """PostgreSQL's plan for the report's grouped pass (EXPLAIN): which partitions and indexes it reads."""
    args = {"start": start, "end": end, "line": line, "station": station, "timeout": TIMEOUT_REVIEWER}
    rows = conn.execute("EXPLAIN " + _GROUPED_SQL.format(filters=_filters("p", line, station)), args).fetchall()
    return "\n".join(r[0] for r in rows)


def _check_filters(conn: psycopg.Connection, line: str | None, station: str | None) -> None:
    """A line or station the plant database does not know is refused with the ones it does know."""
    known = conn.execute("SELECT station_id, line FROM stations ORDER BY line, station_id").fetchall()
    if station and station not in {s for s, _ in known}:
        raise ConfigError(f"there is no station '{station}' in the plant database",
                          "use one of: " + (", ".join(s for s, _ in known) or "none yet (no station has replicated)"))
    if line and line not in {ln for _, ln in known}:
        raise ConfigError(f"there is no line '{line}' in the plant database",
                          "use one of: " + (", ".join(sorted({ln for _, ln in known})) or "none yet"))
    if station and line and (station, line) not in set(known):
        raise ConfigError(f"station '{station}' is not on line '{line}'", "leave out --line, or choose its line")


def _figures(row: tuple) -> Figures:
    counts = [int(x or 0) for x in row[11:23]]  # sum() FILTER over no cell is NULL
    return Figures(*counts, mean_score=float(row[23]) if row[23] is not None else None)


def _stations(rows: list[tuple], fresh: tuple[Freshness, ...]) -> tuple[Group, ...]:
    """Each station with parts in the window, and each known station without (0 parts: so nobody is overlooked)."""
    groups = [Group(_figures(r), station=r[1], line=r[2]) for r in rows]
    seen = {g.station for g in groups}
    groups += [Group(Figures(), station=f.station, line=f.line) for f in fresh if f.station not in seen]
    return tuple(sorted(groups, key=lambda g: (g.line, g.station)))


def _pareto(kinds: dict[str, int]) -> tuple[DefectCount, ...]:
    """Rejects by kind, largest first, with each kind's share and the running share."""
    total = sum(kinds.values())
    out, running = [], 0
    for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])):
        running += n
        out.append(DefectCount(kind, n, n / total, running / total))
    return tuple(out)


def _overrides(rows: list[tuple]) -> tuple[OverridePair, ...]:
    """Automatic verdict -> final verdict pairs a person made, most frequent first."""
    pairs = [(r[7], r[8], _figures(r).overrides) for r in rows]
    pairs = [p for p in pairs if p[2] > 0]
    total = sum(n for _, _, n in pairs)
    return tuple(OverridePair(a, v, n, n / total) for a, v, n in sorted(pairs, key=lambda p: (-p[2], p[0], p[1])))


def _notes(report: PlantReport, now: datetime) -> tuple[str, ...]:
    """What the reader should know is missing: stations silent while the window was open, or far behind.

    A station that runs is always a batch or two behind: that is not worth a note. One not heard from for
    STALE_S, or whose newest part is more than STALE_S newer than its newest in the plant, is.
    """
    notes = []
    if not report.freshness:
        notes.append("No station has replicated to this plant database yet.")
    for f in report.freshness:
        seen = _moment(report, f.last_seen, "never")
        reaches_past = f.last_part_at is None or f.last_part_at < report.end  # the window runs past its newest part
        if not reaches_past:
            continue
        silent = f.last_seen is None or (now - f.last_seen).total_seconds() > STALE_S
        lag_s = ((f.local_high_at - f.last_part_at).total_seconds()
                 if f.local_high_at and f.last_part_at else math.inf if f.behind else 0.0)
        if silent:
            unsent = f" ({f.behind:,} parts it had not yet sent then)" if f.behind else ""
            notes.append(f"{f.station}: not heard from since {seen}; anything it judged after "
                         f"{_moment(report, f.last_part_at, 'its first part')} is not in this report until it "
                         f"reaches the plant database again{unsent}.")
        elif f.behind > 0 and lag_s > STALE_S:
            notes.append(f"{f.station}: {f.behind:,} of its parts, up to {_moment(report, f.local_high_at, '?')}, were "
                         f"not yet in the plant database when it was last heard from ({seen}); its figures may be "
                         "short.")
    if report.parts == 0 and report.freshness:
        notes.append("No part was captured in this window by the stations chosen.")
    return tuple(notes)


def _moment(report: PlantReport, moment: datetime | None, missing: str) -> str:
    return f"{report.local(moment):%Y-%m-%d %H:%M:%S}" if moment else missing


# --- reading the plant database -------------------------------------------------------------------

def load_plant_report(plant: PlantConfig, start: datetime, end: datetime, *, tz_name: str, line: str | None = None,
                      station: str | None = None, label: str = "",
                      timeout_s: float = COMMAND_TIMEOUT_S) -> PlantReport:
    """Connect, read the report in one read-only snapshot with a statement timeout, close; blocking.

    PlantDatabaseError (a StationError) in plain words when the server is away, refuses the login, holds no
    plant schema yet, or the report takes longer than `timeout_s`.
    """
    import psycopg
    from psycopg.errors import QueryCanceled

    from hmi.plant.database import PlantDatabaseError, connect, explain, schema_version, server_name

    conn = connect(plant)
    try:
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            conn.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")
            if schema_version(conn) == 0:
                raise PlantDatabaseError(f"the plant database {server_name(plant)} holds no plant records yet",
                                         "start a station with [plant] configured: its first batch creates the tables")
            return build_plant_report(conn, start, end, tz_name=tz_name, line=line, station=station, label=label)
    except QueryCanceled:
        raise PlantDatabaseError(f"the plant report took longer than {timeout_s:.0f} s and was stopped",
                                 "choose a shorter window, one line or one station") from None
    except psycopg.Error as exc:
        raise explain(plant, exc) from None
    finally:
        conn.close()


# --- CSV ------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "table", "station", "line", "recipe", "shift", "from", "to", "model_name", "model_sha256", "defect",
    "auto_verdict", "verdict", "parts", "ok", "ng", "hold", "not_inspected", "rejects", "first_pass_yield_pct",
    "final_yield_pct", "auto_ok", "auto_ng", "auto_hold", "overrides", "override_pct", "hold_reviews",
    "hold_timed_out", "mean_score", "auto_hold_pct", "ng_to_ok", "ng_to_ok_pct", "share_pct", "cumulative_pct",
    "last_part_at", "last_seen", "local_high_seq", "behind",
)


def _iso(report: PlantReport, moment: datetime | None) -> str:
    return report.local(moment).isoformat(timespec="seconds") if moment else ""


def _num(x: float | None, digits: int = 2) -> str:
    return "" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _figure_cells(f: Figures) -> dict[str, str]:
    return {"parts": str(f.parts), "ok": str(f.ok), "ng": str(f.ng), "hold": str(f.hold),
            "not_inspected": str(f.not_inspected), "rejects": str(f.rejects),
            "first_pass_yield_pct": _num(f.first_pass_yield), "final_yield_pct": _num(f.final_yield),
            "overrides": str(f.overrides), "override_pct": _num(f.override_rate), "hold_reviews": str(f.reviews),
            "hold_timed_out": str(f.timed_out), "mean_score": _num(f.mean_score, 4),
            "auto_ok": str(f.auto_ok), "auto_hold": str(f.auto_hold), "auto_hold_pct": _num(f.hold_share),
            "auto_ng": str(f.auto_ng), "ng_to_ok": str(f.ng_to_ok),
            "ng_to_ok_pct": _num(f.ng_overruled)}


def csv_rows(report: PlantReport) -> list[dict[str, str]]:
    """The report's tables as CSV rows (dicts keyed by CSV_COLUMNS; missing keys are empty)."""
    rows: list[dict[str, str]] = [{"table": "report", "station": report.station or "", "line": report.line or "",
                                   "from": _iso(report, report.start), "to": _iso(report, report.end)}]
    rows.append({"table": "plant", **_figure_cells(report.plant)})
    for g in report.stations:
        rows.append({"table": "station", "station": g.station, "line": g.line, **_figure_cells(g.figures)})
    for g in report.lines:
        rows.append({"table": "line", "line": g.line, **_figure_cells(g.figures)})
    for g in report.recipes:
        rows.append({"table": "recipe", "recipe": g.recipe, **_figure_cells(g.figures)})
    for g in report.shifts:
        rows.append({"table": "shift", "station": g.station, "line": g.line, "shift": g.shift,
                     "from": _iso(report, g.shift_start), **_figure_cells(g.figures)})
    for p in report.pareto:
        rows.append({"table": "pareto", "defect": p.defect, "parts": str(p.parts), "share_pct": _num(100 * p.share),
                     "cumulative_pct": _num(100 * p.cumulative)})
    for o in report.overrides:
        rows.append({"table": "override", "auto_verdict": o.auto_verdict, "verdict": o.verdict, "parts": str(o.parts),
                     "share_pct": _num(100 * o.share)})
    for g in report.models:
        rows.append({"table": "model", "model_name": g.model_name, "model_sha256": g.model_sha256,
                     "station": " ".join(report.stations_of(g.model_sha256)), **_figure_cells(g.figures)})
    for g in sorted(report.model_stations, key=lambda g: (g.model_sha256, g.station)):
        rows.append({"table": "model_station", "station": g.station, "model_name": g.model_name,
                     "model_sha256": g.model_sha256, **_figure_cells(g.figures)})
    for f in report.freshness:
        rows.append({"table": "freshness", "station": f.station, "line": f.line,
                     "last_part_at": _iso(report, f.last_part_at), "last_seen": _iso(report, f.last_seen),
                     "local_high_seq": str(f.local_high_seq), "behind": str(f.behind)})
    return rows


def write_plant_csv(report: PlantReport, out: Path) -> int:
    """Write the report's tables to `out` as one CSV (see the module's docstring); returns the rows written."""
    out = Path(out)
    tmp = out.with_name(out.name + ".part")
    rows = csv_rows(report)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, CSV_COLUMNS, restval="")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"the CSV report could not be written to {out} ({exc.strerror or exc})",
                         "choose a folder you may write to, with free space") from None
    return len(rows)


# --- text -----------------------------------------------------------------------------------------

def _row_text(name: str, f: Figures) -> str:
    return (f"    {name:<22} parts {f.parts:>8,}  OK {f.ok:>8,}  NG {f.ng:>6,}  HOLD {f.hold:>4,}  "
            f"NOT INSP. {f.not_inspected:>4,}  first-pass {_number(f.first_pass_yield):>8}  "
            f"final {_number(f.final_yield):>8}  overrides {f.overrides:,}")


def summary_text(report: PlantReport) -> str:
    """The plant report as lines of text for the terminal."""
    lines = [f"Plant report — {report.title}  (built in {report.build_s:.2f} s)"]
    lines += [f"  {name:<26} {value}" for name, value in key_figures(report)]
    for title, groups, name in (("By station", report.stations, lambda g: f"{g.station} ({g.line})"),
                                ("By line", report.lines, lambda g: g.line),
                                ("By recipe", report.recipes, lambda g: g.recipe)):
        if groups:
            lines.append(f"  {title}:")
            lines += [_row_text(name(g), g.figures) for g in groups]
    if report.shifts:
        worst = min((g for g in report.shifts if g.figures.parts), key=lambda g: g.figures.final_yield, default=None)
        text = f"  Shifts: {len(report.shifts)} (station and shift) in the window"
        if worst is not None:
            text += (f"; lowest final yield {_number(worst.figures.final_yield)}: {worst.station} {worst.shift} "
                     f"{report.local(worst.shift_start):%Y-%m-%d %H:%M}" if worst.shift_start else "")
        lines.append(text)
    if report.pareto:
        lines.append("  Rejects by kind: " + ", ".join(f"{p.defect} {p.parts:,}" for p in report.pareto[:6]))
    if report.overrides:
        pairs = ", ".join(f"{o.auto_verdict}→{o.verdict} {o.parts:,}" for o in report.overrides)
        lines.append(f"  Overrides: {pairs}")
    for g in report.models:
        f = g.figures
        lines.append(f"  Model {g.model} on {', '.join(report.stations_of(g.model_sha256)) or '—'}: "
                     f"{f.parts:,} parts, mean score {_num(f.mean_score, 4) or '—'}, HOLD {_number(f.hold_share)}, "
                     f"NG overruled to OK {f.ng_to_ok:,} of {f.auto_ng:,}")
    for f in report.freshness:
        newest = f"{report.local(f.last_part_at):%Y-%m-%d %H:%M:%S}" if f.last_part_at else "none"
        seen = f"{report.local(f.last_seen):%Y-%m-%d %H:%M:%S}" if f.last_seen else "never"
        lines.append(f"  Freshness {f.station}: newest part in the plant {newest}, last heard from {seen}, "
                     f"{f.behind:,} part(s) not yet sent")
    lines += [f"  Note: {n}" for n in report.notes]
    return "\n".join(lines)


# --- the command ----------------------------------------------------------------------------------

def run_report_command(data_dir: Path, overrides: list[str], *, start: str, end: str, line: str | None = None,
                       station: str | None = None, csv_path: Path | None = None,
                       pdf_path: Path | None = None) -> int:
    """`hmi plant report`: print the summary, write the CSV and the PDF; exit 2 with one plain message on failure."""
    from hmi.config.loader import load_station
    from hmi.services.reports.background import ReportWorker

    try:
        cfg = load_station(data_dir, overrides)
        if not cfg.plant.database:
            raise ConfigError("no plant database is configured",
                              "set [plant] database and station_id in station.toml, or --set plant.database=URL "
                              "--set plant.station_id=ID")
        window = report_window(start, end, cfg.shifts.timezone)
        # The station's computer may be judging parts: the report is read and drawn on a low-priority thread.
        with ReportWorker() as reports:
            return reports.submit(lambda: _build(cfg, window, line, station, csv_path, pdf_path)).result()
    except StationError as exc:
        log.info("plant report refused: %s", exc)
        print(f"hmi: {exc}", file=sys.stderr)
        return 2


def _build(cfg, window: tuple[datetime, datetime], line: str | None, station: str | None, csv_path: Path | None,
           pdf_path: Path | None) -> int:
    """Read, print and write the report (on the report thread)."""
    report = load_plant_report(cfg.plant, *window, tz_name=cfg.shifts.timezone, line=line, station=station)
    print(summary_text(report), flush=True)
    if csv_path:
        rows = write_plant_csv(report, csv_path)
        print(f"\nCSV: {rows:,} rows written to {csv_path}")
    if pdf_path:
        from hmi.plant.report_pdf import write_plant_pdf

        pages = write_plant_pdf(report, pdf_path)
        print(f"PDF: {pages} page(s) written to {pdf_path}")
    return 0
