"""A records database whose disk fills on demand: SQLite's own SQLITE_FULL error path, without root or a mount.

`PRAGMA max_page_count` pins the database file at its size while `full` is set. SQLite still reuses the
file's free pages (the records' reserve) and answers SQLITE_FULL when it needs one more page, exactly as it
does when the disk has no room: the store thread cannot tell the two apart.
"""

from __future__ import annotations

import sqlite3
import threading

from hmi.store.writer import RecordWriter

_NO_LIMIT = 4294967294


class FillingDisk(RecordWriter):
    """A RecordWriter whose database cannot grow while `full` is set (`full=True`: from its first connection)."""

    def __init__(self, *args, full: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.full = threading.Event()
        if full:
            self.full.set()

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()
        self._limit(conn)
        return conn

    def _limit(self, conn: sqlite3.Connection) -> None:
        pages = conn.execute("PRAGMA page_count").fetchone()[0] if self.full.is_set() else _NO_LIMIT
        conn.execute(f"PRAGMA max_page_count = {pages}")

    def loop_once(self) -> None:
        """Pin (or free) the file's size, then the store thread's own loop."""
        if self._conn is not None:
            self._limit(self._conn)
        super().loop_once()
