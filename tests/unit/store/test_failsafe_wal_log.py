"""The edges of telling the database's own write-ahead log from another's (hmi.store.wal_identity)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from hmi.core.errors import StoreError
from hmi.store import database
from hmi.store.database import open_database, open_readonly, transaction
from hmi.store.wal_identity import file_identity, foreign_log, journal_path, read_wal_head, wal_path


def _plain_log(db: Path, rows: int = 3) -> bytes:
    """A log written by another program (plain sqlite3), put back after it closed, as a killed writer leaves it."""
    db.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for i in range(rows):
            conn.execute("INSERT INTO t VALUES (?)", (i,))
        log = wal_path(db).read_bytes()
    wal_path(db).write_bytes(log)
    return log


def test_a_new_database_has_an_identity_of_its_own_and_is_owner_only(tmp_path):
    a, b = tmp_path / "a" / "hmi.db", tmp_path / "b" / "hmi.db"
    for db in (a, b):
        open_database(db).close()
    assert file_identity(a) not in (0, None, file_identity(b))
    if os.name == "posix":
        assert a.stat().st_mode & 0o777 == 0o600 and a.parent.stat().st_mode & 0o777 == 0o700
    assert not journal_path(a).exists() and not list(a.parent.glob("hmi.db.new-*"))


def test_a_log_beside_a_missing_database_is_refused_and_no_database_is_made(tmp_path):
    db = tmp_path / "data" / "hmi.db"
    log = _plain_log(tmp_path / "other" / "hmi.db")
    db.parent.mkdir()
    wal_path(db).write_bytes(log)
    with pytest.raises(StoreError, match="which is empty or missing"):
        open_database(db)
    assert not db.exists() and wal_path(db).read_bytes() == log


def test_a_log_another_program_began_is_refused_by_readers_too(tmp_path):
    db = tmp_path / "data" / "hmi.db"
    open_database(db).close()
    log = _plain_log(db)  # on this very file, but not by the station: nothing tells it from a copied one
    assert read_wal_head(wal_path(db)) is not None
    with pytest.raises(StoreError, match="not written by this hmi.db"):
        open_readonly(db)
    assert wal_path(db).read_bytes() == log


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs /proc/locks (Linux)")
def test_a_log_a_running_program_holds_open_is_left_to_it(tmp_path):
    db = tmp_path / "data" / "hmi.db"
    open_database(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("PRAGMA wal_autocheckpoint = 0")
        holder.execute("INSERT INTO part_sequence (id, high_water, reserved_at) VALUES (1, 5, 'x')")
        assert foreign_log(db) == ""  # opening replays nothing: the log is the holder's live state
        reader = open_readonly(db)
        assert reader.execute("SELECT high_water FROM part_sequence").fetchone()[0] == 5
        reader.close()
    finally:
        holder.close()


def test_a_database_from_before_the_check_keeps_its_log(tmp_path):
    """application_id 0: made by a station before identities; its own crash log must still replay."""
    db = tmp_path / "data" / "hmi.db"
    open_database(db).close()
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA application_id = 0")
        conn.commit()
    _plain_log(db)  # a log the older station left, not claimed
    assert read_wal_head(wal_path(db)) is not None
    assert file_identity(db) == 0 and foreign_log(db) == ""


@pytest.mark.parametrize("content", [b"", os.urandom(4096), b"\x37\x7f\x06\x82" + bytes(28)],
                         ids=["empty", "noise", "header without frames"])
def test_a_log_sqlite_would_not_replay_is_no_danger(tmp_path, content):
    db = tmp_path / "data" / "hmi.db"
    open_database(db).close()
    wal_path(db).write_bytes(content)
    assert foreign_log(db) == ""
    open_database(db).close()


def test_a_zeroed_journal_is_not_replayed_and_passes_but_a_live_one_is_refused(tmp_path):
    db = tmp_path / "data" / "hmi.db"
    open_database(db).close()
    journal_path(db).write_bytes(bytes(512))
    assert foreign_log(db) == ""
    journal_path(db).write_bytes(b"not a journal, but SQLite would delete it")
    assert "hmi.db-journal (a file)" in foreign_log(db)


def test_a_claim_the_full_disk_refused_at_opening_is_made_before_the_first_write(tmp_path, monkeypatch):
    db = tmp_path / "data" / "hmi.db"
    open_database(db).close()
    real_claim = database.claim

    def full_disk(conn, path):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(database, "claim", full_disk)
    conn = open_database(db)  # opens all the same: the station must run on a full disk
    monkeypatch.setattr(database, "claim", real_claim)
    try:
        assert conn.wal_claimed is False
        with transaction(conn):
            conn.execute("INSERT INTO part_sequence (id, high_water, reserved_at) VALUES (1, 7, 'x')")
        assert conn.wal_claimed is True
        crashed = tmp_path / "crashed"  # the files as a kill now would leave them
        crashed.mkdir()
        for name in ("hmi.db", "hmi.db-wal"):
            shutil.copyfile(db.parent / name, crashed / name)
    finally:
        conn.close()
    assert read_wal_head(wal_path(crashed / "hmi.db")) is not None
    assert foreign_log(crashed / "hmi.db") == ""
    reopened = open_database(crashed / "hmi.db")
    assert reopened.execute("SELECT high_water FROM part_sequence").fetchone()[0] == 7
    reopened.close()
