"""Where judged parts leave the inspection stages: counters, the screens' newest slot, the records queue."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from hmi.core.alarms import AlarmBoard, Priority
from hmi.core.part import Part
from hmi.core.verdict import Verdict
from hmi.pipeline.metrics import StageMetrics
from hmi.pipeline.queues import BoundedQueue, NewestSlot


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

    Every part goes to the records queue (waiting briefly, never long) so that no part is silently
    lost; the screens only ever see the newest part and a short history.
    """

    def __init__(self, metrics: StageMetrics, newest: NewestSlot[Part], records: BoundedQueue[Part] | None,
                 alarms: AlarmBoard, recent: int = 24, record_wait_s: float = 0.05) -> None:
        self.metrics = metrics
        self.newest = newest
        self.records = records
        self.alarms = alarms
        self._record_wait_s = record_wait_s
        self._lock = threading.Lock()
        self._counts = {v: 0 for v in Verdict}
        self._recent: deque[Part] = deque(maxlen=recent)
        self._unrecorded = 0
        self._listeners: list = []

    def subscribe(self, listener) -> None:
        """Call `listener(part)` from the publishing thread for every part (benchmarks, tests)."""
        self._listeners.append(listener)

    def publish(self, part: Part) -> None:
        """Hand on a decided part: count it, show it, queue it for the records (and from there the PLC)."""
        assert part.decision is not None, "only decided parts leave the judging stages"
        self.metrics.record(part.decision.decided_mono - part.captured_mono)
        with self._lock:
            self._counts[part.decision.verdict] += 1
            self._recent.append(part)
        self.newest.put(part)
        if self.records is not None and not self.records.put(part, timeout=self._record_wait_s):
            with self._lock:
                self._unrecorded += 1
                n = self._unrecorded
            self.alarms.raise_("RECORDS_BACKLOG",
                               f"{n} parts could not be queued for the records (writer too slow) — the PLC rejects "
                               "them by itself; check the disk and call service", Priority.HIGH)
        for fn in self._listeners:
            fn(part)

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
        """Parts the records queue refused."""
        with self._lock:
            return self._unrecorded
