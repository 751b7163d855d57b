"""The store thread, the records' one writer: a part's result goes to the PLC only once its row is committed."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from pathlib import Path

from hmi.config.schema import StoreConfig
from hmi.core.alarm_catalogue import RECORD_REFUSED, STORE_WRITE
from hmi.core.alarms import Alarm, AlarmBoard
from hmi.core.errors import StoreError
from hmi.core.messages import DeliveryStatus, DownstreamDefect, OperatorReview, PlcDelivery, RecordOnly
from hmi.core.part import Part, utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.metrics import StageMetrics
from hmi.pipeline.queues import BoundedQueue
from hmi.pipeline.worker import Worker
from hmi.store.audit import AuditAction, AuditRequest, append_entry, part_subject
from hmi.store.database import iso_utc, open_database, transaction
from hmi.store.found_downstream import record_downstream_defect
from hmi.store.images import ImagePaths
from hmi.store.requests import StoreRequest, StoreRequests
from hmi.store.reserve import RecordsRoom, is_space_error
from hmi.store.retention import Retention

log = logging.getLogger(__name__)

_POLL_S = 0.05
_SHUTDOWN_FLUSH_S = 5.0
# SQLite primary result codes after which the connection is reopened: IOERR, CORRUPT, CANTOPEN, NOTADB.
_REOPEN_AFTER = {10, 11, 14, 26}

_INSERT_PART = (
    "INSERT INTO inspections (seq, part_id, lot_id, captured_at, captured_mono, decided_at, recipe, model_name, "
    "model_sha256, threshold_version, backend, camera_source, exposure_us, gain_db, score, infer_ms, auto_verdict, "
    "verdict, reason, latency_ms, confidence, defect_code) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_ALARM = "INSERT INTO alarm_events (at, code, event, priority, message, user) VALUES (?, ?, ?, ?, ?, ?)"
_INSERT_REGION = ("INSERT INTO regions (seq, idx, x, y, w, h, area_px, peak_score, label, confidence) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _num(value: float | None) -> float | None:
    """A plain float for SQLite (NumPy scalars do not bind); NaN becomes NULL."""
    if value is None:
        return None
    value = float(value)
    return None if value != value else value


def inspection_row(part: Part) -> tuple:
    """The `inspections` row for a decided part, as bound by the INSERT (final verdict = automatic verdict).

    Recipe, threshold version and defect code are those the part was judged with, as it carries them.
    """
    insp, dec = part.inspection, part.decision
    auto = dec.verdict.name if dec else Verdict.NOT_INSPECTED.name
    reason = dec.reason if dec else (part.capture_error or "no verdict was reached")
    return (
        int(part.seq), part.part_id, part.lot_id, iso_utc(part.captured_at), float(part.captured_mono),
        iso_utc(dec.decided_at) if dec else None, part.recipe,
        insp.model_name if insp else None, insp.model_sha256 if insp else None,
        int(dec.threshold_version) if dec else None, insp.backend if insp else None,
        part.camera.source, _num(part.camera.exposure_us), _num(part.camera.gain_db),
        _num(insp.score) if insp else None, _num(insp.infer_ms) if insp else None,
        auto, auto, reason, _num(part.latency_ms), _num(dec.confidence) if dec else None,
        part.defect_code if part.setup is not None else None,
    )


def region_rows(part: Part) -> list[tuple]:
    """The part's `regions` rows, numbered in the order the model listed them."""
    if part.inspection is None:
        return []
    return [(int(part.seq), i, int(r.x), int(r.y), int(r.w), int(r.h), int(r.area_px), _num(r.peak_score),
             r.label, _num(r.confidence)) for i, r in enumerate(part.inspection.regions)]


@dataclass
class _PartOp:
    """A part waiting to be committed; `part` is dropped once forwarded so a backlog holds no images."""

    seq: int
    row: tuple
    regions: list[tuple]
    part: Part | None
    decided_mono: float | None = None
    forwarded: bool = False


@dataclass(frozen=True)
class AlarmEvent:
    """One change of an alarm (raised, cleared, acknowledged, shelved), for the alarm_events table."""

    at: datetime
    code: str
    event: str
    priority: int
    message: str = ""
    user: str | None = None


class AlarmLog:
    """AlarmBoard listener: turns each notification into AlarmEvents and offers them to the store thread.

    Never blocks the raising thread: when the queue is full the event is dropped and counted in `dropped`.
    """

    def __init__(self, events: BoundedQueue[AlarmEvent]) -> None:
        self.events = events
        self.dropped = 0
        self._seen: dict[str, Alarm] = {}
        self._lock = threading.Lock()

    def __call__(self, alarm: Alarm) -> None:
        """Record what changed since this alarm's last notification."""
        with self._lock:
            old, self._seen[alarm.code] = self._seen.get(alarm.code), alarm
        for event in _alarm_changes(old, alarm):
            if not self.events.offer(event):
                self.dropped += 1


def _alarm_changes(old: Alarm | None, new: Alarm) -> list[AlarmEvent]:
    now = utc_now()
    made = []
    if new.active and (old is None or not old.active or old.raised_at != new.raised_at):
        made.append(AlarmEvent(new.raised_at, new.code, "raised", int(new.priority), new.message))
    if not new.active and old is not None and old.active:
        made.append(AlarmEvent(now, new.code, "cleared", int(new.priority), new.message))
    if new.acknowledged_by and (old is None or old.acknowledged_at != new.acknowledged_at):
        made.append(AlarmEvent(new.acknowledged_at or now, new.code, "acknowledged", int(new.priority), new.message,
                               new.acknowledged_by))
    if new.shelved_until and (old is None or old.shelved_until != new.shelved_until):
        made.append(AlarmEvent(now, new.code, "shelved", int(new.priority), new.shelve_reason or "", None))
    return made


_Op = _PartOp | PlcDelivery | OperatorReview | ImagePaths | AuditRequest | AlarmEvent | DownstreamDefect | StoreRequest


@dataclass
class _Outcome:
    """What one transaction did besides its writes: updates to retry after their part, ops refused."""

    deferred: list[_Op] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


# Why a part is NOT_INSPECTED when its verdict could not be recorded as it was.
ON_RESERVE = "the disk is full: rejected as NOT INSPECTED"
NOT_SENT = "records could not be written: no result sent to the PLC, which rejects the part"
NOT_SENT_DETAIL = "not sent: the records could not be written; the PLC rejects a part it has no result for"


def rejected(part: Part, why: str) -> Part:
    """The part as NOT_INSPECTED because of `why`; the reason still names the verdict the model gave."""
    dec = part.decision
    if dec is None or dec.verdict is Verdict.NOT_INSPECTED:
        return part
    return replace(part, decision=replace(dec, verdict=Verdict.NOT_INSPECTED, confidence=None,
                                          reason=f"{why} (judged {dec.verdict.label}: {dec.reason})"))


class RecordWriter(Worker):
    """The one writer of the records: decided parts, PLC deliveries, reviews, image paths, audit entries,
    downstream defects, and the requests of the other store modules (part numbers, users, threshold versions).

    Whatever is waiting is written in one transaction; parts go on to `committed` (the PLC thread) and to the
    image writer only after COMMIT, with the verdict their row holds: no result ever reaches the PLC without
    its row. A RecordOnly part (its record came late, through the judging stages' overflow) is written as not
    delivered and goes nowhere. When the disk is full (`RecordsRoom`) every part is rejected NOT_INSPECTED and
    recorded in the reserve kept for the records (DISK_FULL). When the database refuses even that (the reserve
    used up, an I/O error), STORE_WRITE is raised, `plc_fault(True)` has the PLC show the station in fault,
    and the parts get no result at all: they wait in memory as NOT_INSPECTED, not-delivered rows (up to
    `backlog_limit` writes, retried every `retry_s`). A request (`requests`, through the door `self.requests`)
    runs in the same transaction, in a savepoint of its own, and is answered after COMMIT; one the database
    refuses is answered with the error at once, never kept. Records retention (`Retention`) runs here too,
    in small batches while no part waits.
    """

    role = "store"

    def __init__(self, db_path: Path, parts: BoundedQueue[Part | RecordOnly], committed: BoundedQueue[Part],
                 alarms: AlarmBoard, config: StoreConfig, *,
                 deliveries: BoundedQueue[PlcDelivery] | None = None,
                 reviews: BoundedQueue[OperatorReview] | None = None,
                 audits: BoundedQueue[AuditRequest] | None = None,
                 images: BoundedQueue[Part] | None = None,
                 image_paths: BoundedQueue[ImagePaths] | None = None,
                 alarm_events: BoundedQueue[AlarmEvent] | None = None,
                 downstream_defects: BoundedQueue[DownstreamDefect] | None = None,
                 requests: BoundedQueue[StoreRequest] | None = None,
                 plc_fault: Callable[[bool], None] | None = None,
                 connection: sqlite3.Connection | None = None,
                 max_batch: int = 1000, backlog_limit: int = 50_000, retry_s: float = 1.0,
                 disk_check_s: float = 1.0) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self.parts, self.committed, self.alarms, self.config = parts, committed, alarms, config
        self._updates: list[BoundedQueue] = [q for q in (deliveries, reviews, image_paths, audits, alarm_events,
                                                         downstream_defects) if q is not None]
        self.images = images
        # The door other store modules write through; None: this writer takes no requests.
        self.requests = StoreRequests(requests, self._run_alone) if requests is not None else None
        self.plc_fault = plc_fault
        self.max_batch = max_batch
        self.backlog_limit = backlog_limit
        self.retry_s = retry_s
        self.room = RecordsRoom(self.db_path, config, alarms, check_s=disk_check_s)
        self.retention = Retention(self.db_path.parent, config, alarms)
        self.metrics = StageMetrics("store")                # per part: verdict decided -> committed
        self.commit_metrics = StageMetrics("store commit")  # per transaction: BEGIN -> COMMIT
        self._conn: sqlite3.Connection | None = connection  # the builder's, when it opened one: closed here
        self._backlog: deque[_Op] = deque()
        self._backlog_seqs: set[int] = set()
        self._failing_since: float | None = None
        self._plc_told = False
        self._retry_at = 0.0
        self._last_error = ""
        self._ok_seen = 0
        self.lost = 0  # writes dropped because the backlog was full: gone from the records
        self.unsent = 0  # parts that got no result on the PLC because their records could not be written

    # --- worker life cycle -------------------------------------------------------------------
    def setup(self) -> None:
        """Take the requests over from the builder's thread, then open the write connection (migrating if needed).

        A database that cannot be opened (a full disk) does not stop the thread: it retries from the loop.
        """
        if self.requests is not None:
            self.requests.queued()
        try:
            self.room.connected(self._connection())
        except (sqlite3.Error, StoreError) as exc:
            self._failed(exc, [], [])
        self._look_after_room(idle=True, purge=False)  # a first look at the disk before the first part is written

    def _connect(self) -> sqlite3.Connection:
        return open_database(self.db_path)

    def loop_once(self) -> None:
        """Gather what is waiting, write it in one transaction, pass the parts on; then look after the disk."""
        fresh = self._gather(_POLL_S)
        self._write(fresh)
        self._look_after_room(idle=len(self.parts) == 0)

    def teardown(self) -> None:
        """Write whatever is still queued, then close; unsaved writes are reported in the log."""
        try:
            deadline = time.monotonic() + _SHUTDOWN_FLUSH_S
            while time.monotonic() < deadline:
                fresh = self._gather(0.0)
                if not fresh:
                    break
                self._write(fresh, force_retry=True)
            while self._backlog and time.monotonic() < deadline:
                waiting = len(self._backlog)
                self._write([], force_retry=True)
                if len(self._backlog) >= waiting:
                    break
            if self._backlog:
                log.error("records: %d writes could not be saved before shutdown (%s); %d of them are parts that "
                          "got no result on the PLC", len(self._backlog), self._last_error, len(self._backlog_seqs))
        finally:
            self.close()

    def close(self) -> None:
        """Refuse further requests and close the connection (a writer that never ran, or at the end of teardown)."""
        if self.requests is not None:
            self.requests.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run_alone(self, request: StoreRequest) -> None:
        """Before the thread runs (the builder, one request at a time): the request in a transaction of its own."""
        self._write([request], force_retry=True)

    # --- state for the screens ---------------------------------------------------------------
    @property
    def backlog(self) -> int:
        """Writes waiting in memory because the database refused them."""
        return len(self._backlog)

    # --- gathering ---------------------------------------------------------------------------
    def _gather(self, timeout: float) -> list[_Op]:
        # Updates are taken before parts: an update (a HOLD default, say) is only ever queued after its part,
        # so the parts taken next include it, and its row is written first in the same transaction.
        updates: list[_Op] = []
        if self.requests is not None:
            for _ in range(self.max_batch):
                request = self.requests.queue.take_nowait()
                if request is None:
                    break
                updates.append(request)
        for q in self._updates:
            for _ in range(self.max_batch):
                item = q.take_nowait()
                if item is None:
                    break
                if isinstance(item, AuditRequest) and not _valid_audit(item):
                    continue
                updates.append(item)
        ops: list[_Op] = []
        first = self.parts.take(timeout) if timeout > 0 and not updates else self.parts.take_nowait()
        while first is not None:
            try:
                ops.extend(self._part_ops(first))
            except Exception as exc:  # noqa: BLE001 - a malformed part must not stop the verdicts behind it
                self._unrecordable(first, exc)
            if len(ops) >= self.max_batch:
                break
            first = self.parts.take_nowait()
        return ops + updates

    def _unrecordable(self, part: Part | RecordOnly, exc: Exception) -> None:
        """A part whose record cannot even be built: it gets no result on the PLC (which rejects it); say so."""
        log.error("records: part %s cannot be recorded: %r", getattr(part, "seq", "?"), exc, exc_info=exc)
        self.metrics.drop()
        if isinstance(part, RecordOnly):
            part = part.part
        self.alarms.raise_(RECORD_REFUSED, problem=f"part {getattr(part, 'seq', '?')} could not be recorded ({exc})")
        self.alarms.clear(RECORD_REFUSED)  # a one-off: stays listed until acknowledged

    @staticmethod
    def _part_ops(item: Part | RecordOnly) -> list[_Op]:
        """A part's row; a RecordOnly part also gets its PLC status, and is never passed on to the PLC."""
        if isinstance(item, RecordOnly):
            part = item.part
            dec = part.decision
            return [_PartOp(int(part.seq), inspection_row(part), region_rows(part), None,
                            dec.decided_mono if dec else None, forwarded=True),
                    PlcDelivery(int(part.seq), DeliveryStatus.NOT_DELIVERED, None, item.detail)]
        dec = item.decision
        return [_PartOp(int(item.seq), inspection_row(item), region_rows(item), item,
                        dec.decided_mono if dec else None)]

    # --- writing -----------------------------------------------------------------------------
    def _write(self, fresh: list[_Op], force_retry: bool = False) -> None:
        requests = [op for op in fresh if isinstance(op, StoreRequest)]
        fresh = [op for op in fresh if not isinstance(op, StoreRequest)]
        if not fresh and not requests and not self._backlog:
            return
        if self._failing_since is not None and time.monotonic() < self._retry_at and not force_retry:
            self._hold_back(fresh)  # still failing: these parts get no result (the PLC rejects them), rows wait
            for request in requests:
                request.refuse(f"the database refuses writes: {self._last_error}")
            return
        judged = fresh  # as judged: what the records say of parts that get no result names why
        if self.room.on_reserve:
            fresh = self._reject_all(judged, ON_RESERVE)
        try:
            done = self._commit(fresh, requests)
        except (sqlite3.Error, StoreError) as exc:
            if not self.room.make_room(self._conn, exc):
                self._failed(exc, judged, requests)
                return
            # The disk filled under this batch: its parts go NOT_INSPECTED into the reserve.
            fresh = self._reject_all(judged, ON_RESERVE)
            try:
                done = self._commit(fresh, requests)
            except (sqlite3.Error, StoreError) as again:
                self._failed(again, judged, requests)
                return
        chunk, outcome, answers = done
        for request, result in answers:
            if isinstance(result, BaseException):
                request.future.set_exception(result)
            else:
                request.future.set_result(result)
        for _ in chunk:
            op = self._backlog.popleft()
            if isinstance(op, _PartOp):
                self._backlog_seqs.discard(op.seq)
        for op in outcome.deferred:
            self._backlog.append(op)
        self._tell_plc(False)
        self._pass_on(fresh)
        self._recovered(outcome.rejected)

    def _commit(self, fresh: list[_Op], requests: list[StoreRequest]
                ) -> tuple[list[_Op], _Outcome, list[tuple[StoreRequest, object]]]:
        """One transaction: the oldest waiting writes, then `fresh`, then the requests; raises when refused."""
        chunk = list(islice(self._backlog, self.max_batch))
        started = time.perf_counter()
        answers: list[tuple[StoreRequest, object]] = []
        durable = any(r.durable for r in requests)
        outcome = _Outcome()
        conn = self._connection()
        if durable:  # part numbers: their high-water mark must survive a power cut, not only a kill
            conn.execute("PRAGMA synchronous = FULL")
        try:
            with transaction(conn):
                self._apply(conn, chunk, outcome)
                self._apply(conn, fresh, outcome)
                for request in requests:
                    self._request(conn, request, answers)
        finally:
            if durable and self._conn is not None:
                conn.execute("PRAGMA synchronous = NORMAL")
        self.commit_metrics.record(time.perf_counter() - started)
        return chunk, outcome, answers

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:  # dropped after an error that may have left it unusable
            conn = self._connect()
            self.room.connected(conn)
            self._conn = conn
        return self._conn

    def _apply(self, conn: sqlite3.Connection, ops: list[_Op], outcome: _Outcome) -> None:
        for op in ops:
            if isinstance(op, _PartOp):
                self._insert_part(conn, op, outcome)
            elif isinstance(op, PlcDelivery):
                cur = conn.execute("UPDATE inspections SET plc_status = ?, plc_delivered_at = ?, plc_detail = ? "
                                   "WHERE seq = ?", (DeliveryStatus(op.status).value, iso_utc(op.delivered_at),
                                                     op.detail or None, int(op.seq)))
                if cur.rowcount == 0:
                    self._unmatched(op, outcome, "a PLC delivery report")
            elif isinstance(op, OperatorReview):
                self._review(conn, op, outcome)
            elif isinstance(op, ImagePaths):
                cur = conn.execute("UPDATE inspections SET image_path = ?, heatmap_path = ? WHERE seq = ?",
                                   (op.image_path, op.heatmap_path, int(op.seq)))
                if cur.rowcount == 0:
                    self._unmatched(op, outcome, "image paths", quiet=True)
            elif isinstance(op, AlarmEvent):
                conn.execute(_INSERT_ALARM, (iso_utc(op.at), op.code, op.event, op.priority, op.message, op.user))
            elif isinstance(op, DownstreamDefect):
                if not record_downstream_defect(conn, op):
                    self._unmatched(op, outcome, "a defect found downstream")
            else:
                append_entry(conn, op)

    @staticmethod
    def _request(conn: sqlite3.Connection, request: StoreRequest, answers: list[tuple[StoreRequest, object]]) -> None:
        """Run one request in a savepoint: what it refuses (a wrong PIN, a version not newer) undoes only itself."""
        conn.execute("SAVEPOINT request")
        try:
            answers.append((request, request.work(conn)))
        except sqlite3.IntegrityError as exc:  # refused by the table's own rules: this request alone
            conn.execute("ROLLBACK TO request")
            answers.append((request, StoreError(f"{request.what} ({exc})", request.todo)))
        except sqlite3.Error:
            conn.execute("ROLLBACK TO request")
            conn.execute("RELEASE request")
            raise  # the database itself refuses: the whole transaction fails and is retried without the request
        except Exception as exc:  # noqa: BLE001 - the caller's own refusal (permission, validation) goes back to it
            conn.execute("ROLLBACK TO request")
            answers.append((request, exc))
        conn.execute("RELEASE request")

    @staticmethod
    def _insert_part(conn: sqlite3.Connection, op: _PartOp, outcome: _Outcome) -> None:
        conn.execute("SAVEPOINT part")
        try:
            conn.execute(_INSERT_PART, op.row)
            if op.regions:
                conn.executemany(_INSERT_REGION, op.regions)
        except sqlite3.IntegrityError as exc:
            # A record the database refuses on its own (e.g. a sequence number recorded twice) must not hold up
            # every other part; it is dropped with an alarm and gets no result (the PLC rejects the part).
            conn.execute("ROLLBACK TO part")
            op.forwarded, op.part = True, None
            outcome.rejected.append(f"part {op.seq} was refused by the database ({exc})")
        conn.execute("RELEASE part")

    def _review(self, conn: sqlite3.Connection, review: OperatorReview, outcome: _Outcome) -> None:
        row = conn.execute("SELECT verdict, auto_verdict FROM inspections WHERE seq = ?", (int(review.seq),)).fetchone()
        if row is None and self._unmatched(review, outcome, "an operator review"):
            return
        new = Verdict(review.verdict).name
        if row is not None:
            conn.execute("UPDATE inspections SET verdict = ?, reviewed_by = ?, reviewed_at = ?, defect_type = ?, "
                         "review_note = ? WHERE seq = ?", (new, review.user, iso_utc(review.reviewed_at),
                                                          review.defect_type, review.note or None, int(review.seq)))
        old, auto = (row[0], row[1]) if row is not None else (None, None)
        action = AuditAction.OVERRIDE if auto not in (None, "HOLD", new) else AuditAction.REVIEW
        reason = review.note or ("HOLD not reviewed in time: the recipe's default verdict was applied"
                                 if review.automatic else "")
        append_entry(conn, AuditRequest(review.user, action, part_subject(review.seq), old, new, reason,
                                        review.reviewed_at))

    def _unmatched(self, op: _Op, outcome: _Outcome, what: str, quiet: bool = False) -> bool:
        """An update whose part is not (yet) recorded: retry it after the part when that waits in memory.

        Returns True when the update was deferred, False when it is for a part never seen (logged).
        """
        if op.seq in self._backlog_seqs:
            outcome.deferred.append(op)
            return True
        log.log(logging.DEBUG if quiet else logging.WARNING,
                "records: %s for part %s arrived, but that part is not recorded", what, op.seq)
        return False

    # --- after the transaction ---------------------------------------------------------------
    def _pass_on(self, ops: list[_Op]) -> None:
        now = time.monotonic()
        for op in ops:
            if isinstance(op, _PartOp) and not op.forwarded:
                self._forward(op, now)

    def _forward(self, op: _PartOp, now: float) -> None:
        part = op.part
        op.forwarded, op.part = True, None
        if part is None:
            return
        if not self.committed.offer(part):
            # The PLC thread is behind: this verdict will not reach the PLC, which rejects the part
            # by itself; say so in the record rather than leave it 'pending'.
            self.metrics.drop()
            log.warning("records: verdict of part %s not passed to the PLC thread (queue full)", op.seq)
            self._backlog.append(PlcDelivery(op.seq, DeliveryStatus.NOT_DELIVERED, None,
                                             "verdict queue to the PLC was full"))
        else:
            self.metrics.record(now - op.decided_mono if op.decided_mono is not None else None)
        if self.images is not None and self._wants_images(part):
            if not self.images.offer(part):
                log.debug("records: images of part %s skipped (image writer busy)", op.seq)

    def _wants_images(self, part: Part) -> bool:
        """NG, HOLD and NOT_INSPECTED parts always; every N-th OK part (StoreConfig.ok_image_sample)."""
        if part.image is None:
            return False
        if part.verdict is not Verdict.OK:
            return True
        every = self.config.ok_image_sample
        if every <= 0:
            return False
        self._ok_seen += 1
        return (self._ok_seen - 1) % every == 0

    # --- when the records cannot be written as judged --------------------------------------
    def _reject_all(self, ops: list[_Op], why: str) -> list[_Op]:
        """The parts among `ops` still on their way to the PLC, as NOT_INSPECTED rows because of `why`."""
        out: list[_Op] = []
        for op in ops:
            if isinstance(op, _PartOp) and not op.forwarded and op.part is not None:
                part = rejected(op.part, why)
                if part is not op.part:
                    op = _PartOp(op.seq, inspection_row(part), op.regions, part, op.decided_mono)
            out.append(op)
        return out

    def _hold_back(self, fresh: list[_Op]) -> None:
        """Keep writes in memory, within the backlog limit; their parts never go on: the PLC rejects them."""
        for op in self._reject_all(fresh, NOT_SENT):
            self._backlog.append(op)
            if isinstance(op, _PartOp):
                self._backlog_seqs.add(op.seq)
                if not op.forwarded:
                    op.forwarded, op.part = True, None
                    self.unsent += 1
                    self.metrics.drop()
                    self._backlog.append(PlcDelivery(op.seq, DeliveryStatus.NOT_DELIVERED, None, NOT_SENT_DETAIL))
        while len(self._backlog) > self.backlog_limit:
            dropped = self._backlog.popleft()
            self.lost += 1
            if isinstance(dropped, _PartOp):
                self._backlog_seqs.discard(dropped.seq)

    def _failed(self, exc: sqlite3.Error | StoreError, fresh: list[_Op], requests: list[StoreRequest]) -> None:
        for request in requests:
            request.refuse(str(exc))
        now = time.monotonic()
        self._last_error = str(exc)
        if self._failing_since is None:
            self._failing_since = now
            log.error("records: database write failed: %s", exc)
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        if code in _REOPEN_AFTER and self._conn is not None and not is_space_error(exc, self.room.free):
            # After an I/O error the connection may be unusable; open a fresh one for the retry. Not for a disk
            # without room: the connection is sound, and one connection alone should write the log.
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None
        self._hold_back(fresh)
        self._tell_plc(True)
        self._retry_at = now + self.retry_s
        lost = f"; {self.lost} writes already lost" if self.lost else ""
        self.alarms.raise_(STORE_WRITE, problem=exc, waiting=len(self._backlog), lost=lost)

    def _tell_plc(self, fault: bool) -> None:
        """Have the PLC show the station in fault (state 2: it rejects every part) while nothing can be recorded."""
        if fault != self._plc_told and self.plc_fault is not None:
            self.plc_fault(fault)
        self._plc_told = fault

    def _recovered(self, rejected: list[str]) -> None:
        if self._failing_since is not None and not self._backlog_seqs:
            log.info("records: database writes work again after %.1f s", time.monotonic() - self._failing_since)
            self._failing_since = None
            self.alarms.clear(STORE_WRITE)
        if rejected:
            for text in rejected:
                log.error("records: %s", text)
            self.alarms.raise_(RECORD_REFUSED, problem=f"some records were refused: {'; '.join(rejected[:3])}")
            self.alarms.clear(RECORD_REFUSED)  # a one-off: stays listed until acknowledged

    # --- the disk ----------------------------------------------------------------------------
    def _look_after_room(self, idle: bool, purge: bool = True) -> None:
        """Watch the free space and the reserve; purge old records while no part waits and the disk has room."""
        try:
            self.room.watch(self._conn, idle=idle)
            if purge and idle and self._conn is not None and self._failing_since is None and not self.room.on_reserve:
                self.retention.run(self._conn)
        except sqlite3.Error as exc:
            log.warning("records: looking after the disk failed: %s", exc)


def _valid_audit(request: AuditRequest) -> bool:
    try:
        AuditAction(request.action)
    except ValueError:
        log.error("records: audit request with unknown action %r dropped", request.action)
        return False
    if not request.user:
        log.error("records: audit request without a user dropped (%s)", request.action)
        return False
    return True
