"""`hmi bench` (the pipeline against the model alone) and `hmi report-bench` (reports beside a week of records)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hmi.cli.options import backbone_option, command, overrides


def register(sub: argparse._SubParsersAction) -> None:
    """Register `bench` and `report-bench`."""
    bench = command(sub, "bench", cmd_bench, help="measure the pipeline against the model alone")
    bench.add_argument("--frames", type=int, default=300, help="parts to run through the pipeline")
    bench.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    bench.add_argument("--rounds", type=int, default=3, help="interleaved runs of each kind (means are reported)")
    bench.add_argument("--core-only", action="store_true", help="skip the run with records and PLC")
    bench.add_argument("--frame-size", type=_frame_size, default=None, metavar="WxH",
                       help="render demo parts at this size (e.g. 2448x2048) and judge them as overlapping tiles")
    bench.add_argument("--teach-size", type=int, default=None, metavar="PIXELS",
                       help="with --frame-size: judge with a model taught on good parts rendered at that size, at this "
                            "teach size, as a line with that camera teaches (default: the shipped demo model)")
    backbone_option(bench, "int8: judge with that model, or the demo model, taught with an INT8 backbone "
                           "(hmi teach --backbone int8; taught once and kept in the user's cache)")
    bench = command(sub, "report-bench", cmd_report_bench, help="generate a week of records at 10 parts/s and measure reports "
                                                "and the line's throughput beside them")
    bench.add_argument("--days", type=float, default=7.0, help="days of records to generate (default 7)")
    bench.add_argument("--rate", type=float, default=10.0, help="parts per second in the generated records")
    bench.add_argument("--frames", type=int, default=600, help="parts per station run at full speed (at least 600)")
    bench.add_argument("--line-seconds", type=float, default=60.0,
                       help="seconds per station run at the line rate (at least 60)")
    bench.add_argument("--rounds", type=int, default=3, help="station runs of each kind (without / with reports)")


def _frame_size(text: str) -> tuple[int, int]:
    """argparse type of `--frame-size`."""
    from hmi.bench.pipeline import parse_frame_size

    return parse_frame_size(text)


def cmd_bench(args: argparse.Namespace, folder: Path) -> int:
    """Full pipeline vs model alone on the same frames; prints and writes the figures."""
    from hmi.bench.pipeline import run_bench

    if args.teach_size is not None and args.frame_size is None:
        print("hmi bench: --teach-size needs --frame-size (the camera's frames the model is taught on); "
              "add for example --frame-size 2448x2048")
        return 2
    result = run_bench(folder, overrides(args), frames=args.frames, with_outputs=not args.core_only,
                       rounds=args.rounds, frame_size=args.frame_size, teach_size=args.teach_size,
                       backbone=args.backbone)
    text = result.to_text()
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(result.to_json(), encoding="utf-8")
    return 0


def cmd_report_bench(args: argparse.Namespace, folder: Path) -> int:
    """A week of records, every shift's report timed, and the line's throughput with reports beside it."""
    from hmi.bench.reports import ReportBenchPlan, run_report_bench

    plan = ReportBenchPlan(days=args.days, rate=args.rate, frames=args.frames, line_seconds=args.line_seconds,
                           rounds=args.rounds, overrides=overrides(args))
    return run_report_bench(plan, folder)
