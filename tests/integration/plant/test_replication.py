"""A demo station replicates its records into a real PostgreSQL: every part once, with its regions, its
reviewed verdict and its PLC status; the audit trail verifies from the plant database alone (`hmi plant
verify`), and a plant audit row changed behind the station's back is named."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import replace

from hmi.core.verdict import Verdict
from tests.support.postgres import demo_station, local_parts, plant_parts
from tests.support.waiting import wait_for

ENV = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
PARTS = 40


def hmi(*args, env):
    """`hmi ...` in its own process, as a person would run it."""
    return subprocess.run([sys.executable, "-m", "hmi", *args], capture_output=True, text=True, timeout=120,
                          env={**ENV, **env})


def test_a_demo_station_replicates_every_part_once_with_reviews_regions_and_a_verifiable_audit(tmp_path, plant_db):
    data = tmp_path / "data"
    station = demo_station(data, plant_db, "L1-S01", max_parts=PARTS)
    setup = station.active.get()  # a wide borderline band: defective demo parts are held for review
    station.active.set(replace(setup, thresholds=replace(setup.thresholds, hold_above=1000.0)))
    replication = station.outputs[0].worker
    assert replication.role == "plant database"
    station.start()
    try:
        held = wait_for(lambda: station.holds.pending(), "a part held for review")[0].part
        station.holds.decide(held.seq, Verdict.NG, "olga", "scratch", "visible scratch")
        station.audit("olga", "alarm_ack", "PLANT_DB")
        wait_for(lambda: station.outlet.counts().total >= PARTS, "the demo's parts judged")
        # The plant catches up with everything the station recorded: the review and the PLC statuses included.
        wait_for(lambda: local_parts(data) and plant_parts(plant_db, "L1-S01") == local_parts(data)
                 and len(local_parts(data)) == PARTS, "the plant to hold every part as recorded", 60)
    finally:
        station.stop()
    assert plant_parts(plant_db, "L1-S01")[held.seq][1:3] == ("NG", "HOLD")
    with sqlite3.connect(data / "hmi.db") as conn:
        regions_here = conn.execute("SELECT seq, idx, x, y, w, h, area_px, label FROM regions ORDER BY 1, 2").fetchall()
        audit_here = conn.execute("SELECT count(*) FROM audit").fetchone()[0]
    with plant_db.admin() as conn:
        regions_there = conn.execute("SELECT seq, idx, x, y, w, h, area_px, label FROM regions "
                                     "WHERE station_id = 'L1-S01' ORDER BY 1, 2").fetchall()
        station_row = conn.execute("SELECT line, parts_in_plant, local_high_seq, behind FROM stations").fetchall()
        shifts = conn.execute("SELECT count(*) FROM parts WHERE shift = '' OR shift_start IS NULL").fetchone()[0]
        models = conn.execute("SELECT count(*) FROM models WHERE station_id = 'L1-S01'").fetchone()[0]
        partitions = {r[0] for r in conn.execute("SELECT DISTINCT tableoid::regclass::text FROM parts")}
    assert regions_there == regions_here and regions_here
    assert station_row == [("Line 1", PARTS, max(local_parts(data)), 0)]
    assert shifts == 0 and models == 1  # the default shifts cover the day; the demo judges with one model
    assert partitions and "parts_default" not in partitions

    verify = hmi("plant", "verify", "--data-dir", str(data), *_sets(plant_db, "L1-S01"), env=plant_db.env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "L1-S01" in verify.stdout and f"{audit_here} entries" in verify.stdout and "OK" in verify.stdout

    with plant_db.admin() as conn:  # someone "corrects" the review in the plant's copy of the audit trail
        tampered = conn.execute("UPDATE audit SET new_value = 'OK' WHERE station_id = 'L1-S01' AND action = 'review' "
                                "RETURNING id").fetchone()[0]
    verify = hmi("plant", "verify", "--data-dir", str(data), *_sets(plant_db, "L1-S01"), env=plant_db.env)
    assert verify.returncode == 1
    assert f"first broken at id {tampered}" in verify.stdout and "changed" in verify.stdout


def _sets(plant_db, station_id):
    return [a for s in plant_db.overrides(station_id) for a in ("--set", s)]


def test_a_restarted_station_resumes_from_the_plant_watermark(tmp_path, plant_db):
    data = tmp_path / "data"
    first = demo_station(data, plant_db, "L1-S02", max_parts=15)
    first.start()
    try:
        wait_for(lambda: len(local_parts(data)) == 15 and plant_parts(plant_db, "L1-S02") == local_parts(data),
                 "the first run's parts in the plant")
    finally:
        first.stop()
    left_at = first.outputs[0].worker.watermarks["part_changes"]
    second = demo_station(data, plant_db, "L1-S02", max_parts=10)
    replication = second.outputs[0].worker
    second.start()
    try:
        wait_for(lambda: len(local_parts(data)) == 25 and plant_parts(plant_db, "L1-S02") == local_parts(data),
                 "both runs' parts in the plant")
    finally:
        second.stop()
    with sqlite3.connect(data / "hmi.db") as conn:
        changes_since = conn.execute("SELECT count(*) FROM part_changes WHERE id > ?", (left_at,)).fetchone()[0]
    conn.close()
    # only what changed after the first run's watermark was sent again: the plant's watermark, not a full resend
    assert 0 < replication.sent["part_changes"] <= changes_since
