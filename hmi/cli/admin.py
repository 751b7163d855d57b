"""The integrator's and admin's commands: PLC link test, audit verify, database check and backup, users."""

from __future__ import annotations

import argparse
import getpass
import re
import socket
import sqlite3
import time
from pathlib import Path

from hmi.config.loader import load_station
from hmi.cli.options import command, overrides, read_secret
from hmi.core.errors import ConfigError, StoreError


def register(sub: argparse._SubParsersAction) -> None:
    """Register `plc`, `audit`, `db` and `users` sub-commands."""
    plc = command(sub, "plc", None, help="PLC link tools")
    plc_sub = plc.add_subparsers(dest="plc_command", required=True)
    command(plc_sub, "test", _plc_test, help="connect, write a pattern, read it back, print the round trip")

    audit = command(sub, "audit", None, help="audit trail tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    v = command(audit_sub, "verify", _audit_verify,
                help="check the audit trail's hash chain; names any row changed behind the station's back")
    v.add_argument("--anchor", default="", help="ID:HASH of a row noted earlier (catches cut-off newest rows)")

    db = command(sub, "db", None, help="records database tools")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    command(db_sub, "check", _db_check, help="PRAGMA integrity_check and foreign keys")
    b = command(db_sub, "backup", _db_backup,
                help="copy the database through SQLite's backup API (safe while the line runs)")
    b.add_argument("out", type=Path, help="backup file to write")

    users = command(sub, "users", _users_list, help="list, add, disable or reset users")
    u_sub = users.add_subparsers(dest="users_command")
    command(u_sub, "list", _users_list, help="list users")
    add = command(u_sub, "add", _users_change, help="add a user (the first one must be an admin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["operator", "technician", "quality", "admin"])
    add.add_argument("--admin", default="", help="admin who authorises this (not needed for the first admin)")
    dis = command(u_sub, "disable", _users_change, help="stop a user from logging in")
    dis.add_argument("name")
    dis.add_argument("--admin", required=True)
    dis.add_argument("--reason", default="")
    res = command(u_sub, "reset", _users_change, help="set a new PIN/password, unlock and re-enable a user")
    res.add_argument("name")
    res.add_argument("--admin", required=True)
    res.add_argument("--reason", default="")
    rec = command(u_sub, "recover-admin", _users_recover,
                  help="at the station's console, when no admin can log in: unlock, re-enable and give a new PIN "
                       "to the admin NAME, or add NAME as an admin (recorded in the audit trail)")
    rec.add_argument("name")
    rec.add_argument("--reason", required=True, help="why (recorded in the audit trail)")


_secret = read_secret


def _audit_verify(args: argparse.Namespace, data_dir: Path) -> int:
    from hmi.store.audit import verify

    anchor = _anchor(args.anchor) if args.anchor else None
    report = verify(_need(data_dir), anchor)
    print(report.text())
    return 0 if report.ok else 1


def _anchor(text: str) -> tuple[int, str]:
    """--anchor ID:HASH as (id, hash); ConfigError in plain words for anything else."""
    ident, sep, digest = text.strip().partition(":")
    if not sep or not ident.isdigit() or int(ident) < 1 or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        raise ConfigError(f"--anchor {text!r} is not an audit entry's ID:HASH",
                          "give the entry's number and its 64-digit hash as 'hmi audit verify' printed them, "
                          "e.g. --anchor 1042:3f5a…")
    return int(ident), digest.lower()


def _db_check(args: argparse.Namespace, data_dir: Path) -> int:
    from hmi.store.database import missing_tables, open_readonly
    from hmi.store.queries import integrity_check

    db = _need(data_dir)
    result = integrity_check(db)
    conn = open_readonly(db)
    try:
        missing = missing_tables(conn)
    finally:
        conn.close()
    if missing:
        many = len(missing) > 1
        print(f"{result}; but the table{'s' if many else ''} {', '.join(missing)} of the records schema "
              f"{'are' if many else 'is'} missing: removed behind the station's back")
        return 1
    print(result)
    return 0 if result == "ok" else 1


def _db_backup(args: argparse.Namespace, data_dir: Path) -> int:
    return _backup(_need(data_dir), args.out)


def _need(data_dir: Path) -> Path:
    """The records database of `data_dir`; refused when there is none."""
    from hmi.store.database import database_path

    db = database_path(data_dir)
    if not db.exists():
        raise StoreError(f"no records database at {db}", "check --data-dir; the station creates it on its first run")
    return db


def _plc_test(args: argparse.Namespace, data_dir: Path) -> int:
    from hmi.plc.factory import simulated_link, start_simulated_plc
    from hmi.plc.linktest import link_test

    cfg = load_station(data_dir, overrides(args)).plc
    if cfg.mode == "off":
        print("PLC signalling is switched off (plc.mode = off): nothing to test")
        return 1
    if cfg.mode == "simulated":
        plc = start_simulated_plc(cfg)
        try:
            result = link_test(simulated_link(cfg, plc))
        finally:
            plc.stop()
        print("simulated PLC (python-snap7 server on loopback): " + result.summary())
    else:
        result = link_test(cfg)
        print(result.summary())
    return 0 if result.ok else 1


def _backup(db: Path, out: Path) -> int:
    """Online backup: pages are copied in steps so the writer is never held up for long."""
    from hmi.store.database import open_readonly
    from hmi.store.wal_identity import as_pragma, new_identity

    out = out.expanduser().resolve()
    if out.exists():
        raise StoreError(f"{out} already exists", "choose a new file name; backups are never overwritten")
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    src = open_readonly(db)
    tmp = out.with_name(out.name + ".partial")
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst, pages=256, sleep=0.005)
            # An identity of its own: a restored copy then never takes a write-ahead log left by the original.
            dst.execute(f"PRAGMA application_id = {as_pragma(new_identity())}")
            dst.commit()
            ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
            parts = dst.execute("SELECT count(*) FROM inspections").fetchone()[0]
        finally:
            dst.close()
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"backup to {out} failed: {exc}", "check free space at the destination and try again") from None
    finally:
        src.close()
    if ok != "ok":
        tmp.unlink(missing_ok=True)
        raise StoreError(f"backup copy failed its integrity check ({ok})", "try again; if it repeats, check the disk")
    tmp.replace(out)
    print(f"backup of {parts} parts written to {out} in {time.monotonic() - t0:.1f} s (integrity ok). "
          f"To restore: stop the station and copy it to {db} (remove {db.name}-wal and {db.name}-shm first).")
    return 0


def _users_list(args: argparse.Namespace, data_dir: Path) -> int:
    from hmi.store.database import database_path
    from hmi.store.users import UserDirectory

    directory = UserDirectory(database_path(data_dir))
    try:
        users = directory.list()
        first_run = directory.first_run_open()
    finally:
        directory.close()
    if not users and first_run:
        print("no users yet: create the admin with 'hmi users add NAME --role admin'")
    elif not users:
        print("no users, though this station had some: restore an admin at this console with "
              "'hmi users recover-admin NAME --reason TEXT'")
    for u in users:
        state = "active" if u.active else "disabled"
        print(f"{u.name:<20} {u.role.value:<11} {state}")
    return 0


def _users_change(args: argparse.Namespace, data_dir: Path) -> int:
    from hmi.store.database import database_path
    from hmi.store.users import UserDirectory

    directory = UserDirectory(database_path(data_dir), min_secret_len=_min_pin_length(args, data_dir))
    try:
        by = None
        if getattr(args, "admin", ""):
            by = directory.authenticate(args.admin, _secret(f"PIN/password of {args.admin}: ", False))
        if args.users_command == "add":
            user = directory.add(args.name, args.role, _secret(f"new PIN/password for {args.name}: ", True), by)
            print(f"added {user.name} ({user.role.value})")
        elif args.users_command == "disable":
            directory.disable(args.name, by, args.reason)
            print(f"{args.name} disabled")
        else:
            directory.reset(args.name, _secret(f"new PIN/password for {args.name}: ", True), by, args.reason)
            print(f"{args.name} reset and enabled")
        return 0
    finally:
        directory.close()


def _users_recover(args: argparse.Namespace, data_dir: Path) -> int:
    from hmi.store.database import database_path
    from hmi.store.users import RECOVERY, UserDirectory

    directory = UserDirectory(database_path(data_dir), min_secret_len=_min_pin_length(args, data_dir))
    try:
        console = f"{getpass.getuser()}@{socket.gethostname()}"
        user = directory.recover_admin(args.name, _secret(f"new PIN/password for {args.name}: ", True),
                                       args.reason, console)
    finally:
        directory.close()
    print(f"{user.name} is an active admin with the new PIN; recorded in the audit trail as '{RECOVERY}' "
          f"({console})")
    return 0


def _min_pin_length(args: argparse.Namespace, data_dir: Path) -> int:
    """The station's minimum PIN length ([users] min_pin_length in station.toml, with --set)."""
    return load_station(data_dir, overrides(args)).users.min_pin_length
