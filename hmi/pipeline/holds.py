"""HOLD parts waiting for an operator's verdict, with the recipe's time limit and default."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from hmi.core.errors import StoreError
from hmi.core.messages import TIMEOUT_REVIEWER, OperatorReview
from hmi.core.part import Part, utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.pipeline.worker import Worker


@dataclass(frozen=True)
class PendingHold:
    """A held part and when its review time runs out (monotonic seconds)."""

    part: Part
    due_mono: float


class HoldQueue:
    """Every HOLD part until someone decides it or its time runs out; decisions go to `reviews`.

    The screens read `pending()`; an operator's decision and a timeout both leave as an
    OperatorReview on the queue the composition root hands down (to the records and the PLC).
    """

    def __init__(self, reviews: BoundedQueue[OperatorReview], timeout_s: float, default: Verdict,
                 capacity: int = 1000) -> None:
        self.reviews = reviews
        self._listeners: list = []
        self.timeout_s = timeout_s
        self.default = default
        self.capacity = capacity
        self._lock = threading.Lock()
        self._pending: OrderedDict[int, PendingHold] = OrderedDict()

    def add(self, part: Part) -> None:
        """Put a HOLD part in the queue (oldest first); beyond capacity the oldest gets the default now."""
        with self._lock:
            self._pending[part.seq] = PendingHold(part, time.monotonic() + self.timeout_s)
            overflow = len(self._pending) > self.capacity
        if overflow:
            self.expire(force_oldest=True)

    def pending(self) -> list[PendingHold]:
        """Held parts, oldest first."""
        with self._lock:
            return list(self._pending.values())

    def decide(self, seq: int, verdict: Verdict, user: str, defect_type: str | None = None, note: str = "") -> OperatorReview:
        """An operator's verdict on a held part; raises KeyError when it is no longer pending."""
        if verdict not in (Verdict.OK, Verdict.NG):
            raise ValueError("a review decides OK or NG")
        with self._lock:
            held = self._pending.pop(seq)
        review = OperatorReview(seq, verdict, user, utc_now(), defect_type, note)
        if not self._send(review):
            self._put_back(held)
            raise StoreError(f"the verdict on part {seq} could not be handed to the records (queue full)",
                             "try again in a moment; the part is still waiting for review")
        return review

    def subscribe(self, listener) -> None:
        """Also hand every review to `listener` (e.g. the PLC's hold-lane queue)."""
        self._listeners.append(listener)

    def _send(self, review: OperatorReview) -> bool:
        """Hand a review on; False (nothing sent anywhere) when the records queue stays full."""
        if not self.reviews.put(review, timeout=1.0):
            return False
        for fn in self._listeners:
            fn(review)
        return True

    def _put_back(self, held: PendingHold) -> None:
        with self._lock:
            self._pending[held.part.seq] = held
            self._pending.move_to_end(held.part.seq, last=False)

    def expire(self, force_oldest: bool = False) -> list[OperatorReview]:
        """Apply the recipe's default to parts whose review time ran out; returns what was decided."""
        now = time.monotonic()
        with self._lock:
            due = [seq for seq, p in self._pending.items() if p.due_mono <= now]
            if force_oldest and not due and self._pending:
                due = [next(iter(self._pending))]
            taken = [self._pending.pop(seq) for seq in due]
        out = []
        for held in taken:
            review = OperatorReview(held.part.seq, self.default, TIMEOUT_REVIEWER, utc_now(), None,
                                    f"not reviewed within {self.timeout_s:.0f} s: recipe default {self.default.name} applied",
                                    automatic=True)
            if self._send(review):
                out.append(review)
            else:
                self._put_back(held)  # the records are backed up: try again on the next tick
        return out


class HoldTimer(Worker):
    """Applies the HOLD default when review time runs out; wakes twice a second."""

    role = "holds"

    def __init__(self, holds: HoldQueue) -> None:
        super().__init__()
        self.holds = holds

    def loop_once(self) -> None:
        """Expire overdue holds, then sleep."""
        self.holds.expire()
        self.wait(0.5)
