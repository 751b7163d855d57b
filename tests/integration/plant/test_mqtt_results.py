"""MQTT results from a real station on the tiny model to a real broker (amqtt in another process), read by paho
subscribers as the plant would: one QoS 1 message per part with its fields, the station's state retained, and
the last will when the station process dies."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from tests.support.mqtt_broker import MqttBroker, PartsSubscriber
from tests.support.stations import replay_station
from tests.support.waiting import wait_for

PREFIX = "plant/test"
STATION_ID = "L1-S03"


def _records(data_dir: Path) -> dict[int, sqlite3.Row]:
    """The station's records by seq, read from its SQLite file."""
    conn = sqlite3.connect(f"file:{data_dir / 'hmi.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return {r["seq"]: r for r in conn.execute("SELECT * FROM inspections")}
    finally:
        conn.close()


def test_each_part_reaches_the_plant_once_with_its_fields_and_the_state_is_retained(tmp_path, tiny_model):
    kinds = ["ok", "ng", "hold"]
    with MqttBroker(tmp_path / "broker") as broker, PartsSubscriber(broker, topic=f"{PREFIX}/#") as plant:
        station = replay_station(tmp_path / "s", tiny_model, kinds, rate_hz=20.0, max_parts=12, overrides=[
            f"mqtt.url={broker.url}", f"mqtt.topic_prefix={PREFIX}", f"plant.station_id={STATION_ID}"])
        station.start()
        try:
            wait_for(lambda: len(set(plant.seqs())) >= 12, "12 results on MQTT")
            wait_for(lambda: "Operational" in plant.states(), "the state Operational on MQTT")
            with PartsSubscriber(broker, topic=f"{PREFIX}/+/state", client_id="late-subscriber") as late:
                retained = wait_for(lambda: late.on("/state"), "the retained state for a late subscriber")[0]
            # (amqtt hands a retained message to a new subscription at QoS 0; live state messages are QoS 1)
            assert retained.retain and retained.payload["state"] == "Operational"
            assert retained.topic == f"{PREFIX}/{STATION_ID}/state"
        finally:
            station.stop()
        wait_for(lambda: plant.states()[-1:] == ["Halted"], "the state Halted after the station stopped")
    rows = _records(tmp_path / "s" / "data")
    results = plant.on("/result")
    assert sorted(m.payload["seq"] for m in results) == sorted(rows)  # each part once: no outage, nothing resent
    assert {m.topic for m in results} == {f"{PREFIX}/{STATION_ID}/result"}
    assert all(m.qos == 1 and not m.retain for m in results)
    assert {m.payload["verdict"] for m in results} == {"OK", "NG", "HOLD"}
    for m in results:
        msg, row = m.payload, rows[m.payload["seq"]]
        assert msg["station"] == "Station 1" and msg["station_id"] == STATION_ID and msg["line"] == "Line 1"
        assert msg["verdict"] == msg["auto_verdict"] == row["auto_verdict"] and msg["v"] == 2
        assert msg["final"] is (msg["verdict"] != "HOLD")  # a HOLD's final verdict follows its review (300 s here)
        assert msg["recipe"] == row["recipe"] == "ui-test" and msg["threshold_version"] == row["threshold_version"]
        assert msg["model"] == row["model_name"] and msg["model_sha256"] == row["model_sha256"]
        assert len(msg["model_sha256"]) == 64 and msg["backend"] == row["backend"]
        assert abs(msg["score"] - row["score"]) < 1e-5 and msg["defect_code"] == (row["defect_code"] or 0)
        assert msg["captured_at"].endswith("Z") and msg["decided_at"].endswith("Z")
        captured = datetime.fromisoformat(msg["captured_at"].replace("Z", "+00:00"))
        assert abs((captured - datetime.fromisoformat(row["captured_at"])).total_seconds()) < 0.002
        assert msg["latency_ms"] >= 0 and "part_id" not in msg
    states = plant.on("/state")
    assert all(s.qos == 1 for s in states)
    assert all(s.payload["software"].startswith("hmi ") and s.payload["since"].endswith("Z") for s in states)


def test_a_station_process_that_dies_is_shown_offline_by_its_last_will(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    with MqttBroker(tmp_path / "broker") as broker, PartsSubscriber(broker, topic="hmi/+/state") as plant:
        station = subprocess.Popen(
            [sys.executable, "-m", "hmi", "run", "--headless", "--data-dir", str(tmp_path / "data"),
             "--set", f"mqtt.url={broker.url}", "--set", "plc.mode=off", "--set", "camera.rate_hz=5"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        try:
            wait_for(lambda: "Operational" in plant.states() or station.poll() is not None,
                     "the station's state Operational on MQTT", 120)
            assert station.poll() is None, station.stderr.read()
            station.send_signal(signal.SIGKILL)
            station.wait(30)
            wait_for(lambda: plant.states()[-1:] == ["Offline"], "the last will Offline after the station died")
        finally:
            if station.poll() is None:
                station.kill()
                station.wait(30)
            station.stderr.close()
        will = plant.on("/state")[-1]
        assert will.topic == "hmi/Station-1/state" and will.payload["station"] == "Station 1"
        with PartsSubscriber(broker, topic="hmi/+/state", client_id="late-subscriber") as late:
            retained = wait_for(lambda: late.on("/state"), "the retained last will")[0]
        assert retained.retain and retained.payload["state"] == "Offline"
