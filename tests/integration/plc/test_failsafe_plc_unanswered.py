"""A result write that a hung PLC (in its own process) answers too late and applies afterwards.

Issue 15 item 7: such a write was recorded not delivered while the PLC acted on it. Now the PLC thread
reads the ring slot back and corrects the record (delivered or late, saying why) when the PLC has it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest

from hmi.core.messages import DeliveryStatus
from hmi.core.verdict import Verdict
from tests.support.plc_process import plc_process  # noqa: F401  (fixture)
from tests.support.waiting import wait_for

ENV = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
HANG_S = 1.5  # longer than the station's 0.5 s wait for an answer


def _reports_for(line, seq: int) -> list:
    line.collect(0)
    return [r for r in line.reports if r.seq == seq]


@pytest.mark.expected_errors("^PLC link lost: PLC 127.0.0.1:\\d+ did not answer a write within 500 ms")
def test_a_write_the_plc_applies_after_the_station_gave_up_is_corrected_to_what_the_plc_holds(
        plc_process, make_line, fast_config):  # noqa: F811
    plc = plc_process()
    line = make_line(fast_config("127.0.0.1", plc.port, reconnect_max_s=0.4))
    line.send(1, Verdict.OK)
    assert line.collect(1)[0].status is DeliveryStatus.DELIVERED
    plc.command(f"hang-ring-writes {HANG_S}")
    line.send(2, Verdict.OK)
    (first,) = wait_for(lambda: _reports_for(line, 2), "part 2's report", 30)
    assert first.status is DeliveryStatus.NOT_DELIVERED and "may still apply it" in first.detail
    # Meanwhile the line goes on once the link is back: parts 3..9 (slots 3..7, 0, 1; part 2's slot is left alone).
    wait_for(lambda: line.signaller.status().connected, "the link back", 30)
    for seq in range(3, 10):
        line.send(seq, Verdict.NG if seq % 3 == 0 else Verdict.OK)
    wait_for(lambda: len(_reports_for(line, 2)) == 2, "part 2's corrected report", 30)
    corrected = _reports_for(line, 2)[1]
    assert corrected.status in (DeliveryStatus.DELIVERED, DeliveryStatus.LATE) and corrected.delivered_at
    assert "the PLC applied it after all" in corrected.detail and "ring slot 2" in corrected.detail
    assert plc.state()["hung_writes_landed"] == [2]
    # The PLC did take it (its program files the slot on its next scan): the records now say so.
    wait_for(lambda: {"seq": 2, "verdict": "OK", "flags": 0} in plc.state()["results"], "part 2 filed by the PLC", 30)
    line.send(10, Verdict.OK)  # part 2's slot, now free of anything unanswered
    later = [r for r in line.collect(11) if r.seq >= 3]
    assert all(r.status is DeliveryStatus.DELIVERED for r in later) and len(later) == 8
    status = line.signaller.status()
    assert (status.corrected, status.unsure, status.not_delivered) == (1, 0, 0)


def test_a_station_records_every_result_the_hung_plc_applied_as_delivered(plc_process, tmp_path):  # noqa: F811
    plc = plc_process()
    data = tmp_path / "data"
    station = subprocess.Popen([sys.executable, "-m", "hmi", "run", "--headless", "--data-dir", str(data),
                                "--set", "plc.mode=s7", "--set", "plc.host=127.0.0.1", "--set", f"plc.port={plc.port}",
                                "--set", "camera.rate_hz=20"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        wait_for(lambda: len(plc.state()["results"]) >= 5, "the station's first results at the PLC", 120)
        plc.command(f"hang-ring-writes {HANG_S}")
        (seq,) = wait_for(lambda: plc.state()["hung_writes_landed"], "the held write to land", 60)

        def recorded() -> str | None:
            with closing(sqlite3.connect(f"file:{data / 'hmi.db'}?mode=ro", uri=True)) as conn:
                row = conn.execute("SELECT plc_status FROM inspections WHERE seq = ?", (seq,)).fetchone()
            return row[0] if row and row[0] in ("delivered", "late") else None

        wait_for(recorded, f"part {seq}'s record corrected", 60)
    finally:
        station.send_signal(signal.SIGTERM)
        _, err = station.communicate(timeout=120)
    assert station.returncode == 0, err
    held = {r["seq"]: r["verdict"] for r in plc.state()["results"]}
    with closing(sqlite3.connect(data / "hmi.db")) as conn:
        rows = {s: (v, st, d) for s, v, st, d in conn.execute(
            "SELECT seq, auto_verdict, plc_status, plc_detail FROM inspections")}
    assert seq in held and "the PLC applied it after all" in rows[seq][2]
    # Every result the PLC holds is recorded with the same verdict and as having reached it.
    assert {s: (rows[s][0], rows[s][1] in ("delivered", "late")) for s in held} == {s: (v, True) for s, v in held.items()}
