"""The plant database: schema steps applied once (also by stations starting together), a newer schema refused,
monthly partitions made on demand, and the login refused in one plain message when the password is wrong."""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone

import pytest

from hmi.core.errors import ConfigError
from hmi.plant.database import (PlantDatabaseError, connect, ensure_partitions, existing_partitions, migrate,
                                schema_version)
from hmi.plant.schema import PLANT_SCHEMA_VERSION


def test_schema_steps_apply_once(plant_db):
    with connect(plant_db.plant_config()) as conn:
        assert schema_version(conn) == 0
        assert migrate(conn) == PLANT_SCHEMA_VERSION
        assert migrate(conn) == PLANT_SCHEMA_VERSION
        rows = conn.execute("SELECT version FROM plant_schema ORDER BY version").fetchall()
        assert [v for (v,) in rows] == list(range(1, PLANT_SCHEMA_VERSION + 1))
        name = conn.execute("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()").fetchone()
        assert name == ("hmi-ST-1",)


def test_stations_starting_together_do_not_race(plant_db):
    errors: list[BaseException] = []

    def one_station(n: int) -> None:
        try:
            with connect(plant_db.plant_config(f"ST-{n}")) as conn:
                migrate(conn)
                ensure_partitions(conn, [date(2026, 3, 1)])
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=one_station, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with plant_db.admin() as conn:
        assert conn.execute("SELECT count(*) FROM plant_schema").fetchone()[0] == PLANT_SCHEMA_VERSION
        assert {"parts_2026_03", "regions_2026_03"} <= existing_partitions(conn)


def test_newer_schema_is_refused(plant_db):
    with connect(plant_db.plant_config()) as conn:
        migrate(conn)
        with conn.transaction():
            conn.execute("INSERT INTO plant_schema (version, description) VALUES (%s, 'from the future')",
                         (PLANT_SCHEMA_VERSION + 1,))
        with pytest.raises(PlantDatabaseError, match="newer than this station's software knows") as err:
            migrate(conn)
        assert "update this station's software" in str(err.value)


def test_partitions_made_late_take_their_rows_from_default(plant_db):
    at = datetime(2026, 5, 17, 8, 30, tzinfo=timezone.utc)
    with connect(plant_db.plant_config()) as conn:
        migrate(conn)
        with conn.transaction():
            conn.execute("INSERT INTO parts (station_id, seq, line, captured_at, recipe, auto_verdict, verdict, "
                         "plc_status) VALUES ('ST-1', 1, 'L1', %s, 'demo', 'OK', 'OK', 'sent')", (at,))
            conn.execute("INSERT INTO regions (station_id, seq, idx, captured_at, x, y, w, h, area_px, label) "
                         "VALUES ('ST-1', 1, 0, %s, 1, 2, 3, 4, 12, 'scratch')", (at,))
        made = ensure_partitions(conn, [date(2026, 5, 1), date(2026, 6, 9)])
        assert sorted(made) == ["parts_2026_05", "parts_2026_06", "regions_2026_05", "regions_2026_06"]
        assert ensure_partitions(conn, [date(2026, 5, 1)]) == []
        where = conn.execute("SELECT tableoid::regclass::text FROM parts WHERE seq = 1").fetchone()[0]
        assert where == "parts_2026_05"
        assert conn.execute("SELECT count(*) FROM parts_default").fetchone()[0] == 0
        assert conn.execute("SELECT tableoid::regclass::text FROM regions").fetchone()[0] == "regions_2026_05"
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT count(*) FROM parts WHERE captured_at >= '2026-06-01' AND captured_at < '2026-07-01'"))
        assert "parts_2026_06" in plan and "parts_2026_05" not in plan


def test_wrong_password_is_one_plain_message(plant_db, monkeypatch):
    monkeypatch.setenv("HMI_PLANT_PASSWORD", "not-the-password")
    with pytest.raises(PlantDatabaseError) as err:
        connect(plant_db.plant_config())
    assert str(err.value) == (f"the plant database 127.0.0.1:{plant_db.server.port}/{plant_db.name} refused the "
                              "password of user hmi — check the password in the environment variable HMI_PLANT_PASSWORD")
    assert "not-the-password" not in str(err.value)


def test_missing_password_says_where_to_put_it(plant_db, monkeypatch):
    monkeypatch.delenv("HMI_PLANT_PASSWORD")
    with pytest.raises(PlantDatabaseError, match="asks for a password and none is set"):
        connect(plant_db.plant_config())


def test_password_in_the_url_is_refused(plant_db):
    cfg = plant_db.plant_config(database=plant_db.url.replace("hmi@", f"hmi:{plant_db.password}@"))
    with pytest.raises(ConfigError, match="URL in station.toml contains a password") as err:
        connect(cfg)
    assert plant_db.password not in str(err.value)


def test_world_readable_password_file_is_refused(plant_db, tmp_path, monkeypatch):
    monkeypatch.delenv("HMI_PLANT_PASSWORD")
    secret = tmp_path / "plant.secret"
    secret.write_text(plant_db.password + "\n")
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="can be read by other users") as err:
        connect(plant_db.plant_config(password_file=str(secret)))
    assert "chmod 600" in str(err.value)
    secret.chmod(0o600)
    with connect(plant_db.plant_config(password_file=str(secret))) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_server_not_answering_is_one_plain_message(plant_db):
    cfg = plant_db.plant_config(database=f"postgresql://hmi@127.0.0.1:1/{plant_db.name}")
    with pytest.raises(PlantDatabaseError, match=r"127.0.0.1:1/.* is not answering .* the records wait here"):
        connect(cfg)
