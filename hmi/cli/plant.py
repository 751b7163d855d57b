"""The `hmi plant` commands: the plant database's lag per station, its audit chains, plant reports and the demo."""

from __future__ import annotations

import argparse
from pathlib import Path

from hmi.cli.options import command, overrides


def register(sub: argparse._SubParsersAction) -> None:
    """Register `plant` and its sub-commands."""
    plant = command(sub, "plant", None, help="the plant database (PostgreSQL) all stations replicate to")
    plant_sub = plant.add_subparsers(dest="plant_command", required=True)
    command(plant_sub, "status", _status, help="each station's replication lag (parts not yet in the plant database)")
    verify = command(plant_sub, "verify", _verify,
                     help="check each station's audit trail hash chain from the plant database alone")
    verify.add_argument("--station", default=None, metavar="ID", help="only this station")
    rep = command(plant_sub, "report", _report,
                  help="plant report: yield, rejects, defect Pareto, overrides and model health by station, line, "
                       "recipe and shift")
    rep.add_argument("--from", dest="start", required=True, metavar="WHEN",
                     help="start, a date or date and time in the plant's time zone (2026-12-01 or '2026-12-01 06:00')")
    rep.add_argument("--to", dest="end", required=True, metavar="WHEN", help="end (exclusive), same form as --from")
    rep.add_argument("--line", default=None, metavar="L", help="only this line")
    rep.add_argument("--station", default=None, metavar="S", help="only this station")
    rep.add_argument("--csv", type=Path, default=None, metavar="OUT", help="write the report's tables as CSV")
    rep.add_argument("--pdf", type=Path, default=None, metavar="OUT", help="write the report as a PDF")
    demo = command(plant_sub, "demo", _demo,
                   help="start a local PostgreSQL and three demo stations feeding it, then show the plant view")
    demo.add_argument("--minutes", type=float, default=0.0, help="stop after this long (0: until Ctrl+C)")


def _status(args: argparse.Namespace, data_dir: Path) -> int:
    from hmi.plant.status import print_status

    return print_status(data_dir, overrides(args))


def _verify(args: argparse.Namespace, data_dir: Path) -> int:
    from hmi.plant.verify import print_verification

    return print_verification(data_dir, overrides(args), station=args.station)


def _report(args: argparse.Namespace, data_dir: Path) -> int:
    from hmi.plant.reports import run_report_command

    return run_report_command(data_dir, overrides(args), start=args.start, end=args.end, line=args.line,
                              station=args.station, csv_path=args.csv, pdf_path=args.pdf)


def _demo(args: argparse.Namespace, data_dir: Path) -> int:
    from hmi.plant.demo import run_plant_demo

    return run_plant_demo(data_dir, overrides(args), minutes=args.minutes)
