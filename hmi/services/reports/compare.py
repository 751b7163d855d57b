"""Two shift reports side by side: the same figures, older first, and the change from the older to the newer."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from hmi.services.reports.summary import ShiftReport


@dataclass(frozen=True)
class ComparedFigure:
    """One figure of both reports, as text: the older (`a`), the newer (`b`) and the change (newer minus older)."""

    name: str
    a: str
    b: str
    change: str


def _pct(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.2f} %"


def _num(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:,.0f}"


def _drift(r: ShiftReport) -> str:
    states = [m.drift.state for m in r.models if m.drift is not None]
    return ", ".join(states) if states else "no baseline"


def _false_rejects(r: ShiftReport) -> float:
    ng = sum(m.auto_ng for m in r.models)
    return 100.0 * sum(m.ng_to_ok for m in r.models) / ng if ng else math.nan


# (figure, value of a report, text of a value, unit of the difference)
_FIGURES: tuple[tuple[str, Callable[[ShiftReport], float], Callable[[float], str], str], ...] = (
    ("Parts", lambda r: float(r.parts), _num, "parts"),
    ("Parts per hour", lambda r: r.parts_per_hour, _num, "parts/h"),
    ("First-pass yield", lambda r: r.first_pass_yield, _pct, "points"),
    ("Final yield", lambda r: r.final_yield, _pct, "points"),
    ("NG", lambda r: float(r.tally.ng), _num, "parts"),
    ("HOLD (still open)", lambda r: float(r.tally.hold), _num, "parts"),
    ("NOT INSPECTED", lambda r: float(r.tally.not_inspected), _num, "parts"),
    ("Overrides", lambda r: float(r.overrides), _num, "overrides"),
    ("Override rate", lambda r: r.override_rate, _pct, "points"),
    ("NG overruled to OK", _false_rejects, _pct, "points"),
    ("HOLD timed out", lambda r: float(r.timed_out), _num, "parts"),
    ("Alarms", lambda r: float(len(r.alarms)), _num, "alarms"),
    ("Downtime (minutes)", lambda r: r.downtime_s / 60.0, lambda x: f"{x:.1f}", "min"),
)


COLUMNS = ("Figure", "Older", "Newer", "Newer − older")


def older_newer(x: ShiftReport, y: ShiftReport) -> tuple[ShiftReport, ShiftReport]:
    """The two reports in time order (by shift start; `x` first when they are of the same shift)."""
    return (y, x) if y.window.start < x.window.start else (x, y)


def compare_reports(x: ShiftReport, y: ShiftReport) -> list[ComparedFigure]:
    """The key figures of both reports, older first, and the change newer minus older for each; then the
    top defect and the drift state of each."""
    a, b = older_newer(x, y)
    rows = []
    for name, value, text, unit in _FIGURES:
        va, vb = value(a), value(b)
        diff = vb - va
        if math.isnan(diff):
            change = "—"
        elif abs(diff) < 1e-9:
            change = "same"
        else:
            change = f"{diff:+,.2f} {unit}" if unit in ("points", "min") else f"{diff:+,.0f} {unit}"
        rows.append(ComparedFigure(name, text(va), text(vb), change))
    top = [r.pareto[0].defect if r.pareto else "—" for r in (a, b)]
    rows.append(ComparedFigure("Top reject kind", top[0], top[1], "same" if top[0] == top[1] else "differs"))
    rows.append(ComparedFigure("Model drift", _drift(a), _drift(b), ""))
    return rows
