"""`hmi plant demo` as a person runs it: a local PostgreSQL and three demo stations feeding it for a short while;
every part each station recorded reaches the plant once, and when it ends nothing is left running."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from hmi.plant.demo import DEMO_FOLDER, DEMO_STATIONS
from hmi.plant.local_server import LocalPostgres

ENV = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}


def _processes_under(folder: Path) -> list[str]:
    """Command lines of the processes that name `folder` (stations, PostgreSQL)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in cmd:
            found.append(f"{pid}: {cmd}")
    return found


def test_the_demo_feeds_the_plant_from_three_stations_and_stops_everything(tmp_path):
    data = tmp_path / "data"
    run = subprocess.run([sys.executable, "-m", "hmi", "plant", "demo", "--minutes", "0.3", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=300, env=ENV)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    folder = data / DEMO_FOLDER
    password_file = folder / "plant-password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert password_file.read_text(encoding="utf-8").strip() not in out + run.stderr
    assert "parts in plant" in out and "Plant report — since the demo started" in out
    assert "Stations                   3 on 2 line(s)" in out
    assert all(f"Station {sid} stopped (exit 0)." in out for sid, _, _ in DEMO_STATIONS)
    assert _processes_under(data) == []
    server = LocalPostgres(folder / "postgres")
    assert not server.running

    server.start()
    try:
        with server.admin("plant") as conn:
            in_plant = dict(conn.execute("SELECT station_id, count(*) FROM parts GROUP BY 1").fetchall())
            twice = conn.execute("SELECT count(*) FROM (SELECT 1 FROM parts GROUP BY station_id, seq "
                                 "HAVING count(*) > 1) d").fetchone()[0]
    finally:
        server.stop()
    for sid, _, _ in DEMO_STATIONS:
        with closing(sqlite3.connect(folder / sid / "hmi.db")) as conn:
            recorded = conn.execute("SELECT count(*) FROM inspections").fetchone()[0]
        assert recorded > 0 and in_plant.get(sid) == recorded, (sid, recorded, in_plant)
    assert twice == 0
