"""The broker away: a real station keeps judging, keeps its MQTT results (up to mqtt.buffer_limit), alarms, and sends
what it kept once the broker (amqtt in another process, killed and started again on its port) is back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hmi.core.alarm_catalogue import MQTT_DROPPED, MQTT_LINK
from tests.support.mqtt_broker import MqttBroker, PartsSubscriber
from tests.support.stations import replay_station
from tests.support.waiting import wait_for

PREFIX = "plant/test"


def _recorded(data_dir: Path) -> set[int]:
    """The seqs in the station's records now."""
    conn = sqlite3.connect(f"file:{data_dir / 'hmi.db'}?mode=ro", uri=True)
    try:
        return {seq for (seq,) in conn.execute("SELECT seq FROM inspections")}
    finally:
        conn.close()


def _alarm_text(station, spec) -> str:
    return next((a.message for a in station.alarms.snapshot() if a.code == spec.code), "")


def _plant(broker: MqttBroker) -> PartsSubscriber:
    """The plant's subscriber: a named persistent session, so the broker keeps its subscription across a restart."""
    return PartsSubscriber(broker, topic=f"{PREFIX}/#", client_id="plant-dedup", username="plant", persistent=True)


def test_a_broker_restart_mid_run_loses_no_part(tmp_path, tiny_model):
    broker = MqttBroker(tmp_path / "broker").start()
    plant = _plant(broker)
    station = replay_station(tmp_path / "s", tiny_model, ["ok", "ng", "ok", "hold"], rate_hz=20.0, max_parts=120,
                             overrides=[f"mqtt.url={broker.url}", f"mqtt.topic_prefix={PREFIX}"])
    data = tmp_path / "s" / "data"
    station.start()
    try:
        wait_for(lambda: len(set(plant.seqs())) >= 20, "the first 20 results on MQTT")
        broker.stop()  # SIGKILL: the broker crashes
        wait_for(lambda: station.alarms.is_active(MQTT_LINK), "the MQTT_LINK alarm")
        judged = station.outlet.counts().total
        wait_for(lambda: station.outlet.counts().total >= min(judged + 20, 120), "20 parts judged while it is away")
        assert "results are kept and sent when it is back" in _alarm_text(station, MQTT_LINK)
        broker.start()
        wait_for(lambda: station.outlet.counts().total >= 120, "120 parts judged")
        recorded = wait_for(lambda: r if len(r := _recorded(data)) == 120 else None, "120 parts recorded")
        wait_for(lambda: set(plant.seqs()) >= recorded, "every recorded part on MQTT after the restart")
        wait_for(lambda: not station.alarms.is_active(MQTT_LINK), "the MQTT_LINK alarm cleared")
        counts = wait_for(lambda: c if (c := station.outputs[0].counts()).buffered == 0 else None, "nothing kept")
        assert counts.dropped == 0 and counts.connections >= 2
    finally:
        station.stop()
        plant.close()
        broker.stop()
    seqs = plant.seqs()
    assert set(seqs) == recorded  # at least once each; deduplicated by seq, exactly once
    assert not station.alarms.is_active(MQTT_DROPPED)


def test_beyond_the_buffer_limit_results_are_counted_and_alarmed_and_the_kept_ones_sent(tmp_path, tiny_model):
    broker = MqttBroker(tmp_path / "broker").start()
    _plant(broker).close()  # the plant's session and subscription, kept by the broker
    broker.stop()           # away before the station starts
    station = replay_station(tmp_path / "s", tiny_model, ["ok", "ng"], rate_hz=0.0, max_parts=30,
                             overrides=[f"mqtt.url={broker.url}", f"mqtt.topic_prefix={PREFIX}",
                                        "mqtt.buffer_limit=10"])
    station.start()
    plant = None
    try:
        wait_for(lambda: station.outlet.counts().total >= 30, "30 parts judged")
        wait_for(lambda: "20 part results were not sent" in _alarm_text(station, MQTT_DROPPED), "MQTT_DROPPED for 20")
        assert "the buffer of 10 results was full" in _alarm_text(station, MQTT_DROPPED)
        wait_for(lambda: "10 results are kept" in _alarm_text(station, MQTT_LINK), "MQTT_LINK with 10 kept")
        assert station.outputs[0].counts().dropped == 20
        broker.start()
        plant = _plant(broker)
        wait_for(lambda: len(set(plant.seqs())) >= 10, "the 10 kept results")
        wait_for(lambda: not station.alarms.is_active(MQTT_LINK), "MQTT_LINK cleared once drained")
        assert not station.alarms.is_active(MQTT_DROPPED)  # cleared, listed until acknowledged
    finally:
        station.stop()
        if plant is not None:
            plant.close()
        broker.stop()
    first = sorted(_recorded(tmp_path / "s" / "data"))[:10]
    assert sorted(set(plant.seqs())) == first  # the newest were not kept: the oldest ten went out
