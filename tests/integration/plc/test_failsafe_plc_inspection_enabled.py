"""The PLC's "inspection enabled" bit (DB byte 78, bit 0), from a PLC in its own process: no trigger while it is off.

Issue 15 item 7: the bit was read and ignored. Now, while the PLC has inspection disabled, the capture thread
triggers no part, the alarm INSPECTION_DISABLED says so and the camera tile reads DISABLED BY PLC.
"""

from __future__ import annotations

import pytest

from hmi.core.alarm_catalogue import INSPECTION_DISABLED
from hmi.ui.health import Level, station_health
from tests.support.plc_process import plc_process  # noqa: F401  (fixture)
from tests.support.stations import replay_station
from tests.support.waiting import wait_for


@pytest.fixture
def station_on(tmp_path, tiny_model):
    made = []

    def build(port: int):
        station = replay_station(tmp_path, tiny_model, ["ok", "ng"] * 4, rate_hz=40,
                                 overrides=["plc.mode=s7", "plc.host=127.0.0.1", f"plc.port={port}"])
        made.append(station)
        return station

    yield build
    for station in made:
        station.stop()


def _heartbeat(plc) -> int:
    return plc.state()["header"]["heartbeat"]


def test_no_part_is_triggered_while_the_plc_has_inspection_disabled(plc_process, station_on):  # noqa: F811
    plc = plc_process()
    station = station_on(plc.port)
    station.start()
    wait_for(lambda: station.capture.parts >= 5, "the first parts", 60)

    plc.command("inspection off")
    wait_for(lambda: station.alarms.is_active(INSPECTION_DISABLED), "INSPECTION_DISABLED", 30)
    alarm = next(a for a in station.alarms.snapshot() if a.code == INSPECTION_DISABLED.code)
    assert alarm.message.startswith("Inspection disabled by the PLC (DB 100 byte 78 bit 0 is off)")
    tiles = {h.name: (h.level, h.text) for h in station_health(station.status(), has_model=True)}
    assert tiles["Camera"] == (Level.WARN, "DISABLED BY PLC")
    settled = station.capture.parts  # a part already being triggered as the alarm came is let finish
    beat = _heartbeat(plc)
    # Ten vision heartbeats (2.5 s, a hundred parts at this line's rate): the station keeps running, triggers nothing.
    wait_for(lambda: _heartbeat(plc) >= beat + 10, "ten vision heartbeats", 60)
    assert station.capture.parts <= settled + 1
    assert station.plc_status().inspection_enabled is False

    plc.command("inspection on")
    wait_for(lambda: not station.alarms.is_active(INSPECTION_DISABLED), "the alarm to clear", 30)
    resumed = station.capture.parts
    wait_for(lambda: station.capture.parts >= resumed + 5, "parts again", 60)
