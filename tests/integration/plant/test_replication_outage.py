"""The plant server goes away mid-run: the station judges on (its capture count keeps rising), PLANT_DB is
raised, and once the server is back every part judged meanwhile arrives exactly once. A refused password is
one alarm in plain words (never the password), and the line runs on."""

from __future__ import annotations

import pytest

from tests.support.postgres import demo_station, local_parts, plant_parts
from tests.support.waiting import wait_for

PARTS = 400  # the camera stops here; the test needs far fewer, it only must not run out while the server is away


def _judged(station) -> int:
    return station.outlet.counts().total


def test_parts_judged_while_the_plant_server_is_down_arrive_once_after_it_returns(own_postgres, monkeypatch):
    db = own_postgres
    monkeypatch.setenv("HMI_PLANT_PASSWORD", db.password)
    data = db.server.folder.parent / "data"
    station = demo_station(data, db, "L1-S07", max_parts=PARTS, rate_hz=20)
    replication = station.outputs[0].worker
    station.start()
    try:
        wait_for(lambda: len(plant_parts(db, "L1-S07")) >= 10, "the first parts in the plant")
        db.server.stop()
        wait_for(lambda: station.alarms.is_active("PLANT_DB"), "the PLANT_DB alarm")
        alarm = next(a for a in station.alarms.snapshot() if a.code == "PLANT_DB")
        assert f"127.0.0.1:{db.server.port}/{db.name}" in alarm.message and "the line runs on" in alarm.message
        judged_at_outage = _judged(station)
        # The line does not wait for the plant: parts keep being captured and judged while it is away.
        wait_for(lambda: _judged(station) >= judged_at_outage + 30, "parts judged while the plant is away")
        assert station.alarms.is_active("PLANT_DB") and not replication.connected
        down_high = max(local_parts(data))
        db.server.start()
        wait_for(lambda: not station.alarms.is_active("PLANT_DB"), "PLANT_DB to clear once the server is back")
        wait_for(lambda: set(plant_parts(db, "L1-S07")) >= set(range(1, down_high + 1)) - _unrecorded(data),
                 "the parts judged during the outage in the plant")
    finally:
        station.stop()
    here, there = local_parts(data), plant_parts(db, "L1-S07")
    assert down_high > judged_at_outage and set(range(1, down_high + 1)) & set(here) <= set(there)
    with db.admin() as conn:
        # exactly once: one row per part, and the plant's own count of the station's parts agrees
        total, distinct = conn.execute("SELECT count(*), count(DISTINCT seq) FROM parts").fetchone()
        counted = conn.execute("SELECT parts_in_plant FROM stations WHERE station_id = 'L1-S07'").fetchone()[0]
    assert total == distinct == counted == len(there)


def _unrecorded(data) -> set[int]:
    """Part numbers never recorded (none on a healthy demo station; kept so the wait names only real parts)."""
    here = local_parts(data)
    return set(range(1, max(here) + 1)) - set(here)


@pytest.mark.parametrize("how", ["wrong password", "password file others can read"])
def test_a_refused_login_is_one_alarm_and_the_line_runs_on(tmp_path, plant_db, monkeypatch, how):
    settings = []
    if how == "wrong password":
        monkeypatch.setenv("HMI_PLANT_PASSWORD", "guessed-wrong")
        expected = "refused the password of user hmi"
    else:
        secret = tmp_path / "plant.secret"
        secret.write_text(plant_db.password + "\n")
        secret.chmod(0o644)
        settings = [f"plant.password_file={secret}"]
        expected = "can be read by other users"
    station = demo_station(tmp_path / "data", plant_db, "L1-S08", max_parts=PARTS, rate_hz=20, settings=settings)
    station.start()
    try:
        wait_for(lambda: station.alarms.is_active("PLANT_DB"), "the PLANT_DB alarm")
        judged = _judged(station)
        wait_for(lambda: _judged(station) >= judged + 10, "parts judged while the plant refuses the station")
        alarm = next(a for a in station.alarms.snapshot() if a.code == "PLANT_DB")
    finally:
        station.stop()
    assert expected in alarm.message and plant_db.password not in alarm.message
    assert "guessed-wrong" not in alarm.message
