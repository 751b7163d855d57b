"""A real PostgreSQL for the tests: one server per session (pgserver's bundled binaries), a fresh database per test.

Use in a conftest.py or test module: `from tests.support.postgres import postgres_server, plant_db  # noqa: F401`.
`plant_db` gives a `PlantDb`: its URL (no password in it), the password (also put in HMI_PLANT_PASSWORD for
the test), a `plant_config(station_id)` for [plant] and a superuser connection to look inside. A test that
stops the server (an outage) takes `own_postgres` instead, a server of its own. `demo_station` builds the
demo station replicating to such a database; `local_parts` and `plant_parts` read both sides.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hmi.config.loader import load_station
from hmi.config.schema import PlantConfig
from hmi.plant.local_server import LocalPostgres
from hmi.station import Station, build_station

STATION_USER = "hmi"
STATION_PASSWORD = "plant-test-password"
_numbers = itertools.count(1)


@dataclass
class PlantDb:
    """One fresh plant database on a test server, with the station role's password."""

    server: LocalPostgres
    name: str
    user: str = STATION_USER
    password: str = STATION_PASSWORD
    env: dict[str, str] = field(default_factory=lambda: {"HMI_PLANT_PASSWORD": STATION_PASSWORD})

    @property
    def url(self) -> str:
        """The stations' URL: postgresql://hmi@127.0.0.1:PORT/NAME (the password comes from HMI_PLANT_PASSWORD)."""
        return self.server.url(self.user, self.name)

    def plant_config(self, station_id: str = "ST-1", **fields) -> PlantConfig:
        """[plant] pointed at this database, with short intervals for tests."""
        values = {"database": self.url, "station_id": station_id, "interval_s": 0.2, "retry_max_s": 1.0,
                  "connect_timeout_s": 2.0}
        values.update(fields)
        return PlantConfig(**values)

    def overrides(self, station_id: str = "ST-1") -> list[str]:
        """`--set` overrides that point a station (or `hmi plant ...`) at this database."""
        return [f"plant.database={self.url}", f"plant.station_id={station_id}"]

    def admin(self):
        """A superuser connection (autocommit) to this database, to look inside or to tamper."""
        return self.server.admin(self.name)


def start_server(folder) -> LocalPostgres:
    """A started server with the station role `hmi` (password STATION_PASSWORD)."""
    server = LocalPostgres(folder)
    server.start()
    server.create_role(STATION_USER, STATION_PASSWORD)
    return server


def new_database(server: LocalPostgres) -> PlantDb:
    """A fresh empty database owned by the station role."""
    name = f"plant_{os.getpid()}_{next(_numbers)}"
    server.create_database(name, STATION_USER)
    return PlantDb(server, name)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory) -> Iterator[LocalPostgres]:
    """One PostgreSQL 16 for the whole session, on 127.0.0.1 at a free port."""
    server = start_server(tmp_path_factory.mktemp("postgres"))
    yield server
    server.stop()


@pytest.fixture
def plant_db(postgres_server, monkeypatch) -> Iterator[PlantDb]:
    """A fresh database for this test, with HMI_PLANT_PASSWORD set; dropped afterwards."""
    if not postgres_server.running:  # a test before stopped it and failed before starting it again
        postgres_server.start()
    db = new_database(postgres_server)
    monkeypatch.setenv("HMI_PLANT_PASSWORD", db.password)
    yield db
    postgres_server.drop_database(db.name)


@pytest.fixture
def own_postgres(tmp_path) -> Iterator[PlantDb]:
    """A server of this test's own (it may stop and start it) with one fresh database; HMI_PLANT_PASSWORD is
    not set here (pass `db.env` to the station's process, or monkeypatch it)."""
    server = start_server(tmp_path / "postgres")
    try:
        yield new_database(server)
    finally:
        server.stop()


# --- demo stations replicating to a test database ---------------------------------------------------------
PART_FIELDS = "seq, verdict, auto_verdict, plc_status, reviewed_by, score, recipe, model_sha256"


def demo_station(data: Path, db: PlantDb, station_id: str, *, max_parts: int, rate_hz: float = 25,
                 settings: Sequence[str] = ()) -> Station:
    """The demo station (simulated PLC) in `data`, replicating to `db` as `station_id`; not started."""
    cfg = load_station(data, ["plc.mode=simulated", f"camera.rate_hz={rate_hz}", *db.overrides(station_id),
                              "plant.interval_s=0.3", "plant.retry_max_s=1", "plant.batch_size=16", *settings])
    return build_station(cfg, data, max_parts=max_parts)


def local_parts(data: Path) -> dict[int, tuple]:
    """A station's own parts (PART_FIELDS), by seq."""
    with closing(sqlite3.connect(data / "hmi.db")) as conn:
        rows = conn.execute(f"SELECT {PART_FIELDS} FROM inspections").fetchall()
    return {r[0]: r for r in rows}


def plant_parts(db: PlantDb, station_id: str) -> dict[int, tuple]:
    """The plant's copy of one station's parts (PART_FIELDS), by seq; fails the test if a part is there twice.
    Empty while the station has not yet made the plant's tables."""
    with db.admin() as conn:
        if conn.execute("SELECT to_regclass('parts')").fetchone()[0] is None:
            return {}
        rows = conn.execute(f"SELECT {PART_FIELDS} FROM parts WHERE station_id = %s", (station_id,)).fetchall()
    assert len(rows) == len({r[0] for r in rows}), "a part is in the plant database twice"
    return {r[0]: r for r in rows}
