"""Room for the records when the disk fills: a reserve held inside hmi.db, and a start reserve file beside it.

The disk counts as full for the records below `FULL_BELOW` bytes free, or when the database file cannot grow.
Then every part is rejected NOT_INSPECTED, and its record goes into the reserve kept inside the database file
(`store.records_reserve_mb`). While the disk has room the reserve is held as zero-filled rows of the table
`records_reserve`: free pages alone would not keep it, since SQLite hands them to the next records written
before it grows the file, so parts judged as usual would use the reserve up before a write ever failed.
When the disk fills the table is dropped: its pages become free pages, which SQLite reuses before it grows
the file and nothing else on the disk can take. A small file beside the database, `records.reserve`, is given
up when SQLite cannot even open its write-ahead log (a start on a full disk) and made again when the disk has
room. The store thread is the only one that runs `RecordsRoom`; docs/database.md, "When the disk is full",
says it for people.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import time
from pathlib import Path

from hmi.config.schema import StoreConfig
from hmi.core.alarm_catalogue import DISK_FULL
from hmi.core.alarms import AlarmBoard
from hmi.store.database import database_path, open_database, transaction

log = logging.getLogger(__name__)

MB = 1024 * 1024
FULL_BELOW = 4 * MB          # less free than this: the disk is full for the records
RESUME_ABOVE = 16 * MB       # more free than this: room again (and the reserve may grow)
STEP = MB                    # the reserve inside hmi.db grows by this much at a time
START_RESERVE_FILE = "records.reserve"
START_RESERVE_BYTES = 8 * MB
ON_RESERVE_CHECKPOINT = 64   # pages: on the reserve the write-ahead log starts over this often, so it never grows
NORMAL_CHECKPOINT = 1000     # SQLite's own default
_SQLITE_FULL = 13
_HELD = "records_reserve"    # the table holding the reserve while the disk has room


def free_bytes(folder: Path) -> int | None:
    """Bytes the station may still write on the disk holding `folder`; None when that cannot be read."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def is_space_error(exc: BaseException, free: int | None) -> bool:
    """True when `exc`, raised writing the records, comes from a disk without room."""
    if (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF == _SQLITE_FULL:
        return True
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    # SQLite says "disk I/O error" when it cannot grow its shared-memory index: judge by the free space.
    return free is not None and free < RESUME_ABOVE


class RecordsOpened:
    """The records' write connection, opened once while the station is built and handed to its store thread.

    Opening refuses a foreign or newer database, untouched. On a full disk the start reserve is given up
    first, so that SQLite can make its log and index; then the log is copied into the file and the reserve
    held inside it is given to the records, before anything is written. One connection from that check to the
    store thread's end: the log is never deleted and made again while the station is built (space a full disk
    may not give back), and one connection alone writes it, as the database's identity of its log needs
    (wal_identity).
    """

    def __init__(self, data_dir: Path) -> None:
        self.folder = Path(data_dir)
        self.start_reserve = StartReserve(self.folder / START_RESERVE_FILE)
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> RecordsOpened:
        free = free_bytes(self.folder)
        if free is not None and free < FULL_BELOW and self.start_reserve.release():
            log.warning("records: the disk is full (%d kB free): the start reserve was given up so the records can "
                        "open", free // 1024)
        self._conn = open_database(database_path(self.folder))
        if free is not None and free < FULL_BELOW:
            # The log's pages may lie past the end of the file (a station killed with room on the disk): copied in
            # now, while the start reserve's room is there, the log can start over instead of growing.
            settle_log(self._conn)
            # Before anything is written (the settings' seals): the held reserve becomes the records' free pages.
            try:
                given = release_reserve(self._conn)
            except sqlite3.Error as exc:  # the store thread tries again when its first write is refused
                log.warning("records: the reserve could not be given to the records at the start: %s", exc)
            else:
                if given:
                    log.warning("records: the disk is full: the reserve (%d kB) was given to the records", given // 1024)
        return self

    def take(self) -> sqlite3.Connection | None:
        """The connection, for the store thread, which closes it from then on (None once taken)."""
        conn, self._conn = self._conn, None
        return conn

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        free = free_bytes(self.folder)
        if free is not None and free < RESUME_ABOVE + self.start_reserve.size:
            self.start_reserve.make(free)  # what the closed records gave back, kept for the next start


def checkpoint(conn: sqlite3.Connection) -> None:
    """Copy the write-ahead log into the database (PASSIVE: never waits for readers), so the log can start over."""
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def settle_log(conn: sqlite3.Connection) -> bool:
    """`checkpoint`, where the disk lets it: False when it was refused (it is tried again later)."""
    try:
        checkpoint(conn)
    except sqlite3.Error:
        return False
    return True


def grow_reserve(conn: sqlite3.Connection, nbytes: int, *, hold: bool = True) -> None:
    """Hold `nbytes` more of the reserve (a zero-filled row), committed, then copied into the file.

    `hold=False` writes the row and deletes it in the same transaction: only a check that the database takes
    that much more, which leaves the pages free.
    """
    with transaction(conn):
        conn.execute(f"CREATE TABLE IF NOT EXISTS {_HELD} (room BLOB)")
        conn.execute(f"INSERT INTO {_HELD} (room) VALUES (zeroblob(?))", (int(nbytes),))
        if not hold:
            conn.execute(f"DELETE FROM {_HELD} WHERE rowid = last_insert_rowid()")
    checkpoint(conn)


def held_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the reserve held back from the records (given to them only when the disk is full)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_HELD,)).fetchone() is None:
        return 0
    return int(conn.execute(f"SELECT coalesce(sum(length(room)), 0) FROM {_HELD}").fetchone()[0])


def release_reserve(conn: sqlite3.Connection) -> int:
    """Give the held reserve to the records: its pages become free pages. Returns the bytes given (0: none held)."""
    held = held_bytes(conn)
    if held:
        # SQLite here is built to zero every page it frees (secure_delete): the release would write the whole
        # reserve into the log again, on a disk that has no room for it. The reserve holds only zeros.
        secure = int(conn.execute("PRAGMA secure_delete").fetchone()[0])
        conn.execute("PRAGMA secure_delete = 0")
        try:
            with transaction(conn):
                conn.execute(f"DROP TABLE {_HELD}")
        finally:
            conn.execute(f"PRAGMA secure_delete = {secure}")
    return held


def free_page_bytes(conn: sqlite3.Connection) -> int:
    """Free pages inside the database file, in bytes: what the next records take before the file grows."""
    pages = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int(pages) * int(conn.execute("PRAGMA page_size").fetchone()[0])


class StartReserve:
    """A file holding disk space for the records' next start on a full disk (`records.reserve`, owner-only)."""

    def __init__(self, path: Path, size: int = START_RESERVE_BYTES) -> None:
        self.path = Path(path)
        self.size = size

    def release(self) -> bool:
        """Give the space back to the disk; True when there was a file to give up."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("records: cannot remove the start reserve %s: %s", self.path, exc)
            return False
        return True

    def make(self, room: int | None) -> bool:
        """Make the file when it is missing, `size` bytes or as many as `room` allows; True when it is there."""
        if self.path.exists():
            return True
        size = self.size if room is None else min(self.size, room)
        if size <= 0:
            return False
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, size)  # blocks taken now, not when written
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            log.info("records: the start reserve %s could not be made (%s)", self.path, exc.strerror or exc)
            return False
        return True


class RecordsRoom:
    """Whether the records have room, for the store thread: judge as usual, or reject every part into the reserve.

    `watch` (every `check_s`) reads the free space, holds `store.records_reserve_mb` inside the database
    while the disk has room (one `STEP` at a time, only when the store is idle), and switches: to the
    reserve below `FULL_BELOW` free or when the file cannot grow (DISK_FULL alarm; the held reserve becomes
    free pages for the records); back once more than `RESUME_ABOVE` is free and the file grew again.
    `make_room` is told of a write that failed: the records never take the held reserve before that, so
    however busy the line, a write refused for want of room finds the whole reserve there for its retry.
    """

    def __init__(self, db_path: Path, config: StoreConfig, alarms: AlarmBoard, *, check_s: float = 1.0) -> None:
        self.folder = Path(db_path).parent
        self.config = config
        self.alarms = alarms
        self.check_s = check_s
        self.start_reserve = StartReserve(self.folder / START_RESERVE_FILE)
        self.on_reserve = False
        self.free: int | None = None
        self.reserve = 0  # bytes the records have without growing the file (held + free pages) at the last look
        self.held = 0     # bytes of the reserve held back from the records at the last look
        self._next_check = 0.0

    @property
    def target(self) -> int:
        """Bytes of free pages to keep inside the database."""
        return self.config.records_reserve_mb * MB

    def connected(self, conn: sqlite3.Connection) -> None:
        """A new write connection: on the reserve, its log starts over often."""
        if self.on_reserve:
            conn.execute(f"PRAGMA wal_autocheckpoint = {ON_RESERVE_CHECKPOINT}")

    def watch(self, conn: sqlite3.Connection | None, *, idle: bool) -> None:
        """Look at the disk when due; grow the reserve only when `idle` (no part waits for the store)."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self.check_s
        free = self.free = free_bytes(self.folder)
        room = free is None or free >= RESUME_ABOVE
        if conn is not None:
            self._measure(conn)
        if self.on_reserve:
            if room and idle and conn is not None and self._grow_back(conn):
                self._leave(conn)
            else:
                self._raise()
            return
        if free is not None and free < FULL_BELOW:
            self.enter(conn, f"{free // 1024} kB free")
            return
        if not (room and idle and conn is not None):
            return
        if self.held < self.target:
            if self._grow(conn, min(STEP, self.target - self.held)) is False:
                self.enter(conn, "the database file cannot grow")
        elif free is None or free >= RESUME_ABOVE + self.start_reserve.size:
            self.start_reserve.make(None)

    def make_room(self, conn: sqlite3.Connection | None, exc: BaseException) -> bool:
        """After a write failed: True when room was made for one more try (the reserve taken, the start file freed)."""
        if not is_space_error(exc, free_bytes(self.folder)):
            return False
        made = False
        if self.start_reserve.release():
            log.warning("records: the start reserve was given up to the records")
            made = True
            if conn is not None:
                settle_log(conn)  # at once, before anything else on the disk takes that room
        if not self.on_reserve:
            self.enter(conn, str(exc))
            made = True
        elif conn is not None and self._release(conn):  # held again since (or not given at) the switch
            made = True
        if conn is not None:
            settle_log(conn)  # the log can start over instead of growing
        return made

    def enter(self, conn: sqlite3.Connection | None, why: str) -> None:
        """The disk is full: from now on every part is rejected NOT_INSPECTED and recorded in the reserve."""
        if self.on_reserve:
            return
        self.on_reserve = True
        log.error("records: the disk is full (%s): parts are rejected as NOT INSPECTED and recorded in the reserve",
                  why)
        if conn is not None:
            settle_log(conn)  # first, so that the reserve's release starts the log over instead of growing it
            self._release(conn)
            try:
                conn.execute(f"PRAGMA wal_autocheckpoint = {ON_RESERVE_CHECKPOINT}")
            except sqlite3.Error:
                pass
            settle_log(conn)
        self._raise()

    def _leave(self, conn: sqlite3.Connection) -> None:
        self.on_reserve = False
        conn.execute(f"PRAGMA wal_autocheckpoint = {NORMAL_CHECKPOINT}")
        log.info("records: the disk has room again (%s MB free): parts are judged again",
                 "?" if self.free is None else self.free // MB)
        self.alarms.clear(DISK_FULL)

    def _measure(self, conn: sqlite3.Connection) -> None:
        self.held = held_bytes(conn)
        self.reserve = self.held + free_page_bytes(conn)

    def _release(self, conn: sqlite3.Connection) -> bool:
        """Give the held reserve to the records; True when there was some to give."""
        try:
            given = release_reserve(conn)
        except sqlite3.Error as exc:  # tried again when the next write is refused
            log.warning("records: the reserve could not be given to the records: %s", exc)
            return False
        self._measure(conn)
        return given > 0

    def _grow_back(self, conn: sqlite3.Connection) -> bool:
        """On the reserve, with room on the disk: hold one more `STEP` of it again; True when the database took it."""
        missing = self.target - self.held
        if missing > 0:
            return self._grow(conn, min(STEP, missing)) is True
        return self._grow(conn, STEP, hold=False) is True  # nothing to hold back (0 MB): only a check of the room

    def _grow(self, conn: sqlite3.Connection, nbytes: int, *, hold: bool = True) -> bool | None:
        """Grow the reserve: True when done, False when the disk (or the file) has no room, None on another error."""
        try:
            grow_reserve(conn, nbytes, hold=hold)
        except sqlite3.Error as exc:
            if is_space_error(exc, free_bytes(self.folder)):
                return False
            log.warning("records: the reserve could not grow: %s", exc)
            return None
        self._measure(conn)
        return True

    def _raise(self) -> None:
        free = "?" if self.free is None else f"{self.free / MB:.0f}"
        self.alarms.raise_(DISK_FULL, free_mb=free, reserve_mb=f"{self.reserve / MB:.1f}",
                           resume_mb=RESUME_ABOVE // MB)
