"""Drift judged against a baseline; alarms recorded by the store thread with the parts."""

from __future__ import annotations

import sqlite3
import time

import numpy as np

from hmi.config.schema import StoreConfig
from hmi.core.alarm_catalogue import PLC_SILENT
from hmi.core.alarms import AlarmBoard
from hmi.core.errors import StoreError
from hmi.pipeline.queues import BoundedQueue
from hmi.services.reports.drift import binned, compare
from hmi.store.database import open_readonly
from hmi.store.writer import AlarmLog, RecordWriter

EDGES = tuple(float(x) for x in np.linspace(15, 25, 49))


def test_same_distribution_is_stable_and_a_moved_one_drifted():
    rng = np.random.default_rng(3)
    base = binned(rng.normal(19.5, 0.8, 40), EDGES)
    same = compare(binned(rng.normal(19.5, 0.8, 100_000), EDGES), base, "teach")
    moved = compare(binned(rng.normal(21.0, 0.8, 100_000), EDGES), base, "teach")
    assert same.state == "stable", same.words
    assert moved.state == "drifted" and moved.median_shift > 1.0, moved.words
    assert compare(binned([19.0] * 5, EDGES), base, "teach").state == "too few parts"


def test_alarm_changes_reach_the_database(tmp_path):
    board = AlarmBoard()
    events = BoundedQueue("alarm events", 100)
    board.subscribe(AlarmLog(events))
    db = tmp_path / "hmi.db"
    writer = RecordWriter(db, BoundedQueue("parts", 10), BoundedQueue("committed", 10), board, StoreConfig(),
                          alarm_events=events)
    writer.start()
    try:
        board.raise_(PLC_SILENT, host="192.168.0.10")
        board.raise_(PLC_SILENT, host="192.168.0.11")  # text only
        board.acknowledge("PLC_SILENT", "anna")
        board.clear("PLC_SILENT")
        deadline = time.monotonic() + 10
        rows: list = []
        while len(rows) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                conn = open_readonly(db)
                rows = conn.execute("SELECT code, event, user FROM alarm_events ORDER BY id").fetchall()
                conn.close()
            except (StoreError, sqlite3.OperationalError):
                continue  # the store thread has not created the database yet
    finally:
        writer.stop()
        writer.join(5)
    assert [tuple(r) for r in rows] == [("PLC_SILENT", "raised", None), ("PLC_SILENT", "acknowledged", "anna"),
                                        ("PLC_SILENT", "cleared", None)]
