"""Records retention: the oldest parts are exported first (gzip CSV, on disk), then purged in small batches by
the store thread, on a real SQLite file; parts still to be reviewed or reported downstream are kept."""

from __future__ import annotations

import csv
import gzip
import io
import json
import sqlite3
from contextlib import closing
from datetime import timedelta

import pytest

from hmi.config.schema import StoreConfig
from hmi.core.alarm_catalogue import RETENTION
from hmi.core.alarms import AlarmBoard
from hmi.core.part import utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.store.database import open_database
from hmi.store.queries import integrity_check
from hmi.store.retention import GB, Retention, records_bytes
from hmi.store.writer import RecordWriter
from tests.support.waiting import wait_for

NOW = utc_now()


def _record(db_path, parts, config: StoreConfig | None = None) -> RecordWriter:
    """Record `parts` with a store thread of their own, then stop it."""
    queue = BoundedQueue("parts", 10_000)
    for part in parts:
        queue.offer(part)
    writer = RecordWriter(db_path, queue, BoundedQueue("plc parts", 10_000), AlarmBoard(),
                          config or StoreConfig(records_reserve_mb=0))
    writer.stop()  # asked to stop before it runs: what is queued is written on the way out
    writer.start()
    assert writer.join(10) and writer.error is None
    return writer


def _rows(db_path, sql: str, args: tuple = ()) -> list[tuple]:
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute(sql, args).fetchall()


def _exported(folder) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("inspections-*.csv.gz")):
        with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
            rows += list(csv.DictReader(io.StringIO(fh.read())))
    return rows


@pytest.fixture
def aged(db_path, make_part):
    """Parts 1-60 captured 40 days ago (every 10th NG, part 7 still HOLD), 61-80 captured yesterday."""
    parts = [make_part(seq, Verdict.HOLD if seq == 7 else Verdict.NG if seq % 10 == 0 else Verdict.OK,
                       captured_at=NOW - timedelta(days=40, minutes=60 - seq)) for seq in range(1, 61)]
    parts += [make_part(seq, captured_at=NOW - timedelta(days=1, minutes=80 - seq)) for seq in range(61, 81)]
    _record(db_path, parts)
    with closing(sqlite3.connect(db_path)) as conn, conn:  # a quality manager's report on part 3
        conn.execute("INSERT INTO downstream_defects (seq, reported_at, reported_by, defect_type) "
                     "VALUES (3, '2024-05-01T00:00:00.000Z', 'quinn', 'scratch')")
    return db_path


def test_the_store_thread_exports_then_purges_parts_older_than_keep_days(aged, make_part, tmp_path):
    changes_before = _rows(aged, "SELECT count(*) FROM part_changes")[0][0]
    parts = BoundedQueue("parts", 10)
    writer = RecordWriter(aged, parts, BoundedQueue("plc parts", 10), AlarmBoard(),
                          StoreConfig(keep_days=30, records_reserve_mb=0))
    writer.start()
    try:
        parts.offer(make_part(81))  # the line runs on: the purge waits for the store to be idle
        wait_for(lambda: writer.retention.purged, "the purge")
    finally:
        writer.stop()
        assert writer.join(10) and writer.error is None
    kept = [s for (s,) in _rows(aged, "SELECT seq FROM inspections ORDER BY seq")]
    assert kept == [3, 7, *range(61, 82)]  # reported downstream, still HOLD, and everything younger than 30 days
    exported = _exported(tmp_path / "data" / "purged")
    assert sorted(int(r["seq"]) for r in exported) == [s for s in range(1, 61) if s not in (3, 7)]
    first = next(r for r in exported if r["seq"] == "10")
    assert first["verdict"] == "NG" and first["recipe"] == "demo" and len(json.loads(first["regions"])) == 2
    assert _rows(aged, "SELECT count(*) FROM regions WHERE seq <= 60 AND seq NOT IN (3, 7)") == [(0,)]
    changes = _rows(aged, "SELECT min(seq), count(*) FROM part_changes")[0]
    assert changes[0] > 60 and changes[1] < changes_before  # the change log up to the newest purged part went too
    assert integrity_check(aged) == "ok"


def test_keep_gb_purges_the_oldest_parts_until_the_records_fit(db_path, make_part, tmp_path):
    _record(db_path, [make_part(seq, captured_at=NOW - timedelta(minutes=500 - seq)) for seq in range(1, 501)])
    conn = open_database(db_path)
    try:
        limit = records_bytes(conn) // 2
        retention = Retention(tmp_path / "data", StoreConfig(keep_gb=limit / GB), AlarmBoard(), batch=50,
                              pause_s=0, look_s=0)
        batches = []
        while n := retention.run(conn):
            batches.append(n)
        assert records_bytes(conn) <= limit and max(batches) <= 50  # small batches, never one long purge
        left = [s for (s,) in conn.execute("SELECT seq FROM inspections ORDER BY seq")]
    finally:
        conn.close()
    assert left == list(range(501 - len(left), 501))  # the newest were kept
    assert len(_exported(tmp_path / "data" / "purged")) == 500 - len(left)


def test_nothing_is_purged_when_the_export_cannot_be_written(aged, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the export folder should be")
    alarms = AlarmBoard()
    conn = open_database(aged)
    try:
        retention = Retention(tmp_path / "data", StoreConfig(keep_days=30, purge_export_dir=str(blocked)), alarms)
        assert retention.run(conn) == 0
    finally:
        conn.close()
    assert _rows(aged, "SELECT count(*) FROM inspections") == [(80,)]
    assert alarms.is_active(RETENTION) and "cannot be exported" in alarms.snapshot()[0].message


def test_without_a_retention_nothing_is_ever_purged(aged, make_part):
    writer = _record(aged, [make_part(81)], StoreConfig(records_reserve_mb=0))
    assert not writer.retention.enabled and writer.retention.purged == 0
    assert _rows(aged, "SELECT count(*) FROM inspections") == [(81,)]
