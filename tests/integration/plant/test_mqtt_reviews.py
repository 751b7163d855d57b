"""A HOLD part's final verdict on MQTT: a real station on the tiny model, a real broker (amqtt in another process)
and the plant's paho subscriber. The HOLD part goes out at once with "final": false; its review (an operator's
through the station, or the recipe's default when the review time runs out) follows on the same topic as the
final message, kept by the station like a result while the broker is away."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hmi.core.alarm_catalogue import MQTT_LINK
from hmi.core.messages import TIMEOUT_REVIEWER
from hmi.core.verdict import Verdict
from tests.support.mqtt_broker import MqttBroker, PartsSubscriber
from tests.support.stations import PIN, replay_station
from tests.support.waiting import wait_for

PREFIX = "plant/test"
FIELDS_OF_THE_PART = ("v", "station", "line", "seq", "auto_verdict", "score", "confidence", "recipe", "model",
                      "model_sha256", "threshold_version", "backend", "captured_at", "decided_at", "latency_ms")


def _record(data_dir: Path, seq: int) -> sqlite3.Row:
    conn = sqlite3.connect(f"file:{data_dir / 'hmi.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM inspections WHERE seq = ?", (seq,)).fetchone()
    finally:
        conn.close()


def _of(plant: PartsSubscriber, seq: int) -> list[dict]:
    """The result messages received for part `seq`, in arrival order."""
    return [m.payload for m in plant.on("/result") if m.payload["seq"] == seq]


def _final(plant: PartsSubscriber, seq: int) -> dict | None:
    return next((m for m in _of(plant, seq) if m["final"]), None)


def test_an_operators_review_of_a_hold_part_reaches_the_plant_as_its_final_verdict(tmp_path, tiny_model):
    with MqttBroker(tmp_path / "broker") as broker, PartsSubscriber(broker, topic=f"{PREFIX}/#") as plant:
        station = replay_station(tmp_path / "s", tiny_model, ["hold", "ok", "ng"], rate_hz=20.0, max_parts=6,
                                 overrides=[f"mqtt.url={broker.url}", f"mqtt.topic_prefix={PREFIX}"])
        station.start()
        try:
            held = wait_for(lambda: station.holds.pending(), "a HOLD part waiting for review")[0].part.seq
            wait_for(lambda: _of(plant, held), "the HOLD part's result on MQTT")
            olga = station.users.authenticate("olga", PIN["olga"])
            station.review(held, Verdict.NG, olga, "crack", "seen on the review screen")
            final = wait_for(lambda: _final(plant, held), "the operator's verdict on MQTT")
            wait_for(lambda: len({m.payload["seq"] for m in plant.on("/result")}) >= 6, "every part on MQTT")
        finally:
            station.stop()
    first, *rest = _of(plant, held)
    assert rest == [final]  # no outage: one HOLD message, then one final message
    assert (first["verdict"], first["final"]) == ("HOLD", False) and "reviewed_by" not in first
    assert (final["verdict"], final["auto_verdict"], final["final"]) == ("NG", "HOLD", True)
    assert (final["reviewed_by"], final["automatic"]) == ("olga", False)
    assert (final["defect_type"], final["defect_code"]) == ("crack", 3)  # "crack" is the recipe's third type
    assert final["reason"] == "reviewed by olga: seen on the review screen"
    assert {k: final[k] for k in FIELDS_OF_THE_PART} == {k: first[k] for k in FIELDS_OF_THE_PART}
    assert final["v"] == 2
    row = _record(tmp_path / "s" / "data", held)
    assert (row["verdict"], row["reviewed_by"], row["defect_type"]) == ("NG", "olga", "crack")
    assert final["reviewed_at"] == row["reviewed_at"] and final["reviewed_at"].endswith("Z")
    others = [m.payload for m in plant.on("/result") if m.payload["seq"] != held]
    held_others = {m["seq"] for m in others if m["verdict"] == "HOLD"}
    assert all(m["final"] is (m["verdict"] != "HOLD") for m in others)
    assert all(not _final(plant, seq) for seq in held_others)  # not reviewed yet (300 s) when the station stopped


def test_a_hold_that_times_out_while_the_broker_is_away_reaches_the_plant_when_it_is_back(tmp_path, tiny_model):
    broker = MqttBroker(tmp_path / "broker").start()
    plant = PartsSubscriber(broker, topic=f"{PREFIX}/#", client_id="plant-reviews", username="plant",
                            persistent=True)  # keeps its subscription across the broker's restart
    station = replay_station(tmp_path / "s", tiny_model, ["hold", "ok"], rate_hz=20.0, max_parts=2, hold_timeout_s=5,
                             overrides=[f"mqtt.url={broker.url}", f"mqtt.topic_prefix={PREFIX}"])
    station.start()
    try:
        held = wait_for(lambda: station.holds.pending(), "a HOLD part waiting for review")[0].part.seq
        wait_for(lambda: len(plant.seqs()) >= 2, "both parts on MQTT")
        broker.stop()  # SIGKILL: the broker crashes
        wait_for(lambda: station.alarms.is_active(MQTT_LINK), "the MQTT_LINK alarm")
        wait_for(lambda: not station.holds.pending(), "the HOLD part's review time running out (5 s)")
        wait_for(lambda: station.outputs[0].counts().reviews == 1, "the timed-out verdict kept for MQTT")
        assert _final(plant, held) is None
        broker.start()
        final = wait_for(lambda: _final(plant, held), "the recipe's default on MQTT after the restart")
        wait_for(lambda: not station.alarms.is_active(MQTT_LINK), "the MQTT_LINK alarm cleared")
    finally:
        station.stop()
        plant.close()
        broker.stop()
    assert (final["verdict"], final["auto_verdict"], final["final"]) == ("NG", "HOLD", True)  # the recipe's default
    assert (final["reviewed_by"], final["automatic"]) == (TIMEOUT_REVIEWER, True)
    assert (final["defect_type"], final["defect_code"]) == (None, 0)
    assert "not reviewed within 5 s" in final["reason"]
    row = _record(tmp_path / "s" / "data", held)
    assert (row["verdict"], row["reviewed_by"]) == ("NG", TIMEOUT_REVIEWER)
    # Deduplicated by (seq, final): one HOLD and one final message for the held part, whatever was sent again.
    assert {(m["seq"], m["final"]) for m in _of(plant, held)} == {(held, False), (held, True)}
