"""Where judged parts leave the inspection stages: counters, the screens' newest slot, the records queue."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, replace

from hmi.core.alarm_catalogue import RECORDS_BACKLOG
from hmi.core.alarms import AlarmBoard
from hmi.core.messages import RecordOnly
from hmi.core.part import UNNUMBERED, Part
from hmi.core.verdict import Verdict
from hmi.pipeline.metrics import StageMetrics
from hmi.pipeline.queues import BoundedQueue, NewestSlot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerdictCounts:
    """Parts per automatic verdict since the station started."""

    ok: int = 0
    ng: int = 0
    hold: int = 0
    not_inspected: int = 0

    @property
    def total(self) -> int:
        """All parts."""
        return self.ok + self.ng + self.hold + self.not_inspected

    @property
    def yield_pct(self) -> float:
        """First-pass yield: OK parts as a share of all parts, in percent."""
        return 100.0 * self.ok / self.total if self.total else 0.0


class VerdictOutlet:
    """Thread-safe exit of the judging stages; capture (for NOT_INSPECTED) and inference both publish here.

    Publishing never waits. A part the records queue refuses (the store is behind) is not sent to the
    PLC, which rejects any part it has no result for: it becomes NOT_INSPECTED at once, and its record
    waits in a bounded overflow that `drain` moves into the records queue once there is room. The
    screens only ever see the newest part and a short history.
    """

    def __init__(self, metrics: StageMetrics, newest: NewestSlot[Part], records: BoundedQueue | None,
                 alarms: AlarmBoard, recent: int = 24, overflow: int = 10_000) -> None:
        self.metrics = metrics
        self.newest = newest
        self.records = records
        self.alarms = alarms
        self.overflow_limit = overflow
        self._lock = threading.Lock()
        self._counts = {v: 0 for v in Verdict}
        self._recent: deque[Part] = deque(maxlen=recent)
        self._overflow: deque[RecordOnly] = deque()
        self._unrecorded = 0
        self._lost = 0
        self._refusal_logged = False
        self._listeners: list = []

    def subscribe(self, listener) -> None:
        """Call `listener(part)` from the publishing thread for every part (benchmarks, tests)."""
        self._listeners.append(listener)

    def publish(self, part: Part) -> None:
        """Hand on a decided part without waiting: queue it for the records (then the PLC), count it, show it."""
        assert part.decision is not None, "only decided parts leave the judging stages"
        # Queued before the listeners run, so a HOLD default decided by a listener follows its part.
        # A part the records could not number has no row to go in (its reason says so; PART_NUMBERS alarms).
        if self.records is not None and part.seq != UNNUMBERED and not self.records.offer(part):
            part = self._unqueued(part)
        self.metrics.record(part.decision.decided_mono - part.captured_mono)
        with self._lock:
            self._counts[part.decision.verdict] += 1
            self._recent.append(part)
        self.newest.put(part)
        for fn in self._listeners:
            fn(part)
        if self._overflow:
            self.drain()

    def _unqueued(self, part: Part) -> Part:
        """The part as NOT_INSPECTED, its record kept for later, counted and alarmed."""
        dec = part.decision
        assert dec is not None
        reason = (f"records queue full: no result sent to the PLC, which rejects the part (judged "
                  f"{dec.verdict.label}: {dec.reason})")
        part = replace(part, decision=replace(dec, verdict=Verdict.NOT_INSPECTED, reason=reason, confidence=None))
        insp = part.inspection
        record = RecordOnly(replace(part, image=None, inspection=replace(insp, anomaly_map=None) if insp else None),
                            "not sent: the records queue was full when the part was judged; the PLC rejects a "
                            "part it has no result for")
        with self._lock:
            self._unrecorded += 1
            if len(self._overflow) < self.overflow_limit:
                self._overflow.append(record)
            else:
                self._lost += 1
            unrecorded, lost = self._unrecorded, self._lost
            first, self._refusal_logged = not self._refusal_logged, True
        if first:  # once per episode: a log line per part would be file I/O on the judging thread
            log.error("records: part %d refused by the full records queue, rejected as NOT INSPECTED without a "
                      "result to the PLC (and so on until the store catches up)", part.seq)
        missing = f"; {lost} of them are missing from the records (overflow full)" if lost else ""
        self.alarms.raise_(RECORDS_BACKLOG, unrecorded=unrecorded, missing=missing)
        return part

    def drain(self, keep_room: bool = True) -> int:
        """Move waiting overflow records into the records queue, never waiting; returns how many still wait.

        With `keep_room` only while the queue is under half full, so fresh parts keep finding room.
        """
        records = self.records
        with self._lock:
            while self._overflow and records is not None:
                if keep_room and 2 * len(records) >= records.maxsize:
                    break
                if not records.offer(self._overflow[0]):
                    break
                self._overflow.popleft()
            waiting = len(self._overflow)
            if not waiting:
                self._refusal_logged = False
        if not waiting and self.alarms.is_active(RECORDS_BACKLOG):
            self.alarms.clear(RECORDS_BACKLOG)
        return waiting

    def flush(self, timeout_s: float) -> int:
        """At shutdown (never on the line): wait up to `timeout_s` for the overflow to reach the records queue.

        Returns how many records are still waiting (and so missing from the records); they are logged.
        """
        deadline = time.monotonic() + timeout_s
        while (waiting := self.drain(keep_room=False)) and time.monotonic() < deadline:
            time.sleep(0.01)
        if waiting:
            log.error("records: %d parts judged NOT INSPECTED could not be handed to the store before shutdown",
                      waiting)
        return waiting

    def counts(self) -> VerdictCounts:
        """Parts per verdict so far."""
        with self._lock:
            c = dict(self._counts)
        return VerdictCounts(c[Verdict.OK], c[Verdict.NG], c[Verdict.HOLD], c[Verdict.NOT_INSPECTED])

    def recent(self) -> list[Part]:
        """The last parts, newest last."""
        with self._lock:
            return list(self._recent)

    @property
    def unrecorded(self) -> int:
        """Parts the records queue refused (judged NOT_INSPECTED, no result to the PLC)."""
        with self._lock:
            return self._unrecorded

    @property
    def backlog(self) -> int:
        """Records of refused parts waiting in the overflow for room in the records queue."""
        with self._lock:
            return len(self._overflow)

    @property
    def lost(self) -> int:
        """Refused parts the overflow could not keep either: missing from the records."""
        with self._lock:
            return self._lost
