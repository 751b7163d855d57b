"""The `hmi dataset` commands: reviewed parts exported as a training set (anomalib folders, YOLO labels)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hmi.cli.options import command, overrides
from hmi.core.errors import StationError


def register(sub: argparse._SubParsersAction) -> None:
    """Register the `dataset` sub-command and its `export` action."""
    dataset = command(sub, "dataset", None, help="training sets from the records (parts operators reviewed)")
    dataset_sub = dataset.add_subparsers(dest="dataset_command", required=True)
    exp = command(
        dataset_sub, "export", export, help="export reviewed parts in anomalib's folder layout and/or YOLO's layout",
        description="Exports the parts whose verdict an operator gave, confirmed or overruled (HOLDs that timed "
                    "out and verdicts nobody reviewed are left out), with a manifest.csv of every part.")
    exp.add_argument("--out", type=Path, required=True, help="folder to create (must be new or empty)")
    exp.add_argument("--since", default="", metavar="ISO", help="parts captured from this date/time (plant time)")
    exp.add_argument("--until", default="", metavar="ISO", help="parts captured before this date/time (plant time)")
    exp.add_argument("--recipe", default="", help="only this recipe's parts")
    exp.add_argument("--layout", choices=("anomalib", "yolo", "both"), default="both",
                     help="anomalib: good/ defect/<type>/ mask/<type>/; yolo: images/ labels/ data.yaml")


def export(args: argparse.Namespace, data_dir: Path) -> int:
    """Export the reviewed parts as a training set; prints what was exported and what was skipped."""
    from zoneinfo import ZoneInfo

    from hmi.config.loader import load_station
    from hmi.services.dataset.export import export_training_set, parse_time
    from hmi.services.dataset.records import ExportFilter
    from hmi.store.database import database_path

    if not database_path(data_dir).exists():
        raise StationError(f"there is no records database in {data_dir}",
                           "give the station's data folder with --data-dir")
    tz = ZoneInfo(load_station(data_dir, overrides(args)).shifts.timezone)
    flt = ExportFilter(since=parse_time(args.since, tz) if args.since else None,
                       until=parse_time(args.until, tz) if args.until else None,
                       recipe=args.recipe or None)
    if flt.since and flt.until and flt.until <= flt.since:
        raise StationError(f"--until {args.until} is not after --since {args.since}", "swap or correct the times")
    report = export_training_set(data_dir, args.out, flt=flt, layout=args.layout)
    for line in report.lines():
        print(line)
    return 0
