"""The local PostgreSQL keeps its port and data across a stop and a start, and is stopped by its context."""

from __future__ import annotations

import psycopg
import pytest

from hmi.plant.local_server import LocalPostgres


def test_stop_and_start_keep_port_and_data(tmp_path):
    with LocalPostgres(tmp_path / "pg") as server:
        assert server.running
        server.create_role("hmi", "pw")
        server.create_database("plant", "hmi")
        with psycopg.connect(server.url(), password="pw", autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")
            conn.execute("INSERT INTO kept VALUES (42)")
        port = server.port
        server.stop()
        assert not server.running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(server.url(), password="pw", connect_timeout=2)
        again = LocalPostgres(tmp_path / "pg")  # as a drill or another process would reopen it
        again.start()
        assert again.port == port and server.running
        with psycopg.connect(server.url(), password="pw") as conn:
            assert conn.execute("SELECT n FROM kept").fetchone() == (42,)
    assert not server.running
