"""The reports' own read-only connection to the records: it can neither write nor hold up the line's writer."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hmi.core.errors import StoreError
from hmi.store.database import database_path, open_readonly, schema_version

# A report reads each page of its shift once, so a small page cache is enough. No memory map: page
# faults on a map take the process's memory lock, which the station's threads need to allocate frame
# buffers, and a fault taken by the idle-priority report thread could keep them waiting.
_CACHE_KIB = 8192
_MMAP_BYTES = 0


def open_reports(data_dir_or_db: Path) -> sqlite3.Connection:
    """Open DATA_DIR/hmi.db (or the given .db file) read-only: URI mode=ro plus PRAGMA query_only.

    A missing file, a file that is not SQLite, a SQLite file that is not the station's records and
    one written by a newer station are refused with StoreError in plain words.
    """
    path = Path(data_dir_or_db)
    if path.is_dir() or path.suffix.lower() != ".db":
        path = database_path(path)
    if not path.exists():
        raise StoreError(f"there are no records at {path}",
                         "check the data folder (--data-dir): the station writes hmi.db there once it has judged a part")
    conn = open_readonly(path)
    try:
        version = schema_version(conn)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"{path} cannot be read as the station's records ({exc})",
                         "check the file, or choose the data folder of a station") from None
    if version == 0 or "inspections" not in tables:
        conn.close()
        raise StoreError(f"{path} is a SQLite database but not the station's records",
                         "choose the data folder of a station (it holds hmi.db with an inspections table)")
    conn.execute("PRAGMA query_only = ON")
    conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
    conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
    return conn


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction, so every figure of a report sees the same records.

    In WAL mode a reader never blocks the writer; it only keeps the log from being folded back past
    its snapshot while it lasts (shift reports do without one: each statement reads its own).
    """
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """True when the records hold table `name` (older schemas lack the alarm log)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None
