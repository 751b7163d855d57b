"""Whose write-ahead log is this? Tell the records database's own `hmi.db-wal` from one copied beside it.

SQLite replays any valid `-wal` file it finds beside a database, whatever database wrote it. Opening the
file is enough to replay it, so the check reads the raw files first (https://sqlite.org/fileformat2.html).

How a log is bound to its database: a WAL *lineage* begins when a writer finds no log to continue; its
header's salt-1 is random then, and each restart of the log adds one to both salt-1 and the checkpoint
sequence number, so `salt-1 - checkpoint sequence` (mod 2**32) names the lineage for as long as it lasts.
The station writes that name into the database header's `application_id` at the start of every lineage
(`claim`): first a page-1-only commit that sets `application_id` to `opening_mark(old id)`, which starts the
lineage, then the lineage's name. A log is the database's own when

- its lineage name equals the main file's `application_id` (the name reached the main file: always so
  once the log has restarted, since a restart needs everything checkpointed), or
- it is the lineage's first log (checkpoint sequence 0) and its first commit is that opening commit: page 1
  alone, carrying `opening_mark(main file's id)` or, if that commit was already checkpointed, the main
  file's id itself.

Anything else with a valid first frame is foreign, also a log another program (a `sqlite3` shell) began on
this very file and left behind: nothing tells the two apart. A log SQLite would not replay (bad header, torn
first frame) is no danger and passes, and so does a log a running program holds open (`log_in_use`): opening
replays nothing then. A main file with `application_id` 0 was written by a station before this check
existed: it has no identity yet, so its log passes (it gets one at the station's first start).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path

WAL_MAGIC = (0x377F0682, 0x377F0683)  # low bit set: checksums over big-endian words
WAL_VERSION = 3007000
WAL_HEADER = 32
FRAME_HEADER = 24
JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")
APPLICATION_ID_OFFSET = 68  # in the database header (page 1)
_OPENING = 0x5EA1_0A1D      # opening_mark(x) = x XOR this: never equal to x


def wal_path(db_path: Path) -> Path:
    """The database's write-ahead log file."""
    return db_path.with_name(db_path.name + "-wal")


def journal_path(db_path: Path) -> Path:
    """The database's rollback journal file (a WAL-mode database never has one of its own)."""
    return db_path.with_name(db_path.name + "-journal")


def opening_mark(identity: int) -> int:
    """The `application_id` the opening commit of a lineage writes, derived from the id before it."""
    return (identity ^ _OPENING) & 0xFFFFFFFF


def new_identity() -> int:
    """A random, non-zero identity for a new database file."""
    return secrets.randbelow(0xFFFFFFFE) + 1


def as_pragma(identity: int) -> int:
    """`identity` (0 .. 2**32-1) as PRAGMA application_id takes it: a signed 32-bit number."""
    identity &= 0xFFFFFFFF
    return identity - (1 << 32) if identity >= 1 << 31 else identity


@dataclass(frozen=True)
class WalHead:
    """What the check needs of a log that SQLite would replay: its lineage and its first frame."""

    lineage: int
    checkpoints: int
    first_page: int
    first_is_commit: bool
    first_application_id: int | None  # the application_id on the first frame's page, when that page is page 1


def _checksum(data: bytes, big_endian: bool, s1: int, s2: int) -> tuple[int, int]:
    """SQLite's WAL checksum (walChecksumBytes) over `data`, continuing from (s1, s2)."""
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s1 = (s1 + words[i] + s2) & 0xFFFFFFFF
        s2 = (s2 + words[i + 1] + s1) & 0xFFFFFFFF
    return s1, s2


def read_wal_head(wal: Path) -> WalHead | None:
    """The log's lineage and first frame, or None when SQLite would replay nothing from it."""
    try:
        with wal.open("rb") as fh:
            header = fh.read(WAL_HEADER)
            if len(header) < WAL_HEADER:
                return None
            magic, version, page_size, checkpoints, salt1, salt2, c1, c2 = struct.unpack(">8I", header)
            if magic not in WAL_MAGIC or version != WAL_VERSION:
                return None
            if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
                return None
            big_endian = bool(magic & 1)
            if _checksum(header[:24], big_endian, 0, 0) != (c1, c2):
                return None
            frame = fh.read(FRAME_HEADER + page_size)
    except FileNotFoundError:
        return None
    if len(frame) < FRAME_HEADER + page_size:
        return None
    page_no, commit, f_salt1, f_salt2, f1, f2 = struct.unpack(">6I", frame[:FRAME_HEADER])
    if page_no == 0 or (f_salt1, f_salt2) != (salt1, salt2):
        return None
    s = _checksum(frame[:8], big_endian, c1, c2)
    if _checksum(frame[FRAME_HEADER:], big_endian, *s) != (f1, f2):
        return None
    page = frame[FRAME_HEADER:]
    app_id = struct.unpack(">I", page[APPLICATION_ID_OFFSET:APPLICATION_ID_OFFSET + 4])[0] if page_no == 1 else None
    return WalHead((salt1 - checkpoints) & 0xFFFFFFFF, checkpoints, page_no, commit != 0, app_id)


def file_identity(db_path: Path) -> int | None:
    """The main file's `application_id` (the station's identity of it); None when the file has no header yet."""
    try:
        with db_path.open("rb") as fh:
            head = fh.read(100)
    except FileNotFoundError:
        return None
    if len(head) < 100:
        return None
    return struct.unpack(">I", head[APPLICATION_ID_OFFSET:APPLICATION_ID_OFFSET + 4])[0]


def foreign_log(db_path: Path) -> str:
    """Why a `-wal` or `-journal` beside `db_path` is not the database's own, in words; "" when it is (or none)."""
    journal = journal_path(db_path)
    try:
        with journal.open("rb") as fh:
            start = fh.read(8)
    except FileNotFoundError:
        start = b""
    if start and start[0] != 0:  # SQLite would play it back (or delete it) on opening
        kind = "a rollback journal" if start == JOURNAL_MAGIC else "a file"
        return (f"{journal.name} ({kind}) lies beside {db_path.name}, but the station's database never uses a "
                "rollback journal: it was copied there or left by another program")
    head = read_wal_head(wal_path(db_path))
    if head is None or log_in_use(db_path):
        return ""
    identity = file_identity(db_path)
    if identity is None:
        return (f"{wal_path(db_path).name} lies beside {db_path.name}, which is empty or missing: the log cannot "
                "be this database's own")
    if identity in (0, head.lineage):
        return ""
    if (head.checkpoints == 0 and head.first_page == 1 and head.first_is_commit
            and head.first_application_id in (opening_mark(identity), identity)):
        return ""
    return (f"{wal_path(db_path).name} was not written by this {db_path.name} (it belongs to another database, "
            "or to an older copy of this one); opening the database would replay it into the records")


def log_in_use(db_path: Path) -> bool:
    """True when a running program holds the database's log open (a lock on its -shm file; Linux /proc/locks).

    Opening then replays nothing (the log is already that program's live state), so the check stands aside.
    Read from /proc/locks, never by opening the -shm file: closing a file drops the process's own locks on it.
    Elsewhere False: the check is always made.
    """
    shm = db_path.with_name(db_path.name + "-shm")
    try:
        st = shm.stat()
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            table = fh.read()
    except OSError:
        return False
    mark = f" {os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino} "
    return mark in table


def claim(conn: sqlite3.Connection, db_path: Path) -> None:
    """Write the current WAL lineage's name into the database header, once per lineage (see the module text).

    Runs on a write connection in WAL mode, outside a transaction; each step is a transaction of its own.
    """
    wal = wal_path(db_path)
    conn.execute("BEGIN IMMEDIATE")
    try:
        head = read_wal_head(wal)
        identity = int(conn.execute("PRAGMA application_id").fetchone()[0]) & 0xFFFFFFFF
        if head is None:  # no log to continue: this commit starts the lineage, recognisably ours
            conn.execute(f"PRAGMA application_id = {as_pragma(opening_mark(identity))}")
            conn.execute("COMMIT")
            conn.execute("BEGIN IMMEDIATE")
            head = read_wal_head(wal)
            identity = opening_mark(identity)
        if head is not None and head.lineage != identity:
            conn.execute(f"PRAGMA application_id = {as_pragma(head.lineage)}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise


def create_database_file(db_path: Path) -> None:
    """Make `db_path` a new, empty WAL-mode database with an identity of its own, owner-only (0600).

    Built under a temporary name and linked into place, so `db_path` never exists half made, never in
    rollback mode, and a database another process made meanwhile is kept.
    """
    tmp = db_path.with_name(f"{db_path.name}.new-{os.getpid()}")
    for side in (tmp, tmp.with_name(tmp.name + "-journal"), wal_path(tmp), tmp.with_name(tmp.name + "-shm")):
        side.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute(f"PRAGMA application_id = {as_pragma(new_identity())}")
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
        if db_path.exists() and db_path.stat().st_size == 0:
            os.replace(tmp, db_path)  # an empty file in its place: nothing of anyone's to keep
        else:
            try:
                os.link(tmp, db_path)
            except FileExistsError:
                pass  # another process made it first: use theirs
            except OSError:  # a file system without hard links
                if not db_path.exists():
                    os.replace(tmp, db_path)
    finally:
        tmp.unlink(missing_ok=True)
