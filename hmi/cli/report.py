"""The `hmi report` command: a shift report as text, CSV and PDF."""

from __future__ import annotations

import argparse
from pathlib import Path

from hmi.cli.options import command, overrides
from hmi.core.errors import StationError


def register(sub: argparse._SubParsersAction) -> None:
    """Register `report`."""
    rep = command(sub, "report", _report, help="shift report: summary, CSV of the records, PDF with charts")
    rep.add_argument("--shift", default="previous", metavar="SHIFT",
                     help="'current', 'previous' (default) or a date and shift name, e.g. '2024-05-01 Early'")
    rep.add_argument("--csv", type=Path, default=None, metavar="OUT", help="write the shift's records (one row per part)")
    rep.add_argument("--pdf", type=Path, default=None, metavar="OUT", help="write the shift report as a PDF")
    rep.add_argument("--compare", default=None, metavar="SHIFT2", help="a second shift to set side by side")
    rep.add_argument("--model", default=None, metavar="SHA256",
                     help="only the parts of this model version (its SHA-256 or the first 12 or more hex digits)")


def _report(args: argparse.Namespace, data_dir: Path) -> int:
    from hmi.services.reports.background import ReportWorker

    # On the station's computer the line comes first: the report is built on a report thread (nice 19,
    # SCHED_IDLE), which ends with the command.
    with ReportWorker() as reports:
        return reports.submit(lambda: _build(args, data_dir)).result()


def _build(args: argparse.Namespace, data_dir: Path) -> int:
    """Build, print and write the report (on the report thread)."""
    from hmi.config.loader import load_station
    from hmi.services.reports.compare import compare_reports
    from hmi.services.reports.connection import open_reports
    from hmi.services.reports.export import write_csv
    from hmi.services.reports.models import ModelBaselines
    from hmi.services.reports.pdf import write_pdf
    from hmi.services.reports.shifts import ShiftCalendar
    from hmi.services.reports.summary import build_report, known_models

    conn = open_reports(data_dir)  # first: a wrong data folder is refused before anything is created in it
    try:
        cfg = load_station(data_dir, overrides(args))
        calendar = ShiftCalendar(cfg.shifts)
        window = calendar.resolve(args.shift)
        model = _model(args.model, known_models(conn)) if args.model else None
        baselines = ModelBaselines(data_dir)
        report = build_report(conn, window, model_sha256=model, calendar=calendar, baselines=baselines)
        other = None
        if args.compare:
            other = build_report(conn, calendar.resolve(args.compare), model_sha256=model, calendar=calendar,
                                 baselines=baselines)
        print(summary_text(report))
        if other is not None:
            print(f"\nSide by side — A: {report.title}  B: {other.title}")
            for f in compare_reports(report, other):
                print(f"  {f.name:<22} {f.a:>16} {f.b:>16}   {f.change}")
        if args.csv:
            rows = write_csv(conn, window, args.csv, model_sha256=model)
            print(f"\nCSV: {rows:,} parts written to {args.csv}")
        if args.pdf:
            write_pdf(report, args.pdf, station=f"{cfg.station.name} — {cfg.station.line}", other=other)
            print(f"PDF: written to {args.pdf}")
    finally:
        conn.close()
    return 0


def _model(text: str, known: list[tuple[str, str]]) -> str:
    wanted = text.strip().lower()
    hits = [sha for sha, _ in known if sha.startswith(wanted)] if len(wanted) >= 12 else []
    if len(hits) != 1:
        listing = ", ".join(f"{name} {sha[:12]}" for sha, name in known) or "none"
        raise StationError(f"no single model version in the records starts with '{text}'",
                           f"give 12 or more hex digits of one of: {listing}")
    return hits[0]


def summary_text(report) -> str:
    """The shift report as a few lines of text for the terminal."""
    from hmi.services.reports.summary import key_figures

    lines = [f"Shift report — {report.title}  (built in {report.build_s:.2f} s)"]
    lines += [f"  {name:<26} {value}" for name, value in key_figures(report)]
    if report.pareto:
        lines.append("  Rejects by kind: " + ", ".join(f"{p.defect} {p.parts:,}" for p in report.pareto[:5]))
    for m in report.models:
        drift = m.drift.words if m.drift is not None else "no drift baseline"
        lines.append(f"  Model {m.model_name} {m.model_sha256[:12]}: {m.parts:,} parts; NG overruled to OK "
                     f"{m.ng_to_ok:,} of {m.auto_ng:,}; {drift}")
    for s in report.stops:
        lines.append(f"  Stop {report.window.local(s.start):%H:%M:%S}–{report.window.local(s.end):%H:%M:%S} "
                     f"({s.seconds / 60:.1f} min){': ' + ', '.join(s.alarms) if s.alarms else ''}")
    lines += [f"  Note: {n}" for n in report.notes]
    return "\n".join(lines)
