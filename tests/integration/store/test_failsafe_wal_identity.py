"""A write-ahead log that is not the database's own is refused untouched; a crash's own log is replayed in full.

Issue 15 item 2: SQLite replays any valid `hmi.db-wal` beside `hmi.db`, whatever database wrote it. The
station refuses one from another station (or an older copy), by `hmi run`, `hmi db check` and `hmi audit
verify` alike, and leaves every file as it was; the log a killed station leaves is still replayed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

from hmi.store.database import database_path, open_database
from hmi.store.queries import integrity_check
from hmi.store.wal_identity import file_identity, journal_path, read_wal_head, wal_path

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

# A writer that commits alarm events one by one and says so after each COMMIT, until it is killed.
WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from hmi.store.database import open_database, transaction

    conn = open_database(Path(sys.argv[1]))
    conn.execute(f"PRAGMA wal_autocheckpoint = {int(sys.argv[2])}")
    n = conn.execute("SELECT coalesce(max(id), 0) FROM alarm_events").fetchone()[0]
    print("ready", flush=True)
    while True:
        n += 1
        with transaction(conn):
            conn.execute("INSERT INTO alarm_events (id, at, code, event, priority, message) "
                         "VALUES (?, '2026-01-01T00:00:00.000Z', 'TEST', 'raised', 2, ?)", (n, "x" * 700))
        print(n, flush=True)
""")


def _killed_writer(db: Path, commits: int, autocheckpoint: int) -> int:
    """Run WRITER on `db` and SIGKILL it once `commits` more commits were reported; returns the last id reported."""
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(autocheckpoint)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        last, seen = 0, 0
        while seen < commits:
            line = child.stdout.readline()
            assert line, child.stderr.read()
            last, seen = int(line), seen + 1
        child.send_signal(signal.SIGKILL)  # mid-way through the next transaction, or between two
        child.wait(30)
        # Commits it made after the last line we read are in the log too; count what it had said by then.
        last = max([last, *(int(x) for x in child.stdout.read().split())])
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
        child.stdout.close()
        child.stderr.close()
    return last


def _station(folder: Path) -> Path:
    """A data folder with records made by the station's own code."""
    db = database_path(folder)
    open_database(db).close()
    return db


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("hmi.db*"))}


def _hmi(*args: str, folder: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, "-m", "hmi", *args, "--data-dir", str(folder)], capture_output=True,
                          text=True, timeout=120, env=env)


def _rows_in_main_file(db: Path) -> int:
    """Rows the main file holds by itself (immutable: the log is not read)."""
    with closing(sqlite3.connect(f"{db.resolve().as_uri()}?immutable=1", uri=True)) as conn:
        return conn.execute("SELECT count(*) FROM alarm_events").fetchone()[0]


def test_a_log_from_another_station_is_refused_by_every_command_and_nothing_changes(tmp_path):
    here, there = _station(tmp_path / "here"), _station(tmp_path / "there")
    _killed_writer(there, commits=30, autocheckpoint=0)
    assert read_wal_head(wal_path(there)) is not None  # a log SQLite would replay
    shutil.copyfile(wal_path(there), wal_path(here))
    before = _hashes(here.parent)

    for args in (("run", "--headless", "--max-parts", "1", "--set", "plc.mode=off"), ("db", "check"),
                 ("audit", "verify")):
        done = _hmi(*args, folder=here.parent)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "hmi.db-wal was not written by this hmi.db" in lines[0], (args, done.stderr)
        assert "move hmi.db-wal" in lines[0] and "left untouched" in lines[0]
        assert "all is well" not in done.stdout and "intact" not in done.stdout
        assert _hashes(here.parent) == before  # byte for byte, and no -shm made
    assert _rows_in_main_file(here) == 0


@pytest.mark.parametrize(("commits", "autocheckpoint"), [(1, 0), (40, 0), (400, 20)],
                         ids=["first commit", "first log", "log restarted after checkpoints"])
def test_a_killed_writers_own_log_is_replayed_and_nothing_is_lost(tmp_path, commits, autocheckpoint):
    db = _station(tmp_path / "data")
    identity = file_identity(db)
    said = _killed_writer(db, commits, autocheckpoint)
    head = read_wal_head(wal_path(db))
    assert head is not None
    if autocheckpoint:
        assert head.checkpoints > 0  # the log was restarted: only the main file's identity binds it
    else:
        assert _rows_in_main_file(db) == 0  # everything is in the log: opening must replay it
    assert file_identity(db) in (identity, head.lineage) or head.checkpoints == 0

    conn = open_database(db)
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM alarm_events ORDER BY id")]
    finally:
        conn.close()
    assert ids[:said] == list(range(1, said + 1))  # every commit the writer reported, and no gap
    assert integrity_check(db) == "ok"


def test_kill_after_kill_never_loses_a_commit_nor_refuses_the_own_log(tmp_path):
    db = _station(tmp_path / "data")
    for round_, commits in enumerate((3, 17, 60, 1, 150, 9, 40)):
        said = _killed_writer(db, commits, autocheckpoint=25)
        conn = open_database(db)  # the kill's log, whatever moment it came: replayed, never refused
        try:
            ids = [r[0] for r in conn.execute("SELECT id FROM alarm_events ORDER BY id")]
        finally:
            conn.close()
        assert ids[:said] == list(range(1, said + 1)), f"round {round_}: commits up to {said} reported"
    assert integrity_check(db) == "ok"


def test_a_rollback_journal_beside_the_database_is_refused_untouched(tmp_path):
    db = _station(tmp_path / "data")
    journal_path(db).write_bytes(bytes.fromhex("d9d505f920a163d7") + b"\x00\x00\x00\x01" + os.urandom(500))
    before = _hashes(db.parent)
    done = _hmi("db", "check", folder=db.parent)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "hmi.db-journal (a rollback journal)" in done.stderr
    assert _hashes(db.parent) == before


def test_a_restored_backup_refuses_the_log_the_original_left(tmp_path):
    """`hmi db backup` gives the copy an identity of its own: restored over a crashed original, the original's
    log (which would replay the newer pages over the older copy) is refused."""
    db = _station(tmp_path / "data")
    _killed_writer(db, commits=5, autocheckpoint=0)
    backup = tmp_path / "backup.db"
    conn = open_database(db)  # the crash's log is folded in, as at the station's next start
    conn.close()
    assert _hmi("db", "backup", str(backup), folder=db.parent).returncode == 0
    assert file_identity(backup) != file_identity(db)
    _killed_writer(db, commits=5, autocheckpoint=0)  # the original crashes again, its log stays
    shutil.copyfile(backup, db)  # restored without removing hmi.db-wal
    done = _hmi("db", "check", folder=db.parent)
    assert done.returncode == 2 and "not written by this hmi.db" in done.stderr
