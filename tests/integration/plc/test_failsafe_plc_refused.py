"""A PLC that answers but refuses the station's writes (wrong DB number, PUT/GET access off), in its own process.

Issue 15 item 7: it used to show as PLC_LINK "check the cable", flapping about five times a second
(a connect that succeeds reset the back-off, the first request failed). Now it is one PLC_REFUSED alarm
naming the DB number and PUT/GET, on a back-off a connect does not reset, logged once.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest

from hmi.core.alarm_catalogue import PLC_LINK, PLC_REFUSED
from hmi.core.messages import DeliveryStatus
from hmi.core.verdict import Verdict
from tests.support.plc_process import plc_process  # noqa: F401  (fixture)
from tests.support.waiting import wait_for

ENV = {k: v for k, v in os.environ.items() if k != "DISPLAY"}


def _events(line) -> list[tuple[str, bool]]:
    """Every raise and clear the line's alarm board announces, as (code, active), from now on."""
    seen: list[tuple[str, bool]] = []
    previous: dict[str, bool] = {}

    def note(alarm) -> None:
        if previous.get(alarm.code) != alarm.active:
            seen.append((alarm.code, alarm.active))
        previous[alarm.code] = alarm.active

    line.alarms.subscribe(note)
    return seen


@pytest.mark.expected_errors("^PLC refuses the station's requests: DB 101 does not exist")
def test_a_wrong_db_number_is_one_refusal_alarm_on_a_back_off_that_connects_do_not_reset(
        plc_process, make_line, fast_config, caplog):  # noqa: F811
    plc = plc_process(db=100)
    cfg = fast_config("127.0.0.1", plc.port, db=101, reconnect_max_s=0.8)
    caplog.set_level(logging.INFO, logger="hmi.plc")
    line = make_line(cfg)
    events = _events(line)
    # A window of parts, one after each connect attempt: every attempt connects (the PLC is there), then the
    # read of DB 101 is refused.
    for seq in range(1, 7):
        wait_for(lambda: line.signaller.status().connect_attempts >= seq, f"connect attempt {seq}", 30)
        line.send(seq, Verdict.OK)
        line.collect(seq)
    status = line.signaller.status()
    assert all(r.status is DeliveryStatus.NOT_DELIVERED and "refuses the station's requests" in r.detail
               and "DB 101 does not exist" in r.detail for r in line.reports)
    assert status.refused and not status.connected
    # One alarm, raised once and never cleared in between; never "check the cable".
    assert events in ([], [(PLC_REFUSED.code, True)])  # raised before the listener came, or right after
    assert line.alarms.is_active(PLC_REFUSED) and not line.alarms.is_active(PLC_LINK)
    alarm = next(a for a in line.alarms.snapshot() if a.code == PLC_REFUSED.code)
    assert "DB 101 does not exist" in alarm.message and "enable PUT/GET access" in alarm.message
    assert "check plc.db in station.toml (now 101" in alarm.message and "cable" not in alarm.message
    # The back-off grew to its ceiling and stayed there: those connects did not reset it.
    assert status.connect_attempts >= 6 and status.retry_delay_s == cfg.reconnect_max_s
    assert plc.state()["connections"] >= 6
    # Logged once, not once per attempt.
    refusals = [r for r in caplog.records if r.name == "hmi.plc.signaller" and r.levelno >= logging.WARNING]
    assert [r.getMessage()[:38] for r in refusals] == ["PLC refuses the station's requests: DB"]


@pytest.mark.expected_errors("^PLC refuses the station's requests: PLC 127.0.0.1 refused the (write|read) of DB 100 "
                             r"\(S7 error 0x8104: PUT/GET access is not allowed\)")
def test_put_get_access_switched_off_is_named_and_the_link_comes_back_when_it_is_allowed(
        plc_process, make_line, fast_config):  # noqa: F811
    plc = plc_process(db=100)
    line = make_line(fast_config("127.0.0.1", plc.port))
    line.send(1, Verdict.OK)
    assert line.collect(1)[0].status is DeliveryStatus.DELIVERED
    plc.command("put-get off")
    wait_for(lambda: line.alarms.is_active(PLC_REFUSED), "PLC_REFUSED", 30)
    alarm = next(a for a in line.alarms.snapshot() if a.code == PLC_REFUSED.code)
    assert "PUT/GET access is not allowed" in alarm.message and "Protection & Security" in alarm.message
    assert not line.alarms.is_active(PLC_LINK)
    for seq in (2, 3):
        line.send(seq, Verdict.NG)
    assert all(r.status is DeliveryStatus.NOT_DELIVERED and "PUT/GET" in r.detail for r in line.collect(3)[1:])

    plc.command("put-get on")
    wait_for(lambda: line.signaller.status().connected, "the link back", 30)
    assert not line.alarms.is_active(PLC_REFUSED) and not line.alarms.is_active(PLC_LINK)
    line.send(4, Verdict.OK)
    assert line.collect(4)[-1].status is DeliveryStatus.DELIVERED
    assert [r["seq"] for r in plc.state()["results"]] == [1, 4]


def test_a_station_run_against_a_wrong_db_records_one_alarm_and_logs_it_once(plc_process, tmp_path):  # noqa: F811
    plc = plc_process(db=100)
    data = tmp_path / "data"
    run = subprocess.run([sys.executable, "-m", "hmi", "run", "--headless", "--max-parts", "40", "--data-dir",
                          str(data), "--set", "plc.mode=s7", "--set", "plc.host=127.0.0.1", "--set",
                          f"plc.port={plc.port}", "--set", "plc.db=101", "--set", "camera.rate_hz=20"],
                         capture_output=True, text=True, timeout=300, env=ENV)
    assert run.returncode == 0, run.stderr
    with closing(sqlite3.connect(data / "hmi.db")) as conn:
        plc_alarms = conn.execute("SELECT code, event FROM alarm_events WHERE code LIKE 'PLC%' ORDER BY id").fetchall()
        parts = conn.execute("SELECT plc_status, plc_detail FROM inspections").fetchall()
    assert plc_alarms == [("PLC_REFUSED", "raised")]
    assert len(parts) == 40 and all(status == "not_delivered" and "DB 101 does not exist" in detail
                                    for status, detail in parts)
    assert sum("PLC refuses" in line for line in run.stderr.splitlines()) == 1, run.stderr
    assert plc.state()["results"] == []
