"""`hmi report-bench`: a week of records at the line rate, every shift's report timed, and the line's throughput beside them."""

from __future__ import annotations

import math
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from hmi.core.errors import StationError
from hmi.pipeline.worker import Worker


@dataclass(frozen=True)
class ReportBenchPlan:
    """What to measure: days and rate of generated records, parts and seconds per station run, runs of each kind."""

    days: float = 7.0
    rate: float = 10.0
    frames: int = 600
    line_seconds: float = 60.0
    rounds: int = 3
    overrides: list[str] = field(default_factory=list)


def run_report_bench(args: ReportBenchPlan, data_dir: Path) -> int:
    """Generate (or reuse) a week of records, time every shift's report and the line's throughput beside them."""
    from hmi.config.loader import load_station
    from hmi.bench.records import generate_week
    from hmi.services.reports.background import ReportWorker
    from hmi.services.reports.shifts import ShiftCalendar
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
    with ReportWorker() as reports:  # the benchmark's report thread, as the station has its own: ends with it
        times = _report_times(data_dir, windows, calendar, reports)
        line, full = _station_throughput(args, data_dir, windows, reports)
    return 0 if times and max(times) <= 2.0 and line >= 0.95 and full >= 0.95 else 1


def _span(db: Path) -> tuple[datetime, datetime]:
    from hmi.services.reports.connection import open_reports

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


def _report_times(data_dir: Path, windows, calendar, worker) -> list[float]:
    """(a) Build every shift's report on the report thread, a fresh read-only connection each; print max / median."""
    from hmi.services.reports.connection import open_reports
    from hmi.services.reports.models import ModelBaselines
    from hmi.services.reports.summary import build_report

    print(f"\n(a) Report build time per shift: the report thread ({worker.applied_priority()}), fresh read-only "
          "connection each, the station not running")
    print(f"  {'shift':<44} {'parts':>9} {'seconds':>8}")
    times = []
    for w in windows:
        def build(w=w):
            started = time.perf_counter()
            conn = open_reports(data_dir)
            try:
                report = build_report(conn, w, calendar=calendar, baselines=ModelBaselines(data_dir))
            finally:
                conn.close()
            return report, time.perf_counter() - started

        report, took = worker.submit(build).result()
        times.append(took)
        print(f"  {w.label:<44} {report.parts:>9,} {took:>8.2f}", flush=True)
    if times:
        print(f"  {len(times)} shifts: max {max(times):.2f} s, median {statistics.median(times):.2f} s "
              f"(target <= 2 s each) -> {'PASS' if max(times) <= 2.0 else 'FAIL'}")
    return times


@dataclass
class _Run:
    """One station run: its mode, whether reports were built beside it, and what was measured."""

    mode: str
    reports: bool
    parts: int
    rate: float
    latency_p99_ms: float
    report_s: list[float]
    wal_max_mb: float


def _station_throughput(args: ReportBenchPlan, data_dir: Path, windows, reports) -> tuple[float, float]:
    """(b) The headless station writing to the big database, without and with reports built as the product builds them.

    With reports, the station's own process builds shift reports back to back on the report thread
    (nice 19, SCHED_IDLE), on a fresh read-only connection each, as the reports screen does. Runs
    alternate without / with, at the line rate the records were generated at and at full speed.
    """
    frames = max(600, int(args.frames))
    line_s = max(60.0, float(args.line_seconds))
    line_parts = int(math.ceil(line_s * args.rate))
    priority = reports.applied_priority()
    print(f"\n(b) Headless station writing to the same database, {args.rounds} runs of each kind, alternating "
          f"without / with reports.\n    Reports: built back to back in the station's process on the report thread "
          f"({priority}), fresh read-only connection each.\n    Line rate: camera.rate_hz={args.rate:g} (software "
          f"trigger), {line_parts} parts per run; full speed: camera.rate_hz=0, {frames} parts per run.")
    # The simulated PLC stands in for a separate machine (as in `hmi bench`): its own process, low priority.
    plc = subprocess.Popen([sys.executable, "-m", "hmi.plc.simulator", "--port", "0"], stdout=subprocess.PIPE,
                           text=True, preexec_fn=(lambda: os.nice(15)) if hasattr(os, "nice") else None)
    port = int(re.search(r":(\d+)", plc.stdout.readline()).group(1))  # type: ignore[union-attr, arg-type]
    runs: list[_Run] = []
    try:
        for mode, hz, parts in (("line rate", args.rate, line_parts), ("full speed", 0.0, frames)):
            for r in range(2 * args.rounds):
                run = _one_run(args, data_dir, windows, port, mode, hz, parts, reports if r % 2 == 1 else None)
                runs.append(run)
                done = f"{len(run.report_s)} reports, max {max(run.report_s):.2f} s" if run.report_s else ""
                print(f"  {mode:<10} run {r + 1}: {'with' if run.reports else 'without':<7} reports "
                      f"{run.rate:6.2f} parts/s  p99 {run.latency_p99_ms:6.1f} ms  WAL max {run.wal_max_mb:5.1f} MB"
                      f"  {done}", flush=True)
    finally:
        plc.terminate()
        plc.wait(timeout=30)
    return _throughput_table(runs)


def _throughput_table(runs: list[_Run]) -> tuple[float, float]:
    """Print the kept-throughput table; returns the share kept at line rate and at full speed."""
    print(f"\n  {'mode':<10} {'reports':<8} {'parts/s (runs)':<28} {'mean':>7} {'p99 ms':>7} {'WAL max':>8}  "
          f"{'report builds beside it'}")
    kept = {}
    for mode in ("line rate", "full speed"):
        means = {}
        for with_reports in (False, True):
            rs = [r for r in runs if r.mode == mode and r.reports == with_reports]
            rates = [r.rate for r in rs]
            means[with_reports] = statistics.mean(rates)
            p99 = max(r.latency_p99_ms for r in rs)
            builds = [t for r in rs for t in r.report_s]
            built = (f"{len(builds)} built, median {statistics.median(builds):.2f} s, max {max(builds):.2f} s"
                     if builds else "—")
            print(f"  {mode:<10} {'with' if with_reports else 'without':<8} "
                  f"{', '.join(f'{x:.1f}' for x in rates):<28} {means[with_reports]:7.2f} {p99:7.1f} "
                  f"{max(r.wal_max_mb for r in rs):6.1f}MB  {built}")
        kept[mode] = means[True] / means[False]
    print()
    for mode, share in kept.items():
        print(f"  {mode}: {100 * share:.1f} % of the throughput kept with reports (target >= 95 %) -> "
              f"{'PASS' if share >= 0.95 else 'FAIL'}")
    return kept["line rate"], kept["full speed"]


def _one_run(args: ReportBenchPlan, data_dir: Path, windows, port: int, mode: str, hz: float, parts: int,
             reports) -> _Run:
    """One station run of `parts` parts; with `reports` (a report thread), it builds shifts until the run ends."""
    import threading

    import numpy as np

    from hmi.config.loader import load_station
    from hmi.station import build_station
    from hmi.store.database import database_path

    settings = ["station.mode=production", "camera.trigger=software", f"camera.rate_hz={hz:g}", "plc.mode=s7",
                "plc.host=127.0.0.1", f"plc.port={port}", *(getattr(args, "overrides", []) or [])]
    cfg = load_station(data_dir, settings)
    stop = threading.Event()
    report_s: list[float] = []
    loop = _start_report_loop(reports, data_dir, windows, stop, report_s) if reports is not None else None
    wal = database_path(data_dir).with_name(database_path(data_dir).name + "-wal")
    sampler = _SizeSampler(wal)
    sampler.start()
    try:
        station = build_station(cfg, data_dir, max_parts=parts)
        rate, latencies = _run_station(station, parts)
    finally:
        stop.set()
        if loop is not None:
            loop.result(timeout=120)
        sampler.stop()
        sampler.join(timeout=5)
    p99 = float(np.percentile(latencies, 99)) if latencies else math.nan
    return _Run(mode, reports is not None, len(latencies), rate, p99, report_s, sampler.biggest / 1e6)


class _SizeSampler(Worker):
    """Notes the largest size a file (the WAL) reaches, five times a second, until stopped."""

    role = "wal-sampler"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.biggest = 0

    def loop_once(self) -> None:
        try:
            self.biggest = max(self.biggest, self.path.stat().st_size)
        except OSError:
            pass
        self.wait(0.2)


def _start_report_loop(reports, data_dir: Path, windows, stop, took: list[float]):
    """Build the shifts' reports in turn on the report thread, as the reports screen does, until `stop` is set."""
    from hmi.config.loader import load_station
    from hmi.services.reports.connection import open_reports
    from hmi.services.reports.models import ModelBaselines
    from hmi.services.reports.shifts import ShiftCalendar
    from hmi.services.reports.summary import build_report

    calendar = ShiftCalendar(load_station(data_dir).shifts)
    baselines = ModelBaselines(data_dir)
    keys = [w.key for w in windows]

    def loop() -> None:
        i = 0
        while not stop.is_set():
            started = time.perf_counter()
            conn = open_reports(data_dir)
            try:
                build_report(conn, calendar.resolve(keys[i % len(keys)]), calendar=calendar, baselines=baselines)
            finally:
                conn.close()
            took.append(time.perf_counter() - started)
            i += 1

    return reports.submit(loop)


def _run_station(station, frames: int) -> tuple[float, list[float]]:
    """Parts per second from the first capture to the moment every verdict is committed, and each part's latency."""
    stamps: list[float] = []
    latencies: list[float] = []

    def seen(part) -> None:
        stamps.append(part.captured_mono)
        if part.latency_ms is not None:
            latencies.append(part.latency_ms)

    station.outlet.subscribe(seen)
    station.start()
    try:
        if not station.wait_done(timeout_s=max(120.0, frames * 2.0)):
            raise StationError("the station did not finish its parts in time", "see the log; the measurement stopped")
    finally:
        station.stop()  # returns once the store thread has committed every record
    span = time.monotonic() - min(stamps) if stamps else 0.0
    return (len(stamps) / span if span > 0 else float("nan")), latencies
