"""The `hmi` command: its grammar, built from one table of command groups, and the entry point that dispatches."""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import threading

from hmi import __version__
from hmi.cli import admin, bench, dataset, judging, model, plant, report, seals, station, thresholds
from hmi.cli.options import common, data_dir
from hmi.core.errors import StationError

log = logging.getLogger("hmi")

# Each group registers its sub-commands, and each (sub-)command names its handler(args, data_dir) -> exit code.
COMMAND_GROUPS = (station, judging, bench, admin, model, report, dataset, thresholds, plant, seals)


def build_parser() -> argparse.ArgumentParser:
    """The full command-line grammar."""
    parser = argparse.ArgumentParser(prog="hmi", description="Machine-vision inspection station")
    parser.add_argument("--version", action="version", version=f"hmi {__version__}")
    common(parser, top=True)
    station.run_options(parser, top=True)
    parser.set_defaults(handler=station.cmd_run)  # `hmi` alone runs the station
    sub = parser.add_subparsers(dest="command")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `hmi` console script; every StationError ends in one plain message."""
    multiprocessing.freeze_support()  # the frozen station's teaching process starts here (hmi.changes.teach_process)
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    from hmi.config.loader import check_data_dir, load_station
    from hmi.config.paths import private_files
    from hmi.core.logs import EXIT_CRASHED, close_logging, install_crash_handler, setup_logging

    folder = data_dir(args)
    try:
        check_data_dir(folder)  # before logging, which would make folders in it
    except StationError as exc:
        print(f"hmi: {exc}", file=sys.stderr)
        return 2
    private_files()  # records, logs, images, recipes: the station's account's only
    # HMI_LOG sets the log file's level (default INFO); the console shows warnings and errors only.
    setup_logging(folder, file_level=os.environ.get("HMI_LOG", "INFO"))
    # The main thread's own errors are caught below; the hooks see other threads and Qt slots, which survive them.
    crash = install_crash_handler(folder, lambda: load_station(folder, args.overrides).model_dump(mode="json"),
                                  exit_after_main_crash=False)
    log.info("hmi %s: %s, data directory %s", __version__, command, folder)
    try:
        return args.handler(args, folder)
    except StationError as exc:
        log.error("%s: %s", command, exc, extra={"file_only": True})
        print(f"hmi: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an error nobody expected: crash report, fault to the PLC, non-zero exit
        crash.report(type(exc), exc, exc.__traceback__, threading.current_thread().name)
        return EXIT_CRASHED
    finally:
        crash.uninstall()
        close_logging()
