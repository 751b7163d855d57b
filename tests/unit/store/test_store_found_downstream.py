"""Defects found downstream: written by the store thread with their audit entry, or not at all."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from hmi.config.schema import StoreConfig
from hmi.core.alarms import AlarmBoard
from hmi.core.messages import DownstreamDefect
from hmi.core.part import utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.pipeline.worker import WorkerState
from hmi.store.audit import verify
from hmi.store.database import open_database, transaction
from hmi.store.found_downstream import record_downstream_defect
from hmi.store.writer import RecordWriter


def _rows(db_path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute(sql).fetchall()


def test_a_report_is_stored_with_its_audit_entry_in_the_callers_transaction(db_path):
    conn = open_database(db_path)
    try:
        with transaction(conn):
            conn.execute("INSERT INTO inspections (seq, captured_at, captured_mono, recipe, auto_verdict, verdict) "
                         "VALUES (7, '2025-03-01T08:00:00.000Z', 1.0, 'r1', 'OK', 'OK')")
        at = utc_now()
        with transaction(conn):
            assert record_downstream_defect(conn, DownstreamDefect(7, "crack", "quinn", at, "found at final test"))
            assert not record_downstream_defect(conn, DownstreamDefect(8, "crack", "quinn", at))
        with pytest.raises(RuntimeError, match="open write transaction"):  # never a report without its audit entry
            record_downstream_defect(conn, DownstreamDefect(7, "dent", "quinn", at))
    finally:
        conn.close()
    assert _rows(db_path, "SELECT seq, reported_by, defect_type, note FROM downstream_defects") == [
        (7, "quinn", "crack", "found at final test")]
    assert _rows(db_path, "SELECT user, action, subject, old_value, new_value, reason FROM audit") == [
        ("quinn", "downstream_defect", "part 7", "OK", "crack", "found at final test")]
    assert verify(db_path).ok


def test_the_store_thread_writes_reports_and_skips_a_part_it_never_recorded(db_path, make_part, wait_until):
    parts, committed = BoundedQueue("parts", 10), BoundedQueue("committed", 10)
    reports = BoundedQueue("downstream defects", 10)
    writer = RecordWriter(db_path, parts, committed, AlarmBoard(), StoreConfig(), downstream_defects=reports)
    writer.start()
    try:
        wait_until(lambda: writer.state is WorkerState.RUNNING, what="the store thread's database open")
        parts.offer(make_part(1, Verdict.OK))
        parts.offer(make_part(2, Verdict.NG))
        wait_until(lambda: len(_rows(db_path, "SELECT seq FROM inspections")) == 2, what="two parts recorded")
        at = utc_now()
        reports.offer(DownstreamDefect(99, "dent", "quinn", at))  # no such part: logged, nothing written
        reports.offer(DownstreamDefect(1, "dent", "quinn", at, "dent on the flange"))
        wait_until(lambda: len(_rows(db_path, "SELECT id FROM downstream_defects")) == 1, what="the report")
    finally:
        writer.stop()
        assert writer.join(10)
    assert writer.error is None, writer.error_text()
    assert _rows(db_path, "SELECT seq, defect_type, note FROM downstream_defects") == [(1, "dent", "dent on the flange")]
    assert _rows(db_path, "SELECT action, subject, old_value, new_value FROM audit") == [
        ("downstream_defect", "part 1", "OK", "dent")]
    assert verify(db_path).ok
