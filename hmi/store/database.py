"""Open the records database DATA_DIR/hmi.db: refuse foreign or newer files untouched, else migrate and tune it."""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path

from hmi.config.paths import PRIVATE_DIR_MODE, make_private
from hmi.core.errors import StoreError
from hmi.store.schema import MIGRATIONS, SCHEMA_VERSION, Migration
from hmi.store.wal_identity import claim, create_database_file, foreign_log, wal_path

log = logging.getLogger("hmi.store")

__all__ = [
    "BUSY_TIMEOUT_MS", "DB_FILENAME", "SCHEMA_VERSION", "database_path", "iso_utc", "migrate",
    "open_database", "open_readonly", "refuse_unknown", "schema_version", "transaction",
]

DB_FILENAME = "hmi.db"
BUSY_TIMEOUT_MS = 5000
_SQLITE_MAGIC = b"SQLite format 3\x00"
_UNTOUCHED = "the file was left untouched"


def database_path(data_dir: Path) -> Path:
    """Where the records database lives inside the data directory."""
    return Path(data_dir) / DB_FILENAME


def iso_utc(moment: datetime | None) -> str | None:
    """ISO-8601 UTC text with milliseconds and 'Z' (sorts as time); a naive datetime is taken as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (PRAGMA user_version)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


class RecordsConnection(sqlite3.Connection):
    """A write connection of `open_database`: knows its file and whether its WAL lineage is claimed yet."""

    db_path: Path
    wal_claimed: bool = True


def _claim_if_pending(conn: sqlite3.Connection) -> None:
    """Claim the WAL lineage now if opening could not (a full disk); raises what SQLite raises."""
    if isinstance(conn, RecordsConnection) and not conn.wal_claimed:
        claim(conn, conn.db_path)
        conn.wal_claimed = True


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT on an autocommit connection; rolls back when the block raises."""
    _claim_if_pending(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        # SQLite ends the transaction by itself on some errors (disk full); roll back only if still open.
        if conn.in_transaction:
            conn.rollback()
        raise
    conn.execute("COMMIT")


@contextmanager
def guarded_transaction(conn: sqlite3.Connection, what: str, todo: str,
                        lock: threading.Lock | threading.RLock | None = None) -> Iterator[sqlite3.Connection]:
    """`transaction`, under `lock` when given; an SQLite error becomes StoreError(f"{what} ({error})", todo)."""
    with lock if lock is not None else nullcontext():
        try:
            with transaction(conn) as tx:
                yield tx
        except sqlite3.Error as exc:
            raise StoreError(f"{what} ({exc})", todo) from None


def _check_header(path: Path) -> None:
    """Refuse a file that is not SQLite before SQLite is allowed near it."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read the records database {path} ({exc.strerror or exc})",
                         "check that the data folder exists and the station may read and write it") from None
    if head and head != _SQLITE_MAGIC:
        raise StoreError(f"{path} is not a records database (it is not a SQLite file)",
                         f"move the file away or choose another data folder; {_UNTOUCHED}")


def _probe(path: Path) -> tuple[int, list[str]]:
    """Schema version and table names, read so that nothing is written, not even -wal/-shm side files."""
    # Without a -wal file the main file holds everything: open it as immutable (no locks, no side files).
    # With one, a read-only connection reads through the WAL, which may hold a newer schema version.
    wal = path.with_name(path.name + "-wal")
    uri = f"{path.resolve().as_uri()}?{'mode=ro' if wal.exists() else 'immutable=1'}"
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)) as conn:
            version = schema_version(conn)
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} cannot be read as a records database ({exc})",
                         f"move the file away or choose another data folder; {_UNTOUCHED}") from None
    return version, tables


def refuse_foreign_log(path: Path) -> None:
    """Raise StoreError when a write-ahead log or journal beside `path` is not its own (see wal_identity)."""
    problem = foreign_log(path)
    if problem:
        side = ", ".join(p.name for p in (wal_path(path), path.with_name(path.name + "-shm"),
                                          path.with_name(path.name + "-journal")) if p.exists())
        raise StoreError(f"the records database {path} will not be opened: {problem}",
                         f"stop every program using {path.parent}, move {side} out of that folder (keep it for "
                         f"service) and start again; every file was left untouched")


def _refuse_unknown(path: Path, known: int, migrations: Sequence[Migration]) -> None:
    """Raise StoreError, before any write, for a foreign log, a newer schema or a SQLite file that is not ours."""
    refuse_foreign_log(path)
    if not path.exists() or path.stat().st_size == 0:
        return
    _check_header(path)
    version, tables = _probe(path)
    if version > known:
        raise StoreError(
            f"{path} was written by a newer version of the station (records schema {version}, "
            f"this program knows up to {known})",
            f"install the newer station software or choose another data folder; {_UNTOUCHED}")
    if version == 0 and tables:
        raise StoreError(
            f"{path} is a SQLite database but not the station's records (it holds tables: {', '.join(tables[:5])})",
            f"move the file away or choose another data folder; {_UNTOUCHED}")
    missing = sorted(expected_tables(tuple(m for m in migrations if m.version <= version)) - set(tables))
    if version > 0 and missing:
        raise StoreError(
            f"{path} lacks the table{'s' if len(missing) > 1 else ''} {', '.join(missing)} of records schema "
            f"{version}: it was removed behind the station's back",
            f"keep a copy of the file for the quality manager, then restore the database from a backup or move it "
            f"away to start a new one; {_UNTOUCHED}")


def refuse_unknown(path: Path) -> None:
    """Raise StoreError, reading only, when `path` is not this station's records as it left them."""
    _refuse_unknown(Path(path), SCHEMA_VERSION, MIGRATIONS)


@functools.lru_cache(maxsize=8)
def expected_tables(migrations: tuple[Migration, ...]) -> frozenset[str]:
    """The tables a database made by `migrations` holds (built once in memory)."""
    with closing(sqlite3.connect(":memory:", isolation_level=None)) as conn:
        migrate(conn, migrations)
        return frozenset(r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))


def missing_tables(conn: sqlite3.Connection) -> list[str]:
    """Tables the database's schema version should hold but it lacks (removed behind the station's back)."""
    version = schema_version(conn)
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return sorted(expected_tables(tuple(m for m in MIGRATIONS if m.version <= version)) - present)


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply every migration newer than the database, each in its own transaction; returns the new version."""
    for step in migrations:
        if schema_version(conn) >= step.version:
            continue
        _claim_if_pending(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            if schema_version(conn) >= step.version:
                conn.execute("COMMIT")
                continue
            # executescript would COMMIT first, so the statements run one by one inside our transaction.
            for statement in _statements(step.sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {int(step.version)}")
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.rollback()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"updating the records database to schema {step.version} "
                                 f"({step.description}) failed: {exc}",
                                 "the database was left at its previous version; free disk space or call service") from exc
            raise
    return schema_version(conn)


def _statements(sql: str) -> Iterator[str]:
    """Split a script into complete statements (trigger bodies hold semicolons of their own)."""
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                yield pending.strip()
            pending = ""
    if pending.strip() and not pending.strip().startswith("--"):
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:80]}")


def _tune(conn: sqlite3.Connection, synchronous: str) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"the records database cannot use write-ahead logging (journal mode stays '{mode}')",
                         "keep the data folder on a local disk, not a network share")
    # NORMAL in WAL mode: a commit survives a killed process; FULL also survives a power cut.
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    # Keep the -wal file from staying large after a burst.
    conn.execute("PRAGMA journal_size_limit = 67108864")


def open_database(path: Path, *, synchronous: str = "NORMAL",
                  migrations: Sequence[Migration] = MIGRATIONS) -> sqlite3.Connection:
    """Open (creating or migrating) the records database for writing; StoreError in plain words on refusal.

    The connection is in autocommit mode: writers use `transaction()` (BEGIN IMMEDIATE). It may be
    handed to another thread, but only one thread at a time may use it.
    """
    if synchronous not in ("NORMAL", "FULL"):
        raise ValueError("synchronous must be NORMAL or FULL")
    path = Path(path)
    known = migrations[-1].version if migrations else 0
    try:
        path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the data folder {path.parent} ({exc.strerror or exc})",
                         "check the data folder setting and that the station may write there") from None
    _refuse_unknown(path, known, migrations)
    try:
        if not path.exists() or path.stat().st_size == 0:
            create_database_file(path)
        elif make_private(path):
            log.info("records: %s was readable by others; now by the station's account only", path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000, factory=RecordsConnection)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open the records database {path} ({exc})",
                         "check that the data folder exists and the station may write to it") from None
    conn.db_path = path
    try:
        _tune(conn, synchronous)
        _claim(conn)
        migrate(conn, migrations)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot prepare the records database {path} ({exc})",
                         "free disk space, check folder permissions, or call service") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _claim(conn: RecordsConnection) -> None:
    """Claim the WAL lineage at opening; on a full disk, before the connection's first write instead."""
    try:
        claim(conn, conn.db_path)
    except sqlite3.OperationalError as exc:
        conn.wal_claimed = False
        log.warning("records: the write-ahead log's identity could not be written yet (%s); "
                    "it will be before the first write", exc)


def open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection for queries and reports; refuses a missing file instead of creating one."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"there is no records database at {path}", "check the data folder setting")
    refuse_foreign_log(path)
    _check_header(path)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        version = schema_version(conn)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the records database {path} ({exc})",
                         "check the file and its folder permissions") from None
    if version > SCHEMA_VERSION:
        conn.close()
        raise StoreError(f"{path} was written by a newer version of the station (records schema {version})",
                         "use the newer station software to read it")
    conn.row_factory = sqlite3.Row
    return conn
