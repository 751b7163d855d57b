"""A full disk, seen by a PLC in another process (python-snap7's server): every result it holds has its row.

The records-and-PLC stage the station builds (store thread -> PLC thread over S7), on a real SQLite file whose
disk fills through `PRAGMA max_page_count` (tests/support/full_disk.py). The PLC gets NOT_INSPECTED results
while the reserve lasts, then station state 2 (fault) and no results, then judged results again.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest
import snap7

from hmi.config.loader import load_station
from hmi.core.alarm_catalogue import DISK_FULL, STORE_WRITE
from hmi.core.alarms import AlarmBoard
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.plc.layout import StationState, VisionHeader
from hmi.station.queues import records_queues
from hmi.station.records_and_plc import RecordsAndPlc
from hmi.store.reserve import MB
from hmi.store.writer import NOT_SENT, ON_RESERVE
from tests.support.full_disk import FillingDisk
from tests.support.waiting import wait_for


class Plc:
    """The simulated PLC in its own process, and a client that reads the station's header as the PLC sees it."""

    def __init__(self, record) -> None:
        self.record = record
        self.proc = subprocess.Popen([sys.executable, "-m", "hmi.plc.simulator", "--port", "0", "--record",
                                      str(record)], stdout=subprocess.PIPE, text=True)
        self.port = int(re.search(r":(\d+)", self.proc.stdout.readline()).group(1))
        self.client = snap7.client.Client()
        self.client.connect("127.0.0.1", 0, 1, self.port)

    def station_state(self) -> StationState:
        """Byte 2 of the interface DB, as the PLC reads it."""
        return VisionHeader.decode(self.client.db_read(100, 0, 8)).state

    def stop(self) -> dict:
        """Stop the PLC; what it received."""
        self.client.disconnect()
        self.client.destroy()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.communicate(timeout=30)
        return json.loads(self.record.read_text())


@pytest.mark.expected_errors("the disk is full", "database write failed: database or disk is full")
def test_the_plc_holds_only_results_whose_rows_are_durable_and_sees_the_fault_while_none_can_be(
        tmp_path, decided_part):
    plc = Plc(tmp_path / "plc.json")
    data = tmp_path / "data"
    cfg = load_station(data, ["plc.mode=s7", "plc.host=127.0.0.1", f"plc.port={plc.port}",
                              "store.records_reserve_mb=1", "plc.delivery_deadline_ms=60000"])
    records_in = BoundedQueue("records", 100_000)
    alarms = AlarmBoard()
    stage = RecordsAndPlc(cfg, data, records_queues(cfg.pipeline), records_in=records_in,
                          reviews=BoundedQueue("reviews", 10), alarms=alarms, writer_type=FillingDisk)
    writer = stage.writer
    offered = 0

    def offer(n: int, verdict: Verdict = Verdict.OK) -> list[int]:
        nonlocal offered
        seqs = list(range(offered + 1, offered + n + 1))
        for seq in seqs:
            assert records_in.offer(decided_part(seq, verdict))
        offered += n
        return seqs

    def settled() -> bool:  # every part the store took has its PLC status written
        with closing(sqlite3.connect(writer.db_path)) as conn:
            return conn.execute("SELECT count(*) FROM inspections WHERE plc_status IS NULL OR "
                                "plc_status = 'pending'").fetchone()[0] == 0 and len(records_in) == 0

    def offer_until(alarm, what: str, burst: int) -> None:
        """Parts at a line's pace (the next burst once the last one is settled) until `alarm` comes."""
        def step() -> bool:
            if alarms.is_active(alarm):
                return True
            if settled():
                offer(burst)
            return False
        wait_for(step, what)

    stage.start()
    try:
        wait_for(lambda: writer.room.reserve >= MB, "the reserve inside the database")
        judged = offer(20, Verdict.NG)
        wait_for(settled, "the NG parts delivered")
        assert plc.station_state() is StationState.RUNNING

        writer.full.set()
        offer_until(DISK_FULL, "the store to notice the full disk", 10)
        on_reserve = offer(30)
        wait_for(settled, "the parts judged on the reserve delivered")
        assert plc.station_state() is StationState.RUNNING

        offer_until(STORE_WRITE, "the reserve to run out", 100)
        wait_for(lambda: plc.station_state() is StationState.FAULT, "the PLC to see the station in fault")
        unsent = writer.unsent
        none_sent = offer(20)
        wait_for(lambda: writer.unsent >= unsent + 20, "the store to take the parts it cannot record")

        writer.full.clear()
        wait_for(lambda: plc.station_state() is StationState.RUNNING, "the fault to end", timeout_s=30)
        wait_for(lambda: not alarms.is_active(DISK_FULL), "judging to resume", timeout_s=30)
        again = offer(20)
        wait_for(settled, "every part settled")
    finally:
        stage.stop()
        seen = plc.stop()

    with closing(sqlite3.connect(writer.db_path)) as conn:
        rows = {seq: (verdict, reason, status) for seq, verdict, reason, status in
                conn.execute("SELECT seq, auto_verdict, reason, plc_status FROM inspections")}
    results = {r["seq"]: r["verdict"] for r in seen["results"]}
    assert sorted(rows) == list(range(1, offered + 1))
    assert {seq: rows[seq][0] for seq in results} == results  # every result the PLC holds, with its row's verdict
    assert {results[s] for s in judged} == {"NG"} and {results[s] for s in again} == {"OK"}
    assert {results[s] for s in on_reserve} == {"NOT_INSPECTED"}
    assert all(rows[s][1].startswith(ON_RESERVE) for s in on_reserve)
    assert not set(none_sent) & set(results)
    assert {(rows[s][1][:len(NOT_SENT)], rows[s][2]) for s in none_sent} == {(NOT_SENT, "not_delivered")}
    reserved = [s for s, (verdict, reason, _) in rows.items() if reason.startswith(ON_RESERVE)]
    assert all(results.get(s, "NOT_INSPECTED") == "NOT_INSPECTED" for s in reserved)
