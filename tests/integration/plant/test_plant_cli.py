"""Two stations replicate into one plant database side by side; `hmi plant status` shows each one's lag and the
station's own newest part against the plant's; `status` and `verify` end with one message (exit 2) when the
plant database is not configured or not reachable."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.support.postgres import demo_station, local_parts, plant_parts
from tests.support.waiting import wait_for

ENV = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
PARTS = 25


def hmi(*args, env=None):
    """`hmi ...` in its own process, as a person would run it."""
    return subprocess.run([sys.executable, "-m", "hmi", *args], capture_output=True, text=True, timeout=120,
                          env={**ENV, **(env or {})})


def _sets(db, station_id):
    return [a for s in db.overrides(station_id) for a in ("--set", s)]


def test_two_stations_share_one_plant_database_and_status_shows_each_lag(tmp_path, plant_db):
    stations = {sid: demo_station(tmp_path / sid, plant_db, sid, max_parts=PARTS, rate_hz=20,
                                  settings=[f"station.line={line}"])
                for sid, line in (("L1-S01", "Line 1"), ("L2-S01", "Line 2"))}
    for station in stations.values():
        station.start()
    try:
        for sid in stations:
            wait_for(lambda: len(here := local_parts(tmp_path / sid)) == PARTS and plant_parts(plant_db, sid) == here,
                     f"{sid}'s parts in the plant as recorded", 60)
            wait_for(lambda: _behind(plant_db, sid) == 0, f"{sid} to report no lag")
    finally:
        for station in stations.values():
            station.stop()

    status = hmi("plant", "status", "--data-dir", str(tmp_path / "L1-S01"), *_sets(plant_db, "L1-S01"),
                 env=plant_db.env)
    assert status.returncode == 0, status.stderr
    out = status.stdout
    assert f"Plant database 127.0.0.1:{plant_db.server.port}/{plant_db.name}" in out and "2 stations" in out
    for sid, line in (("L1-S01", "Line 1"), ("L2-S01", "Line 2")):
        row = next(ln for ln in out.splitlines() if ln.strip().startswith(sid))
        assert re.search(rf"{sid}\s+{line}\s+\d+ s ago\s+{PARTS}\s+{PARTS}\s+0\s+0\.0$", row.strip()), row
    assert f"This station (L1-S01): newest part here {PARTS}" in out and f"newest in the plant {PARTS} — up to date" in out

    verify = hmi("plant", "verify", "--data-dir", str(tmp_path / "L2-S01"), *_sets(plant_db, "L2-S01"),
                 env=plant_db.env)
    assert verify.returncode == 0 and "L1-S01" in verify.stdout and "L2-S01" in verify.stdout, verify.stdout
    only = hmi("plant", "verify", "--station", "L2-S01", "--data-dir", str(tmp_path / "L2-S01"),
               *_sets(plant_db, "L2-S01"), env=plant_db.env)
    assert only.returncode == 0 and "L1-S01" not in only.stdout


def _behind(db, station_id):
    with db.admin() as conn:
        row = conn.execute("SELECT behind FROM stations WHERE station_id = %s", (station_id,)).fetchone()
    return None if row is None else row[0]


def test_status_without_a_plant_database_or_with_it_away_is_one_message(tmp_path, plant_db):
    data = tmp_path / "data"
    none = hmi("plant", "status", "--data-dir", str(data))
    assert none.returncode == 2
    assert none.stderr.strip().splitlines() == [
        "hmi: no plant database is configured — set [plant] database (and station_id) in station.toml, "
        "or --set plant.database=URL"]
    away = hmi("plant", "status", "--data-dir", str(data), "--set", "plant.database=postgresql://hmi@127.0.0.1:1/plant",
               "--set", "plant.station_id=L1-S01", "--set", "plant.connect_timeout_s=2", env=plant_db.env)
    assert away.returncode == 2 and len(away.stderr.strip().splitlines()) == 1
    assert away.stderr.startswith("hmi: the plant database 127.0.0.1:1/plant is not answering")
    wrong = hmi("plant", "verify", "--data-dir", str(data), *_sets(plant_db, "L1-S01"),
                env={"HMI_PLANT_PASSWORD": "nope"})
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1
    assert "refused the password of user hmi" in wrong.stderr and "nope" not in wrong.stderr
    in_url = hmi("plant", "status", "--data-dir", str(data), "--set",
                 f"plant.database={plant_db.url.replace('hmi@', 'hmi:secret@')}", "--set", "plant.station_id=L1-S01")
    assert in_url.returncode == 2 and "contains a password" in in_url.stderr and "secret" not in in_url.stderr


def test_a_station_with_a_plant_database_but_no_station_id_refuses_to_start_with_one_message(tmp_path):
    result = hmi("run", "--headless", "--max-parts", "1", "--data-dir", str(tmp_path / "data"),
                 "--set", "plant.database=postgresql://hmi@127.0.0.1:1/plant")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "plant.station_id is not" in lines[0] and "station_id = " in lines[0]
