"""`hmi seals check | accept`: settings changed outside the station, for a station run without a screen."""

from __future__ import annotations

import argparse
from pathlib import Path

from hmi.cli.options import command, read_secret


def register(sub: argparse._SubParsersAction) -> None:
    """Register `seals check` and `seals accept`."""
    seals = command(sub, "seals", None, help="the station file, recipes and users checked against their seals")
    s_sub = seals.add_subparsers(dest="seals_command", required=True)
    command(s_sub, "check", _check, help="list settings changed outside the station (exit 1 when there are any)")
    accept = command(s_sub, "accept", _accept,
                     help="accept every setting changed outside the station, signed by a technician or admin "
                          "(PIN asked; audited with the old and new values)")
    accept.add_argument("--user", required=True, help="the technician or admin who signs")
    accept.add_argument("--reason", required=True, help="why the changes are right (recorded in the audit trail)")


def _open(data_dir: Path):
    """The data folder's seals with the users and threshold versions, on a connection of their own."""
    from hmi.changes.seals import SettingSeals
    from hmi.config.loader import load_station
    from hmi.core.errors import ConfigError, StoreError
    from hmi.store.database import database_path
    from hmi.store.seals import SealBook
    from hmi.store.thresholds import ThresholdLog
    from hmi.store.users import UserDirectory

    db = database_path(data_dir)
    if not db.exists():
        raise StoreError(f"no records database at {db}", "check --data-dir; the station creates it on its first run")
    try:
        pins = load_station(data_dir).users.min_pin_length
    except ConfigError:  # a changed station.toml that does not load is listed, not a reason to stop
        pins = 6
    return SettingSeals(data_dir, SealBook(db), UserDirectory(db, min_secret_len=pins), ThresholdLog(db))


def _close(seals) -> None:
    seals.close()
    seals.users.close()
    seals.threshold_log.close()


def _print(changes) -> None:
    for change in changes:
        print(f"{change.summary(most=1000)} — in {change.where}")
        for line in change.lines() if change.kind == "changed" else ():
            print(f"    {line}")


def _check(args: argparse.Namespace, data_dir: Path) -> int:
    seals = _open(data_dir)
    try:
        if not seals.book.ever_sealed():
            print("nothing is sealed yet: the station seals the station file, the recipes and the users as it "
                  "finds them at its next start")
            return 0
        changes = seals.changes()
    finally:
        _close(seals)
    if not changes:
        print("every setting matches its seal: station.toml, the recipes and the users are as the station left them")
        return 0
    print(f"{len(changes)} setting(s) changed outside the station, not accepted (the station inspects nothing "
          "until a technician or admin accepts them: hmi seals accept --user NAME --reason TEXT):")
    _print(changes)
    return 1


def _accept(args: argparse.Namespace, data_dir: Path) -> int:
    seals = _open(data_dir)
    try:
        pending = seals.changes()
        if pending:
            _print(pending)
        accepted = seals.accept(args.user, read_secret(f"PIN/password of {args.user}: ", False), args.reason)
    finally:
        _close(seals)
    print(f"accepted by {args.user} and recorded in the audit trail: "
          + "; ".join(c.summary() for c in accepted))
    return 0
