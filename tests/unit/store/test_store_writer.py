"""The store thread: commit before forwarding, deliveries and reviews, images hand-off, write failures."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pytest

from hmi.config.schema import StoreConfig
from hmi.core.alarm_catalogue import RECORD_REFUSED, STORE_WRITE
from hmi.core.alarms import AlarmBoard
from hmi.core.messages import DeliveryStatus, OperatorReview, PlcDelivery, RecordOnly
from hmi.core.part import utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.pipeline.worker import WorkerState
from hmi.store.audit import AuditAction, AuditRequest, verify
from hmi.store.database import open_readonly
from hmi.store.images import ImagePaths
from hmi.store.queries import integrity_check, part_by_seq
from hmi.store.writer import RecordWriter

IMAGE = np.zeros((48, 64), np.uint8)


@dataclass
class Line:
    """The queues around one RecordWriter, as the composition root would create them."""

    parts: BoundedQueue
    committed: BoundedQueue
    deliveries: BoundedQueue
    reviews: BoundedQueue
    audits: BoundedQueue
    images: BoundedQueue
    image_paths: BoundedQueue
    alarms: AlarmBoard
    writer: RecordWriter


class DiskFillsUp(RecordWriter):
    """A RecordWriter whose database cannot grow while `full` is set: SQLite's own SQLITE_FULL error path."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.full = threading.Event()

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()
        self._apply_limit(conn)
        return conn

    def _apply_limit(self, conn: sqlite3.Connection) -> None:
        if self.full.is_set():
            conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
        else:
            conn.execute("PRAGMA max_page_count = 4294967294")

    def loop_once(self) -> None:
        if self._conn is not None:
            self._apply_limit(self._conn)
        super().loop_once()


@pytest.fixture
def line(db_path):
    made: list[Line] = []

    def build(cls=RecordWriter, committed_size=100_000, config: StoreConfig | None = None, start=True, **kw) -> Line:
        q = {name: BoundedQueue(name, size) for name, size in (
            ("parts", 100_000), ("committed", committed_size), ("deliveries", 1000), ("reviews", 100),
            ("audits", 100), ("images", 1000), ("image_paths", 1000))}
        alarms = AlarmBoard()
        writer = cls(db_path, q["parts"], q["committed"], alarms, config or StoreConfig(),
                     deliveries=q["deliveries"], reviews=q["reviews"], audits=q["audits"], images=q["images"],
                     image_paths=q["image_paths"], **kw)
        made.append(Line(**q, alarms=alarms, writer=writer))
        if start:
            _start(writer)
        return made[-1]

    yield build
    for ln in made:
        ln.writer.stop()
        assert ln.writer.join(10), "the store thread did not stop"
        assert ln.writer.error is None, ln.writer.error_text()


def _start(writer: RecordWriter) -> None:
    """Start the store thread and wait until its database is open."""
    writer.start()
    deadline = time.monotonic() + 5
    while writer.state is not WorkerState.RUNNING:
        assert writer.state is not WorkerState.FAILED, writer.error_text()
        assert time.monotonic() < deadline, "the store thread did not start"
        time.sleep(0.005)


def _rows(db_path, sql: str, args: tuple = ()) -> list[tuple]:
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute(sql, args).fetchall()


def _take(q: BoundedQueue, n: int, timeout: float = 5.0) -> list:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        item = q.take(0.05)
        if item is not None:
            got.append(item)
    return got


def test_the_plc_queue_only_ever_sees_parts_already_committed(line, db_path, make_part):
    ln = line()
    seen, not_in_db = [], []

    def plc_thread() -> None:
        reader = open_readonly(db_path)  # a second connection sees committed data only
        try:
            while len(seen) < 600:
                part = ln.committed.take(2.0)
                if part is None:
                    return
                n_regions = reader.execute("SELECT count(*) FROM regions WHERE seq = ?", (part.seq,)).fetchone()[0]
                if reader.execute("SELECT 1 FROM inspections WHERE seq = ?", (part.seq,)).fetchone() is None \
                        or n_regions != 2:
                    not_in_db.append(part.seq)
                seen.append(part.seq)
        finally:
            reader.close()

    plc = threading.Thread(target=plc_thread)
    plc.start()
    rng = np.random.default_rng(1)
    seq = 0
    while seq < 600:  # bursts of 1..40 parts, so batches of many sizes are committed
        for _ in range(int(rng.integers(1, 41))):
            seq += 1
            if seq <= 600:
                ln.parts.offer(make_part(seq))
        time.sleep(0.002)  # kept: the pause between bursts (the line's pace), not a wait for the store
    plc.join(20)
    assert seen == list(range(1, 601))
    assert not_in_db == []
    assert ln.writer.commit_metrics.snapshot().count < 600  # parts were batched


def test_a_row_records_what_traceability_needs(line, db_path, make_part):
    ln = line()
    part = make_part(11, Verdict.NG, score=0.81, confidence=0.9312)
    ln.parts.offer(part)
    nan_part = make_part(12, Verdict.NOT_INSPECTED, score=float("nan"), regions=0)
    ln.parts.offer(nan_part)
    assert len(_take(ln.committed, 2)) == 2
    with closing(open_readonly(db_path)) as conn:
        rec = part_by_seq(conn, 11)
        nan_rec = part_by_seq(conn, 12)
    assert (rec.seq, rec.part_id, rec.lot_id, rec.recipe) == (11, "P11", "LOT-7", "demo")
    assert rec.captured_at == part.captured_at.replace(microsecond=part.captured_at.microsecond // 1000 * 1000)
    assert rec.captured_mono == pytest.approx(part.captured_mono)
    assert (rec.model_name, rec.model_sha256, rec.backend, rec.threshold_version) == (
        "demo-model", "ab" * 32, "onnxruntime-cpu", 3)
    assert (rec.camera_source, rec.exposure_us, rec.gain_db) == ("emulated:0815", 5000.0, 1.5)
    assert rec.score == pytest.approx(0.81) and rec.infer_ms == pytest.approx(4.2)
    assert rec.confidence == pytest.approx(0.9312)
    assert rec.auto_verdict is rec.verdict is Verdict.NG and rec.reason == "score 0.810"
    assert rec.latency_ms == pytest.approx(4.0, abs=0.01)
    assert rec.plc_status == "pending" and rec.reviewed_by is None
    assert [(r.idx, r.x, r.y, r.w, r.h, r.area_px, r.label) for r in rec.regions] == [
        (0, 0, 0, 5, 6, 30, "anomaly"), (1, 10, 20, 6, 7, 31, "anomaly")]
    assert rec.regions[0].peak_score == pytest.approx(0.9)
    assert nan_rec.score is None and nan_rec.verdict is Verdict.NOT_INSPECTED and nan_rec.regions == ()
    assert nan_rec.confidence is None


def test_plc_deliveries_update_the_rows(line, db_path, make_part):
    ln = line()
    for seq in (1, 2, 3):
        ln.parts.offer(make_part(seq))
    _take(ln.committed, 3)
    at = utc_now()
    ln.deliveries.offer(PlcDelivery(1, DeliveryStatus.DELIVERED, at))
    ln.deliveries.offer(PlcDelivery(2, DeliveryStatus.LATE, at + timedelta(milliseconds=700), "deadline 500 ms"))
    ln.deliveries.offer(PlcDelivery(3, DeliveryStatus.NOT_DELIVERED, None, "PLC not answering"))
    ln.deliveries.offer(PlcDelivery(999, DeliveryStatus.DELIVERED, at))  # a part never recorded: logged, no harm
    deadline = time.monotonic() + 5
    while _rows(db_path, "SELECT count(*) FROM inspections WHERE plc_status != 'pending'")[0][0] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    rows = _rows(db_path, "SELECT seq, plc_status, plc_delivered_at IS NOT NULL, plc_detail FROM inspections ORDER BY seq")
    assert rows == [(1, "delivered", 1, None), (2, "late", 1, "deadline 500 ms"), (3, "not_delivered", 0, "PLC not answering")]


def test_reviews_set_the_final_verdict_and_go_to_the_audit_trail(line, db_path, make_part, wait_until):
    ln = line()
    for seq, verdict in ((1, Verdict.HOLD), (2, Verdict.OK), (3, Verdict.HOLD)):
        ln.parts.offer(make_part(seq, verdict))
    _take(ln.committed, 3)
    at = utc_now()
    ln.reviews.offer(OperatorReview(1, Verdict.NG, "otto", at, "scratch", "visible at 3 o'clock"))
    ln.reviews.offer(OperatorReview(2, Verdict.NG, "quinn", at, "dent"))
    ln.reviews.offer(OperatorReview(3, Verdict.NG, "station", at, automatic=True))
    wait_until(lambda: len(_rows(db_path, "SELECT id FROM audit")) == 3, what="three audit entries")
    rows = _rows(db_path, "SELECT seq, auto_verdict, verdict, reviewed_by, defect_type, review_note, reviewed_at "
                          "FROM inspections ORDER BY seq")
    assert [r[:6] for r in rows] == [(1, "HOLD", "NG", "otto", "scratch", "visible at 3 o'clock"),
                                     (2, "OK", "NG", "quinn", "dent", None),
                                     (3, "HOLD", "NG", "station", None, None)]
    assert all(r[6].endswith("Z") for r in rows)
    audit = _rows(db_path, "SELECT user, action, subject, old_value, new_value, reason FROM audit ORDER BY id")
    assert audit[0] == ("otto", "review", "part 1", "HOLD", "NG", "visible at 3 o'clock")
    assert audit[1] == ("quinn", "override", "part 2", "OK", "NG", "")
    assert audit[2][1] == "review" and "not reviewed in time" in audit[2][5]
    assert verify(db_path).ok


@pytest.mark.expected_errors("audit request with unknown action 'not_an_action' dropped")
def test_audit_requests_from_the_screens_are_written(line, db_path, wait_until):
    ln = line()
    ln.audits.offer(AuditRequest("otto", AuditAction.ALARM_ACK, "PLC_SILENT"))
    ln.audits.offer(AuditRequest("otto", "not_an_action"))  # type: ignore[arg-type] - dropped, logged
    ln.audits.offer(AuditRequest("tom", AuditAction.CAMERA_CHANGE, "exposure_us", 5000, 6500, "darker parts"))
    wait_until(lambda: len(_rows(db_path, "SELECT id FROM audit")) == 2, what="two audit entries")
    assert _rows(db_path, "SELECT user, action, old_value, new_value FROM audit ORDER BY id") == [
        ("otto", "alarm_ack", None, None), ("tom", "camera_change", "5000", "6500")]


def test_rejects_holds_and_every_nth_ok_part_go_to_the_image_writer(line, make_part):
    ln = line(config=StoreConfig(ok_image_sample=3))
    for seq in range(1, 8):
        ln.parts.offer(make_part(seq, Verdict.OK, image=IMAGE))
    ln.parts.offer(make_part(8, Verdict.NG, image=IMAGE))
    ln.parts.offer(make_part(9, Verdict.HOLD, image=IMAGE))
    ln.parts.offer(make_part(10, Verdict.NOT_INSPECTED, image=IMAGE))
    ln.parts.offer(make_part(11, Verdict.NG))  # no image to save
    _take(ln.committed, 11)
    assert [p.seq for p in _take(ln.images, 6, timeout=1.0)] == [1, 4, 7, 8, 9, 10]


def test_image_paths_are_recorded_and_removed(line, db_path, make_part, wait_until):
    ln = line()
    ln.parts.offer(make_part(5, Verdict.NG))
    _take(ln.committed, 1)
    ln.image_paths.offer(ImagePaths(5, "images/2024-05-01/000000000005_NG.png", None))
    wait_until(lambda: _rows(db_path, "SELECT image_path FROM inspections")[0][0] is not None, what="path")
    ln.image_paths.offer(ImagePaths(5, None, None))
    wait_until(lambda: _rows(db_path, "SELECT image_path FROM inspections")[0][0] is None, what="path removed")


@pytest.mark.expected_errors("database write failed: database or disk is full", "the disk is full")
def test_a_full_disk_sends_no_result_without_its_row_raises_the_alarm_and_catches_up(line, db_path, make_part,
                                                                                     wait_until):
    ln = line(cls=DiskFillsUp, start=False, retry_s=0.05, config=StoreConfig(records_reserve_mb=0))
    ln.writer.full.set()
    _start(ln.writer)
    for seq in range(1, 201):
        ln.parts.offer(make_part(seq, Verdict.HOLD if seq == 150 else Verdict.OK))
    # A row that still fits a page the file has is written (and its part sent NOT_INSPECTED); the others get
    # no result at all: the PLC rejects them by itself.
    wait_until(lambda: ln.writer.unsent + len(ln.committed) == 200, what="the store to take every part")
    sent = _take(ln.committed, len(ln.committed))
    for part in sent:
        assert _rows(db_path, "SELECT auto_verdict FROM inspections WHERE seq = ?", (part.seq,)) == [
            (part.verdict.name,)]
    wait_until(lambda: ln.alarms.is_active(STORE_WRITE), what="the alarm")
    text = next(a.message for a in ln.alarms.snapshot() if a.code == STORE_WRITE.code)
    assert "database or disk is full" in text and "no result goes to the PLC" in text
    stored = _rows(db_path, "SELECT count(*) FROM inspections")[0][0]
    assert stored < 200 and ln.writer.backlog > 0
    # Messages about parts that are only in memory wait for them.
    ln.deliveries.offer(PlcDelivery(200, DeliveryStatus.DELIVERED, utc_now()))
    ln.reviews.offer(OperatorReview(150, Verdict.OK, "otto", utc_now()))
    wait_until(lambda: len(ln.deliveries) == 0 and len(ln.reviews) == 0, what="the store to take both messages")
    ln.writer.full.clear()  # space freed
    wait_until(lambda: not ln.alarms.is_active(STORE_WRITE), what="the alarm to clear")
    wait_until(lambda: ln.writer.backlog == 0, what="the backlog to be written")
    assert _rows(db_path, "SELECT count(*) FROM inspections")[0][0] == 200
    judged = sum(p.verdict is not Verdict.NOT_INSPECTED for p in sent)  # sent before the store saw the disk full
    assert _rows(db_path, "SELECT count(*) FROM inspections WHERE auto_verdict = 'NOT_INSPECTED'")[0][0] == 200 - judged
    assert _rows(db_path, "SELECT count(*) FROM regions")[0][0] == 400
    assert _rows(db_path, "SELECT plc_status FROM inspections WHERE seq = 200") == [("delivered",)]
    assert _rows(db_path, "SELECT verdict, reviewed_by FROM inspections WHERE seq = 150") == [("OK", "otto")]
    assert ln.writer.lost == 0
    assert integrity_check(db_path) == "ok"


@pytest.mark.expected_errors("database write failed: database or disk is full",
                             "writes could not be saved before shutdown", "the disk is full")
def test_the_backlog_is_bounded_and_losses_are_said(line, make_part, wait_until):
    ln = line(cls=DiskFillsUp, start=False, retry_s=0.05, backlog_limit=5, max_batch=1,
              config=StoreConfig(records_reserve_mb=0))
    ln.writer.full.set()
    _start(ln.writer)
    for seq in range(1, 41):
        ln.parts.offer(make_part(seq))
    wait_until(lambda: ln.writer.unsent + len(ln.committed) == 40, what="the store to take every part")
    wait_until(lambda: ln.writer.lost > 0 and "already lost" in next(
        a.message for a in ln.alarms.snapshot() if a.code == STORE_WRITE.code), what="losses")
    assert ln.writer.backlog <= 5


@pytest.mark.expected_errors("part 5 was refused by the database")
def test_a_record_the_database_refuses_does_not_hold_up_the_others(line, db_path, make_part, wait_until):
    ln = line(start=False)
    for seq in (4, 5, 5, 6):  # the same sequence number twice: a fault upstream
        ln.parts.offer(make_part(seq))
    _start(ln.writer)
    assert [p.seq for p in _take(ln.committed, 3)] == [4, 5, 6]  # the refused one gets no result: a reject
    assert _rows(db_path, "SELECT seq FROM inspections ORDER BY seq") == [(4,), (5,), (6,)]
    wait_until(lambda: ln.alarms.snapshot(), what="the alarm")  # raised just after the verdicts went on
    (alarm,) = ln.alarms.snapshot()
    assert alarm.code == RECORD_REFUSED.code and not alarm.active and alarm.acknowledged_by is None
    assert "part 5 was refused by the database" in alarm.message


def test_a_verdict_the_plc_thread_cannot_take_is_recorded_as_not_delivered(line, db_path, make_part, wait_until):
    ln = line(committed_size=1)
    for seq in (1, 2, 3):
        ln.parts.offer(make_part(seq))
    wait_until(lambda: len(_rows(db_path, "SELECT seq FROM inspections WHERE plc_status = 'not_delivered'")) == 2,
               what="two parts marked not delivered")
    assert _rows(db_path, "SELECT seq, plc_detail FROM inspections WHERE plc_status = 'not_delivered'") == [
        (2, "verdict queue to the PLC was full"), (3, "verdict queue to the PLC was full")]
    assert ln.writer.metrics.snapshot().drops == 2


def test_stopping_writes_everything_still_queued(line, db_path, make_part):
    ln = line(start=False, max_batch=50)
    for seq in range(1, 301):
        ln.parts.offer(make_part(seq))
    ln.writer.stop()  # asked to stop before its loop ever runs: the queued parts are written on the way out
    ln.writer.start()
    assert ln.writer.join(10)
    assert _rows(db_path, "SELECT count(*) FROM inspections")[0][0] == 300


@pytest.mark.expected_errors("part 1 cannot be recorded")
def test_a_part_whose_record_cannot_be_built_gets_no_result(line, db_path, make_part, wait_until):
    ln = line(start=False)
    broken = dataclasses.replace(make_part(1), camera=None)  # a fault upstream
    ln.parts.offer(broken)
    ln.parts.offer(make_part(2))
    _start(ln.writer)
    assert [p.seq for p in _take(ln.committed, 1)] == [2]  # the PLC rejects part 1: it has no result for it
    wait_until(lambda: _rows(db_path, "SELECT seq FROM inspections") == [(2,)], what="part 2 recorded")
    assert "Part 1 could not be recorded" in ln.alarms.snapshot()[0].message


def test_a_part_refused_by_the_full_records_queue_is_recorded_not_delivered_and_never_reaches_the_plc(
        line, db_path, make_part, wait_until):
    ln = line()
    judged = make_part(7, Verdict.OK)
    late = dataclasses.replace(judged, decision=dataclasses.replace(
        judged.decision, verdict=Verdict.NOT_INSPECTED, reason="records queue full: no result sent to the PLC"))
    ln.parts.offer(RecordOnly(late, "not sent: the records queue was full"))
    ln.parts.offer(make_part(8))
    assert [p.seq for p in _take(ln.committed, 2, timeout=1.0)] == [8]  # only the ordinary part goes on
    wait_until(lambda: len(_rows(db_path, "SELECT seq FROM inspections")) == 2, what="both rows")
    assert _rows(db_path, "SELECT auto_verdict, verdict, reason, plc_status, plc_detail, score FROM inspections "
                          "WHERE seq = 7") == [("NOT_INSPECTED", "NOT_INSPECTED", "records queue full: no result sent "
                                                "to the PLC", "not_delivered", "not sent: the records queue was full",
                                                pytest.approx(0.25))]
    assert _rows(db_path, "SELECT count(*) FROM regions WHERE seq = 7") == [(2,)]
    assert len(ln.images) == 0  # nor to the image writer: its image was not kept


def test_a_review_queued_while_the_store_waits_for_parts_lands_on_its_part(db_path, make_part, wait_until):
    reviews = BoundedQueue("reviews", 10)

    class PartArrivesWhileWaiting(BoundedQueue):
        """The judging thread queues a HOLD part, then its automatic default, while the store waits here."""

        def take(self, timeout: float):
            got = super().take_nowait()
            if got is None and not self.arrived:
                self.arrived = True
                self.offer(make_part(3, Verdict.HOLD))
                reviews.offer(OperatorReview(3, Verdict.NG, "system", utc_now(), note="HOLD list full",
                                             automatic=True))
            return got

    parts = PartArrivesWhileWaiting("parts", 10)
    parts.arrived = False
    writer = RecordWriter(db_path, parts, BoundedQueue("committed", 10), AlarmBoard(), StoreConfig(), reviews=reviews)
    _start(writer)
    try:
        wait_until(lambda: _rows(db_path, "SELECT verdict FROM inspections WHERE seq = 3") == [("NG",)],
                   what="the review on its part's row")
    finally:
        writer.stop()
        assert writer.join(10)
    assert _rows(db_path, "SELECT auto_verdict, reviewed_by FROM inspections") == [("HOLD", "system")]
