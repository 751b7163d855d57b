"""The `hmi report` command (shift report as text, CSV, PDF) and `hmi report-bench` (the 6-million-part measurement)."""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hmi.core.errors import StationError


def add_parsers(sub: argparse._SubParsersAction, common) -> None:
    """Register `report` and `report-bench`."""
    rep = sub.add_parser("report", help="shift report: summary, CSV of the records, PDF with charts")
    common(rep)
    rep.add_argument("--shift", default="previous", metavar="SHIFT",
                     help="'current', 'previous' (default) or a date and shift name, e.g. '2024-05-01 Early'")
    rep.add_argument("--csv", type=Path, default=None, metavar="OUT", help="write the shift's records (one row per part)")
    rep.add_argument("--pdf", type=Path, default=None, metavar="OUT", help="write the shift report as a PDF")
    rep.add_argument("--compare", default=None, metavar="SHIFT2", help="a second shift to set side by side")
    rep.add_argument("--model", default=None, metavar="SHA256",
                     help="only the parts of this model version (its SHA-256 or the first 12 or more hex digits)")

    bench = sub.add_parser("report-bench", help="generate a week of records at 10 parts/s and measure reports "
                                                "and the line's throughput beside them")
    common(bench)
    bench.add_argument("--days", type=float, default=7.0, help="days of records to generate (default 7)")
    bench.add_argument("--rate", type=float, default=10.0, help="parts per second in the generated records")
    bench.add_argument("--frames", type=int, default=600, help="parts per station run in the throughput measurement")
    bench.add_argument("--rounds", type=int, default=3, help="station runs of each kind (without / with reports)")
    bench.add_argument("--report-nice", type=int, default=0,
                       help="niceness of the process building reports beside the station (0 = same priority)")


def run(command: str, args: argparse.Namespace, data_dir: Path) -> int:
    """Carry out `report` or `report-bench`; prints what was done."""
    if command == "report":
        return _report(args, data_dir)
    if command == "report-bench":
        return _bench(args, data_dir)
    raise StationError(f"unknown report command {command!r}", "use 'hmi report' or 'hmi report-bench'")


# --- hmi report ---------------------------------------------------------------------------------

def _report(args: argparse.Namespace, data_dir: Path) -> int:
    from hmi.config.loader import load_station
    from hmi.reports.compare import compare_reports
    from hmi.reports.connection import open_reports
    from hmi.reports.export import write_csv
    from hmi.reports.models import ModelBaselines
    from hmi.reports.pdf import write_pdf
    from hmi.reports.shifts import ShiftCalendar
    from hmi.reports.summary import build_report, known_models

    conn = open_reports(data_dir)  # first: a wrong data folder is refused before anything is created in it
    try:
        cfg = load_station(data_dir, getattr(args, "overrides", []) or [])
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
    from hmi.reports.summary import key_figures

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


# --- hmi report-bench -----------------------------------------------------------------------------

def _bench(args: argparse.Namespace, data_dir: Path) -> int:
    from hmi.config.loader import load_station
    from hmi.reports.benchdata import generate_week
    from hmi.reports.shifts import ShiftCalendar
    from hmi.store.database import database_path

    cfg = load_station(data_dir, getattr(args, "overrides", []) or [])
    calendar = ShiftCalendar(cfg.shifts)
    db = database_path(data_dir)
    first = calendar.shifts[0]
    if not db.exists():
        # The week ends where today's first shift starts, so 'previous' and the dates of the last week hit it.
        today = datetime.now(calendar.tz).date()
        start = calendar.window(today - timedelta(days=int(math.ceil(args.days))), first.name).start
        print(f"Generating {args.days:g} days at {args.rate:g} parts/s from {start:%Y-%m-%d %H:%M} UTC into {db} …")
        week = generate_week(data_dir, start, rate_hz=args.rate, days=args.days, progress=lambda s: print("  " + s),
                             shift_names=lambda t: (calendar.containing(t) or calendar.window(t.date(), first.name)).name)
        print(f"Generated {week.parts:,} parts in {week.seconds:.0f} s; database {week.size_mb:,.0f} MB")
        span = (week.start, week.end)
    else:
        span = _span(db)
        print(f"Using the records already in {db}: {span[0]:%Y-%m-%d %H:%M} to {span[1]:%Y-%m-%d %H:%M} UTC")
    windows = [w for w in calendar.between(span[0], span[1]) if w.end <= span[1] + timedelta(minutes=1)]
    times = _report_times(data_dir, windows, calendar)
    ratio = _station_throughput(args, data_dir, windows)
    return 0 if times and max(times) <= 2.0 and ratio >= 0.95 else 1


def _span(db: Path) -> tuple[datetime, datetime]:
    from hmi.reports.connection import open_reports

    conn = open_reports(db)
    try:
        a = conn.execute("SELECT min(captured_at) FROM inspections").fetchone()[0]
        b = conn.execute("SELECT max(captured_at) FROM inspections").fetchone()[0]
    finally:
        conn.close()
    if a is None:
        raise StationError(f"{db} holds no parts", "point --data-dir at an empty folder to generate a week of records")
    return (datetime.fromisoformat(a.replace("Z", "+00:00")).replace(second=0, microsecond=0),
            datetime.fromisoformat(b.replace("Z", "+00:00")))


def _report_times(data_dir: Path, windows, calendar) -> list[float]:
    """(a) Build the report of every shift on a fresh read-only connection each; print a table and max / median."""
    from hmi.reports.connection import open_reports
    from hmi.reports.models import ModelBaselines
    from hmi.reports.summary import build_report

    print("\n(a) Report build time per shift (fresh read-only connection each, nothing else running)")
    print(f"  {'shift':<34} {'parts':>9} {'seconds':>8}")
    times = []
    for w in windows:
        started = time.perf_counter()
        conn = open_reports(data_dir)
        try:
            report = build_report(conn, w, calendar=calendar, baselines=ModelBaselines(data_dir))
        finally:
            conn.close()
        took = time.perf_counter() - started
        times.append(took)
        print(f"  {w.label:<34} {report.parts:>9,} {took:>8.2f}")
    if times:
        print(f"  {len(times)} shifts: max {max(times):.2f} s, median {statistics.median(times):.2f} s "
              f"(target <= 2 s each) -> {'PASS' if max(times) <= 2.0 else 'FAIL'}")
    return times


def _station_throughput(args: argparse.Namespace, data_dir: Path, windows) -> float:
    """(b) The headless station writing to the big database, without and with reports built beside it."""
    from hmi.app import Station
    from hmi.camera.factory import open_source
    from hmi.config.loader import load_station
    from hmi.demo.dataset import demo_frames_dir
    from hmi.downstream import RecordsAndPlc

    print(f"\n(b) Headless station writing to the same database: {args.frames} parts per run at full speed, "
          f"{args.rounds} runs each, alternating; reports built in a loop in another process (nice {args.report_nice})")
    # The simulated PLC stands in for a separate machine (as in `hmi bench`): its own process, low priority.
    plc = subprocess.Popen([sys.executable, "-m", "hmi.plc.simulator", "--port", "0"], stdout=subprocess.PIPE,
                           text=True, preexec_fn=(lambda: os.nice(15)) if hasattr(os, "nice") else None)
    port = int(re.search(r":(\d+)", plc.stdout.readline()).group(1))  # type: ignore[union-attr, arg-type]
    settings = ["station.mode=production", "camera.trigger=software", "camera.rate_hz=0", "plc.mode=s7",
                "plc.host=127.0.0.1", f"plc.port={port}", *(getattr(args, "overrides", []) or [])]
    cfg = load_station(data_dir, settings)
    shift_keys = [w.key for w in windows] or ["previous"]
    runs: dict[str, list[float]] = {"without": [], "with": []}
    built: list[int] = []
    try:
        for r in range(2 * args.rounds):
            kind = "without" if r % 2 == 0 else "with"
            loop = None
            count_file = Path(tempfile.mkstemp(prefix="hmi-report-loop-")[1])
            if kind == "with":
                loop = subprocess.Popen(
                    [sys.executable, "-m", "hmi.report_cli", "--loop-reports", str(data_dir), str(count_file),
                     *shift_keys], preexec_fn=(lambda: os.nice(args.report_nice)) if args.report_nice else None)
                time.sleep(1.0)  # let it open the database and start its first report
            station = Station(cfg, data_dir, source=open_source(cfg.camera, demo_frames_dir()),
                              max_parts=args.frames, downstream=RecordsAndPlc(cfg, data_dir))
            rate = _run_station(station, args.frames)
            if loop is not None:
                loop.terminate()
                loop.wait(timeout=30)
                text = count_file.read_text().strip()
                built.append(int(text) if text else 0)
            count_file.unlink(missing_ok=True)
            runs[kind].append(rate)
            print(f"  run {r + 1}: {kind:<7} reports  {rate:6.1f} parts/s")
    finally:
        plc.terminate()
        plc.wait(timeout=30)
    without, with_reports = statistics.mean(runs["without"]), statistics.mean(runs["with"])
    ratio = with_reports / without
    print(f"  mean without reports {without:.1f} parts/s, with reports {with_reports:.1f} parts/s "
          f"-> {100 * ratio:.1f} % kept (target >= 95 %) -> {'PASS' if ratio >= 0.95 else 'FAIL'}")
    print(f"  reports built beside the station during the 'with' runs: {', '.join(map(str, built))}")
    return ratio


def _run_station(station, frames: int) -> float:
    """Parts per second from the first capture to the moment every verdict is committed to the database."""
    stamps: list[float] = []
    station.outlet.subscribe(lambda part: stamps.append(part.captured_mono))
    station.start()
    try:
        if not station.wait_done(timeout_s=max(120.0, frames * 2.0)):
            raise StationError("the station did not finish its parts in time", "see the log; the measurement stopped")
    finally:
        station.stop()  # returns once the store thread has committed every record
    span = time.monotonic() - min(stamps) if stamps else 0.0
    return len(stamps) / span if span > 0 else float("nan")


def _loop_reports(data_dir: Path, count_file: Path, shifts: list[str]) -> None:
    """Build reports one after another (the shifts in turn) until terminated; writes how many were built."""
    import signal

    from hmi.config.loader import load_station
    from hmi.reports.connection import open_reports
    from hmi.reports.models import ModelBaselines
    from hmi.reports.shifts import ShiftCalendar
    from hmi.reports.summary import build_report

    done = 0

    def stop(*_):
        count_file.write_text(str(done))
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    calendar = ShiftCalendar(load_station(data_dir).shifts)
    windows = [calendar.resolve(s) for s in shifts]
    baselines = ModelBaselines(data_dir)
    while True:
        conn = open_reports(data_dir)
        try:
            build_report(conn, windows[done % len(windows)], calendar=calendar, baselines=baselines)
        finally:
            conn.close()
        done += 1
        count_file.write_text(str(done))


if __name__ == "__main__" and len(sys.argv) >= 4 and sys.argv[1] == "--loop-reports":
    _loop_reports(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:])
