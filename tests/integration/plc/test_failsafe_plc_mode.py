"""No silent simulated PLC: plc.mode must be written out, and a simulated PLC stands on every screen.

Issue 15 item 4: plc.mode defaulted to simulated, so a station.toml that gave the real PLC's host but no
mode (or no [plc] at all) signalled an in-process fake PLC and recorded every part delivered.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from hmi.config.loader import load_station
from hmi.core.alarm_catalogue import PLC_SIMULATED
from hmi.core.alarms import Priority
from hmi.ui.health import Level, station_health
from tests.support.plc_process import plc_process  # noqa: F401  (fixture)
from tests.support.stations import replay_station
from tests.support.waiting import wait_for

ENV = {k: v for k, v in os.environ.items() if k != "DISPLAY"}


def _run(data) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hmi", "run", "--headless", "--max-parts", "1", "--data-dir",
                           str(data)], capture_output=True, text=True, timeout=120, env=ENV)


@pytest.mark.parametrize("plc_section", ['[plc]\nhost = "192.168.0.10"\ndb = 100\n', ""],
                         ids=["host without mode", "no [plc] at all"])
def test_a_station_file_without_plc_mode_refuses_to_start_with_one_message(tmp_path, plc_section):
    data = tmp_path / "data"
    load_station(data)  # the folder as first made: the demo's station.toml
    path = data / "station.toml"
    text = re.sub(r"\[plc\][^\[]*", plc_section, path.read_text())
    path.write_text(text)
    run = _run(data)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"hmi: {path}: key 'plc.mode': not set: write mode = \"s7\" under [plc]")
    assert "\"simulated\"" in lines[0] and "\"off\"" in lines[0]
    assert not (data / "hmi.db").exists()  # refused before anything was opened


def test_the_demo_folder_made_on_first_run_says_simulated_in_so_many_words(tmp_path):
    cfg = load_station(tmp_path / "data")
    assert cfg.plc.mode == "simulated"
    assert re.search(r'^\[plc\]\nmode = "simulated"', (tmp_path / "data" / "station.toml").read_text(), re.M)


@pytest.fixture
def started(tmp_path, tiny_model):
    made = []

    def start(*overrides: str):
        station = replay_station(tmp_path / f"s{len(made)}", tiny_model, ["ok"] * 4, overrides=overrides)
        made.append(station)
        station.start()
        return station

    yield start
    for station in made:
        station.stop()


def _plc_tile(station) -> tuple[Level, str]:
    return next((h.level, h.text) for h in station_health(station.status(), has_model=True) if h.name == "PLC")


def test_a_simulated_plc_stands_on_every_screen_until_the_station_stops(started):
    station = started("plc.mode=simulated")
    wait_for(lambda: station.alarms.is_active(PLC_SIMULATED), "PLC_SIMULATED", 30)
    wait_for(lambda: station.outlet.counts().total >= 3, "parts", 60)
    alarm = next(a for a in station.alarms.snapshot() if a.code == PLC_SIMULATED.code)
    assert alarm.priority is Priority.LOW
    assert alarm.message == ("The PLC is simulated inside the station (plc.mode = simulated): the line does not act "
                             "on the verdicts — set plc.mode to s7 (and plc.host) in station.toml when this station "
                             "runs a real line")
    assert _plc_tile(station) == (Level.WARN, "SIMULATED")  # the status zone, on every screen
    station.alarms.acknowledge(PLC_SIMULATED.code, "olga")
    assert station.alarms.is_active(PLC_SIMULATED) and _plc_tile(station) == (Level.WARN, "SIMULATED")


def test_a_real_plc_shows_no_simulation_banner(plc_process, started):  # noqa: F811  (the PLC outlives the station)
    plc = plc_process()
    station = started("plc.mode=s7", "plc.host=127.0.0.1", f"plc.port={plc.port}")
    wait_for(lambda: len(plc.state()["results"]) >= 3, "results at the PLC", 60)
    assert not station.alarms.is_active(PLC_SIMULATED) and _plc_tile(station) == (Level.OK, "OK")
