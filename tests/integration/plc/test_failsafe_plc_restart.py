"""Rows a SIGKILLed station left 'pending' are settled at the next start from the PLC's ring (PLC in its own process).

Issue 15 item 7: such rows stayed pending for ever although the PLC had acted on them. At the next start
the PLC thread reads them through the store while the station is built and, at its first contact with the
PLC, records each delivered when the ring holds it with the same verdict, else not delivered.

The restart is wired here as `RecordsAndPlc` wires it once it hands the PLC thread the store's door
(`create_signaller(..., records=self.writes)`): the store thread with its request queue, and the PLC thread.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from hmi.config.schema import PipelineConfig, PlcConfig, StoreConfig
from hmi.core.alarms import AlarmBoard
from hmi.core.part import CameraSettings, Decision, Part, utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.plc.factory import create_signaller
from hmi.station.queues import records_queues
from hmi.store.writer import RecordWriter
from tests.support.plc_process import plc_process  # noqa: F401  (fixture)
from tests.support.waiting import wait_for

ENV = {k: v for k, v in os.environ.items() if k != "DISPLAY"}


def _rows(db: Path) -> dict[int, tuple[str, str, str | None]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return {seq: (verdict, status, detail) for seq, verdict, status, detail in conn.execute(
            "SELECT seq, auto_verdict, plc_status, plc_detail FROM inspections")}


def _killed_station(data: Path, port: int, plc) -> None:
    """`hmi run` against the PLC until it holds 30 results, then SIGKILL."""
    station = subprocess.Popen([sys.executable, "-m", "hmi", "run", "--headless", "--data-dir", str(data),
                                "--set", "plc.mode=s7", "--set", "plc.host=127.0.0.1", "--set", f"plc.port={port}",
                                "--set", "camera.rate_hz=20"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    try:
        wait_for(lambda: len(plc.state()["results"]) >= 30, "30 results at the PLC", 120)
    finally:
        station.send_signal(signal.SIGKILL)
        station.wait(30)


def _recorded_but_never_sent(data: Path, seqs: list[int]) -> None:
    """Parts the store committed before the kill whose verdicts the PLC thread never took: left pending."""
    parts: BoundedQueue = BoundedQueue("parts", 16)
    committed: BoundedQueue = BoundedQueue("committed", 16)  # nobody takes them: no PLC thread
    writer = RecordWriter(data / "hmi.db", parts, committed, AlarmBoard(), StoreConfig())
    writer.start()
    now = time.monotonic()
    for seq in seqs:
        part = Part(seq, utc_now(), now, CameraSettings("test", 1000.0, 0.0), "demo")
        assert parts.offer(part.decided(Decision(Verdict.NG, "test", 1, utc_now(), now)))
    wait_for(lambda: len(committed) == len(seqs), "the parts committed", 30)
    writer.stop()
    assert writer.join(10)


def test_rows_left_pending_by_a_killed_station_are_settled_from_the_plcs_ring(plc_process, tmp_path):  # noqa: F811
    plc = plc_process()
    data = tmp_path / "data"
    _killed_station(data, plc.port, plc)
    ring = {s["seq"]: s["verdict"] for s in plc.state()["slots"] if s is not None}
    assert len(ring) == 8
    db = data / "hmi.db"
    # A kill between the PLC's write and its record leaves exactly the ring's newest parts pending; whichever the
    # kill itself left pending are kept as they are.
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(f"UPDATE inspections SET plc_status = 'pending', plc_delivered_at = NULL, plc_detail = NULL "
                     f"WHERE seq IN ({','.join(map(str, ring))})")
    newest = max(_rows(db))
    never_sent = [newest + 1, newest + 2]
    _recorded_but_never_sent(data, never_sent)
    before = _rows(db)
    pending = {seq: verdict for seq, (verdict, status, _) in before.items() if status == "pending"}
    assert set(ring) | set(never_sent) <= set(pending)

    # The next start: store thread and PLC thread, the PLC thread given the store's door before the store runs.
    queues = records_queues(PipelineConfig())
    alarms = AlarmBoard()
    writer = RecordWriter(db, BoundedQueue("records", 16), queues.committed, alarms, StoreConfig(),
                          deliveries=queues.deliveries, requests=queues.store_requests)
    plc_cfg = PlcConfig(mode="s7", host="127.0.0.1", port=plc.port)
    signaller = create_signaller(plc_cfg, queues.committed, queues.plc_reviews, queues.deliveries, alarms,
                                 records=writer.requests)
    writer.start()
    signaller.start()
    try:
        wait_for(lambda: not any(status == "pending" for _, status, _ in _rows(db).values()), "no row pending", 60)
    finally:
        signaller.stop()
        assert signaller.join(10)
        writer.stop()
        assert writer.join(10)

    after = _rows(db)
    for seq, verdict in pending.items():
        status, detail = after[seq][1], after[seq][2]
        if ring.get(seq) == verdict:
            assert status == "delivered" and f"ring slot {seq % 8} held it" in detail, (seq, status, detail)
        else:
            assert status == "not_delivered" and "the PLC's ring held parts" in detail, (seq, status, detail)
    assert all(after[seq][1] == "not_delivered" for seq in never_sent)
    assert all(after[seq] == before[seq] for seq in before if seq not in pending)  # nothing else touched
    assert signaller.status().left_pending == len(pending)
