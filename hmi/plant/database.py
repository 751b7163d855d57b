"""The plant database (PostgreSQL): connecting from [plant], its schema steps applied once, monthly partitions.

Everything that talks to the plant database connects here: the replication worker, `hmi plant status` and
`verify`, plant reports. The password comes from the environment or an owner-only file (hmi.plant.secrets),
never from the URL, and never reaches a log: errors name the server by its redacted URL.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from hmi.config.schema import PlantConfig
from hmi.core.errors import ConfigError, StationError
from hmi.plant.schema import PLANT_MIGRATIONS, PLANT_SCHEMA_VERSION
from hmi.plant.secrets import read_secret, redacted, refuse_password_in_url

if TYPE_CHECKING:
    import psycopg

WHAT = "plant database"
# pg_advisory_xact_lock keys: one for schema steps, one for new partitions (any bigint; these spell 'hmiplant'...).
MIGRATION_LOCK = 0x686D69706C616E74
PARTITION_LOCK = 0x686D69706C616E75
PARTITIONED = ("parts", "regions")  # tables partitioned by month of captured_at
STATEMENT_TIMEOUT_S = 120


class PlantDatabaseError(StationError):
    """The plant database cannot be reached, refused this station, or holds something this software cannot use.

    `problem` is the same in a few words for the PLANT_DB alarm ('refused the password of user hmi').
    """

    def __init__(self, what: str, todo: str = "", *, problem: str = "") -> None:
        super().__init__(what, todo)
        self.problem = problem or what


def server_name(cfg: PlantConfig) -> str:
    """The plant server as people may see it: host:port/db, never a password."""
    parts = urlsplit(redacted(cfg.database))
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path}"


def plant_password(cfg: PlantConfig) -> str | None:
    """The plant database password from the environment or the password file; a password in the URL is refused."""
    refuse_password_in_url(WHAT, cfg.database, cfg.password_env)
    return read_secret(WHAT, cfg.password_env, cfg.password_file)


def connect(cfg: PlantConfig, *, timeout_s: float | None = None) -> psycopg.Connection:
    """A connection to the plant database (transactions explicit, not autocommit), named hmi-<station_id>.

    Raises ConfigError for a password in the URL or an unsafe password file, PlantDatabaseError when the
    server does not answer or refuses the login, each in one plain message.
    """
    if not cfg.database:
        raise ConfigError("no plant database is configured",
                          "set [plant] database (and station_id) in station.toml, or --set plant.database=URL")
    password = plant_password(cfg)
    import psycopg

    timeout = max(1, math.ceil(cfg.connect_timeout_s if timeout_s is None else timeout_s))
    kwargs: dict[str, object] = {
        "connect_timeout": timeout,
        "application_name": f"hmi-{cfg.station_id}" if cfg.station_id else "hmi",
        # A server that vanishes without closing the socket is noticed in about half a minute.
        "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
        "options": f"-c statement_timeout={STATEMENT_TIMEOUT_S * 1000} -c timezone=UTC",
    }
    if password is not None:
        kwargs["password"] = password
    try:
        return psycopg.connect(cfg.database, **kwargs)
    except psycopg.Error as exc:
        raise explain(cfg, exc) from None


def explain(cfg: PlantConfig, exc: Exception) -> PlantDatabaseError:
    """A psycopg error in plain words: what happened to the plant database and what to do next."""
    text = str(exc)
    user = urlsplit(cfg.database).username or "(default user)"
    where = f"the password file {cfg.password_file}" if cfg.password_file else f"the environment variable {cfg.password_env}"
    if "password authentication failed" in text:
        problem, todo = f"refused the password of user {user}", f"check the password in {where}"
    elif "no password supplied" in text:
        problem, todo = "asks for a password and none is set", f"give user {user}'s password in {where}"
    elif "does not exist" in text and ("database" in text or "role" in text):
        problem = f"says: {first_line(text)}"
        todo = "check [plant] database in station.toml or ask the plant's database administrator"
    else:
        problem = f"is not answering ({first_line(text)})"
        todo = "check the server and the network; the records wait here and are sent when it answers"
    return PlantDatabaseError(f"the plant database {server_name(cfg)} {problem}", todo, problem=problem)


def first_line(text: str) -> str:
    """The gist of a PostgreSQL or libpq message: its first line, without the connection preamble."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    line = lines[0] if lines else "no reason given"
    # libpq's "connection to server at ... failed: FATAL:  why" -> keep the why
    return line.split("failed: ", 1)[-1].replace("FATAL:  ", "").strip() or line


def schema_version(conn: psycopg.Connection) -> int:
    """The plant schema's version (0: none yet)."""
    exists = conn.execute("SELECT to_regclass('plant_schema') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM plant_schema").fetchone()[0]


def migrate(conn: psycopg.Connection) -> int:
    """Apply the plant schema steps this database lacks, each in its own transaction; returns the version.

    Stations that start together take turns on a transaction-level advisory lock, so each step runs once.
    A database with a newer schema than this software knows is refused.
    """
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_signed(MIGRATION_LOCK),))
            conn.execute("CREATE TABLE IF NOT EXISTS plant_schema ("
                         " version integer PRIMARY KEY, description text NOT NULL,"
                         " applied_at timestamptz NOT NULL DEFAULT now())")
            current = conn.execute("SELECT coalesce(max(version), 0) FROM plant_schema").fetchone()[0]
            if current > PLANT_SCHEMA_VERSION:
                raise PlantDatabaseError(
                    f"the plant database has schema version {current}, newer than this station's software "
                    f"knows (version {PLANT_SCHEMA_VERSION})",
                    "update this station's software to the plant's release; nothing was sent")
            step = next((m for m in PLANT_MIGRATIONS if m.version > current), None)
            if step is None:
                return current
            conn.execute(step.sql)
            conn.execute("INSERT INTO plant_schema (version, description) VALUES (%s, %s)",
                         (step.version, step.description))


def month_of(moment: datetime) -> date:
    """The first day of `moment`'s month in UTC: the partition a part captured then belongs to."""
    utc = moment.astimezone(timezone.utc) if moment.tzinfo else moment
    return date(utc.year, utc.month, 1)


def partition_name(table: str, month: date) -> str:
    """The partition of `table` for `month`: parts_2026_12, regions_2026_12."""
    return f"{table}_{month.year:04d}_{month.month:02d}"


def existing_partitions(conn: psycopg.Connection) -> set[str]:
    """Names of the monthly partitions that exist (the DEFAULT ones not included)."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s)", (list(PARTITIONED),)).fetchall()
    return {name for (name,) in rows if not name.endswith("_default")}


def ensure_partitions(conn: psycopg.Connection, months: Iterable[date]) -> list[str]:
    """Make the monthly partitions of parts and regions for `months` that do not exist yet; returns those made.

    Call it between transactions: each month is one transaction of its own under an advisory lock (stations
    may ask at once), committed before the month's first part is written. Rows of that month
    already in the DEFAULT partition move into the new one, so making a partition late never fails.
    """
    from psycopg import sql

    made: list[str] = []
    wanted = sorted({date(m.year, m.month, 1) for m in months})
    if not wanted:
        return made
    with conn.transaction():
        known = existing_partitions(conn)
    for month in wanted:
        if all(partition_name(t, month) in known for t in PARTITIONED):
            continue
        start, end = _month_bounds(month)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_signed(PARTITION_LOCK),))
            known = existing_partitions(conn)
            for table in PARTITIONED:
                name = partition_name(table, month)
                if name in known:
                    continue
                conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(
                    sql.Identifier(name), sql.Identifier(table)))
                conn.execute(sql.SQL("WITH moved AS (DELETE FROM {} WHERE captured_at >= %s AND captured_at < %s "
                                     "RETURNING *) INSERT INTO {} SELECT * FROM moved").format(
                    sql.Identifier(f"{table}_default"), sql.Identifier(name)), (start, end))
                conn.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(table), sql.Identifier(name), sql.Literal(start), sql.Literal(end)))
                made.append(name)
    return made


def _month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=timezone.utc)
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return start, datetime(following.year, following.month, 1, tzinfo=timezone.utc)


def _signed(key: int) -> int:
    """A 64-bit key as PostgreSQL's signed bigint."""
    return key - (1 << 64) if key >= (1 << 63) else key
