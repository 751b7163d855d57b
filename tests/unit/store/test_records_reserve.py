"""The records' reserve inside hmi.db: held as rows while the disk has room, given to the records when it fills."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from hmi.store import reserve
from hmi.store.database import database_path, open_database
from hmi.store.reserve import MB, RecordsOpened, free_page_bytes, grow_reserve, held_bytes, release_reserve


def _wal_bytes(db) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_giving_the_reserve_to_the_records_writes_a_few_pages_not_the_reserve_again(tmp_path) -> None:
    db = database_path(tmp_path)
    with closing(open_database(db)) as conn:
        grow_reserve(conn, 4 * MB)
        assert held_bytes(conn) == 4 * MB
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        assert _wal_bytes(db) == 0
        secure = conn.execute("PRAGMA secure_delete").fetchone()[0]
        assert release_reserve(conn) == 4 * MB
        # On a full disk the log cannot take the reserve's 4 MB once more: a few pages only.
        assert _wal_bytes(db) < 128 * 1024
        assert held_bytes(conn) == 0 and free_page_bytes(conn) >= 4 * MB
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == secure  # as it was for the records
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_start_on_a_full_disk_gives_the_held_reserve_to_the_records_before_anything_is_written(
        tmp_path, monkeypatch) -> None:
    db = database_path(tmp_path)
    with closing(open_database(db)) as conn:
        grow_reserve(conn, 2 * MB)
    monkeypatch.setattr(reserve, "free_bytes", lambda folder: 100 * 1024)  # the disk filled while it was stopped
    with RecordsOpened(tmp_path) as opened:
        conn = opened.take()
        assert conn is not None
        with closing(conn):
            assert held_bytes(conn) == 0 and free_page_bytes(conn) >= 2 * MB
    with closing(sqlite3.connect(db)) as check:
        assert check.execute("SELECT count(*) FROM sqlite_master WHERE name = 'records_reserve'").fetchone() == (0,)


def test_a_start_with_room_keeps_the_reserve_held(tmp_path, monkeypatch) -> None:
    db = database_path(tmp_path)
    with closing(open_database(db)) as conn:
        grow_reserve(conn, 2 * MB)
    monkeypatch.setattr(reserve, "free_bytes", lambda folder: 10_000 * MB)
    with RecordsOpened(tmp_path) as opened:
        conn = opened.take()
        assert conn is not None
        with closing(conn):
            assert held_bytes(conn) == 2 * MB


def test_a_start_on_a_full_disk_first_copies_the_log_of_a_killed_station_into_the_file(tmp_path, monkeypatch) -> None:
    """Pages a killed station left in the log past the end of the file are copied in at once, while the room the
    start reserve gave back is there: otherwise the log could never start over, and grows on a full disk."""
    import shutil

    killed = tmp_path / "killed"
    db = database_path(killed)
    conn = open_database(db)
    grow_reserve(conn, MB)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE parts_written_after (x BLOB)")
    with conn:
        conn.executemany("INSERT INTO parts_written_after VALUES (randomblob(700))", [()] * 500)
    size = conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
    data = tmp_path / "data"
    shutil.copytree(killed, data)  # the files as a SIGKILL leaves them: the log not yet copied into the file
    conn.close()
    copied = database_path(data)
    # (No connection may open the copy before the station does: the last one to close copies the log in.)
    assert copied.stat().st_size < size  # the log holds pages past the end of the file
    monkeypatch.setattr(reserve, "free_bytes", lambda folder: 0)
    with RecordsOpened(data) as opened:
        conn = opened.take()
        assert conn is not None
        with closing(conn):
            assert copied.stat().st_size >= size  # copied in: the log can start over
            assert held_bytes(conn) == 0 and free_page_bytes(conn) >= MB


def test_the_records_size_that_retention_keeps_under_its_limit_leaves_the_held_reserve_out(tmp_path) -> None:
    from hmi.store.retention import records_bytes

    with closing(open_database(database_path(tmp_path))) as conn:
        before = records_bytes(conn)
        grow_reserve(conn, 2 * MB)
        # A few pages more (the table that holds it, its overflow chain's pointers), not the 2 MB.
        assert records_bytes(conn) - before < 64 * 1024
