"""Opening the records database: create, migrate, tune; refuse foreign and newer files without touching them."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hmi.core.errors import StoreError
from hmi.store.database import SCHEMA_VERSION, database_path, iso_utc, open_database, schema_version
from hmi.store.schema import MIGRATIONS, Migration

TABLES = {"inspections", "regions", "audit", "users", "threshold_sets", "part_sequence"}


def _side_files(path: Path) -> list[Path]:
    return [p for p in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")) if p.exists()]


def test_fresh_database_gets_the_whole_schema_and_settings(db_path):
    conn = open_database(db_path)
    try:
        assert schema_version(conn) == SCHEMA_VERSION == MIGRATIONS[-1].version
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert TABLES <= tables
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"inspections_time", "inspections_recipe_time", "inspections_verdict_time"} <= indexes
    finally:
        conn.close()
    assert database_path(db_path.parent) == db_path


@pytest.mark.parametrize(("sql", "index"), [
    ("SELECT verdict, count(*) FROM inspections WHERE captured_at >= ? AND captured_at < ? GROUP BY verdict",
     "inspections_time"),
    ("SELECT verdict, count(*) FROM inspections WHERE recipe = ? AND captured_at >= ? AND captured_at < ? "
     "GROUP BY verdict", "inspections_recipe_time"),
    ("SELECT seq FROM inspections WHERE verdict = ? AND captured_at >= ?", "inspections_verdict_time"),
])
def test_report_queries_are_answered_from_an_index(db_path, sql, index):
    conn = open_database(db_path)
    try:
        args = tuple("x" for _ in range(sql.count("?")))
        plan = " ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
        assert f"USING COVERING INDEX {index}" in plan, plan
    finally:
        conn.close()


def test_reopening_keeps_data_and_version(db_path):
    conn = open_database(db_path)
    conn.execute("INSERT INTO users (name, role, secret_hash, created_at, created_by) "
                 "VALUES ('ann', 'admin', 'x', '2024-01-01T00:00:00.000Z', 'test')")
    conn.close()
    conn = open_database(db_path)
    try:
        assert schema_version(conn) == SCHEMA_VERSION
        assert conn.execute("SELECT name FROM users").fetchall() == [("ann",)]
    finally:
        conn.close()


@pytest.mark.parametrize("content", [
    b"station,seq,verdict\n1,1,OK\n" * 20,             # a CSV someone saved as hmi.db
    b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,      # an image
    b"SQLite format 2\x00" + b"\x00" * 200,             # almost, but not, SQLite
])
def test_a_file_that_is_not_sqlite_is_refused_and_left_unchanged(db_path, content):
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(content)
    with pytest.raises(StoreError) as err:
        open_database(db_path)
    assert "is not a records database" in str(err.value)
    assert "left untouched" in err.value.todo
    assert db_path.read_bytes() == content
    assert _side_files(db_path) == []


def _database_of_version(path: Path, version: int) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE inspections (seq INTEGER PRIMARY KEY, future_column TEXT)")
    conn.execute("INSERT INTO inspections VALUES (1, 'from the future')")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
    return path.read_bytes()


def test_a_newer_schema_is_refused_and_left_unchanged(db_path):
    before = _database_of_version(db_path, SCHEMA_VERSION + 1)
    with pytest.raises(StoreError) as err:
        open_database(db_path)
    assert f"records schema {SCHEMA_VERSION + 1}" in str(err.value)
    assert "newer version of the station" in str(err.value)
    assert db_path.read_bytes() == before
    assert _side_files(db_path) == []


def test_a_newer_schema_still_in_the_write_ahead_log_is_refused(db_path):
    """The version bump may sit in the -wal file only; the main file must then stay as it is."""
    db_path.parent.mkdir(parents=True)
    newer = sqlite3.connect(db_path, isolation_level=None)
    newer.execute("PRAGMA journal_mode = WAL")
    newer.execute("PRAGMA wal_autocheckpoint = 0")
    newer.execute("CREATE TABLE inspections (seq INTEGER PRIMARY KEY)")
    newer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")  # lands in the WAL, not the main file
    main_before = db_path.read_bytes()
    try:
        with pytest.raises(StoreError, match=f"records schema {SCHEMA_VERSION + 5}"):
            open_database(db_path)
        assert db_path.read_bytes() == main_before
    finally:
        newer.close()


def test_a_sqlite_file_of_another_program_is_refused(db_path):
    before = _database_of_version(db_path, 0)
    with pytest.raises(StoreError, match="not the station's records"):
        open_database(db_path)
    assert db_path.read_bytes() == before


def test_an_empty_file_becomes_a_records_database(db_path):
    db_path.parent.mkdir(parents=True)
    db_path.touch()
    conn = open_database(db_path)
    assert schema_version(conn) == SCHEMA_VERSION
    conn.close()


def test_a_failing_migration_leaves_the_previous_version_intact(db_path):
    open_database(db_path).close()
    broken = (*MIGRATIONS, Migration(SCHEMA_VERSION + 1, "add a table, then fail",
                                     "CREATE TABLE shifts (id INTEGER PRIMARY KEY);\n"
                                     "INSERT INTO no_such_table VALUES (1);\n"))
    with pytest.raises(StoreError) as err:
        open_database(db_path, migrations=broken)
    assert f"schema {SCHEMA_VERSION + 1}" in str(err.value)
    assert "left at its previous version" in err.value.todo
    conn = open_database(db_path)
    try:
        assert schema_version(conn) == SCHEMA_VERSION
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'shifts'").fetchone() is None
    finally:
        conn.close()


def test_a_version_1_database_is_upgraded_in_place(db_path):
    conn = open_database(db_path, migrations=MIGRATIONS[:1])
    assert schema_version(conn) == 1
    conn.execute("INSERT INTO audit (id, at, user, action, prev_hash, hash) VALUES (1, 'a', 'ann', 'login', 'p', 'h')")
    conn.close()
    conn = open_database(db_path)
    try:
        assert schema_version(conn) == SCHEMA_VERSION >= 2
        assert conn.execute("SELECT count(*) FROM audit").fetchone()[0] == 1
        plan = " ".join(str(r[-1]) for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM audit WHERE subject = 'part 1' ORDER BY id"))
        assert "audit_subject" in plan
    finally:
        conn.close()


def test_a_later_migration_is_applied_once(db_path):
    open_database(db_path).close()
    later = (*MIGRATIONS, Migration(SCHEMA_VERSION + 1, "shift table", "CREATE TABLE shifts (id INTEGER PRIMARY KEY);"))
    for _ in range(2):
        conn = open_database(db_path, migrations=later)
        assert schema_version(conn) == SCHEMA_VERSION + 1
        conn.close()


def test_timestamps_are_utc_with_milliseconds_and_z():
    cet = timezone(timedelta(hours=1))
    assert iso_utc(datetime(2024, 3, 1, 13, 4, 5, 678_999, tzinfo=cet)) == "2024-03-01T12:04:05.678Z"
    assert iso_utc(datetime(2024, 3, 1, 12, 0, 0)) == "2024-03-01T12:00:00.000Z"  # naive is taken as UTC
    assert iso_utc(None) is None
