"""HOLD parts waiting for an operator's verdict, each with the time limit and default of the recipe it was judged with."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from hmi.core.alarm_catalogue import HOLD_FULL
from hmi.core.alarms import AlarmBoard
from hmi.core.errors import StoreError
from hmi.core.messages import TIMEOUT_REVIEWER, OperatorReview
from hmi.core.part import Part, utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.pipeline.worker import Worker

log = logging.getLogger(__name__)

NO_SETUP_TIMEOUT_S = 300.0  # review time of a part that carries no setup (tools, tests)


@dataclass(frozen=True)
class PendingHold:
    """A held part, when its review time runs out (monotonic seconds) and its recipe's default then."""

    part: Part
    due_mono: float
    default: Verdict = Verdict.NG
    timeout_s: float = 300.0


class HoldQueue:
    """Every HOLD part until someone decides it or its time runs out; decisions go to `reviews`.

    The screens read `pending()`; an operator's decision and a timeout both leave as an
    OperatorReview on the queue the composition root hands down (to the records and the PLC).
    `add` runs on the judging thread and never waits: a part beyond `capacity` gets the recipe's
    default at once (counted, alarmed), and a default the full reviews queue refuses is sent later
    by `expire` on the holds thread.
    """

    def __init__(self, reviews: BoundedQueue[OperatorReview], timeout_s: float | None = None,
                 default: Verdict = Verdict.NG, capacity: int = 1000, alarms: AlarmBoard | None = None) -> None:
        self.reviews = reviews
        self._listeners: list = []
        # The queue's own cap on every part's review time (None: the recipes' times alone); commissioning, tests.
        self.timeout_s: float | None = timeout_s
        self._fallback = default   # for a part that carries no setup (tools, tests): never pushed by the station
        self.capacity = capacity
        self.alarms = alarms
        self._lock = threading.Lock()
        self._pending: OrderedDict[int, PendingHold] = OrderedDict()
        self._unsent: deque[OperatorReview] = deque()
        self._overflowed = 0
        self._dropped = 0
        self._full_logged = False

    # --- the recipe's hold policy, as each part carries it ---------------------------------------
    def _policy(self, part: Part) -> tuple[float, Verdict]:
        """(review time, default verdict) of the recipe the part was judged with; the queue's own limit caps it."""
        setup = part.setup
        timeout, default = ((setup.hold_timeout_s, setup.hold_default) if setup is not None
                            else (NO_SETUP_TIMEOUT_S, self._fallback))
        limit = self.timeout_s
        return (timeout if limit is None else min(timeout, limit)), default

    def add(self, part: Part) -> None:
        """Put a HOLD part in the queue (oldest first); when it is full the part gets its recipe's default at once."""
        timeout, default = self._policy(part)
        with self._lock:
            if len(self._pending) < self.capacity:
                self._pending[part.seq] = PendingHold(part, time.monotonic() + timeout, default, timeout)
                return
            self._overflowed += 1
            first, self._full_logged = not self._full_logged, True
        review = OperatorReview(part.seq, default, TIMEOUT_REVIEWER, utc_now(), None,
                                f"HOLD list full ({self.capacity} parts waiting for review): recipe default "
                                f"{default.name} applied at once", automatic=True)
        if first:  # once per episode: a log line per part would be file I/O on the judging thread
            log.warning("part %d: %s (and so on for further held parts until the list has room)", part.seq,
                        review.note)
        if not self._offer(review):
            with self._lock:
                self._unsent.append(review)
                if len(self._unsent) > self.capacity:
                    self._unsent.popleft()
                    self._dropped += 1
        self._alarm_full(default)

    def restore(self, part: Part, waited_s: float) -> PendingHold | OperatorReview:
        """Put back a part still HOLD in the records after a restart, with the review time it has left.

        `waited_s` is how long it has waited since it was judged (the station's downtime included). When its
        time ran out meanwhile, or the list is full, the recipe's default is handed on now, with the reason in
        its note, and returned; else the part's place in the queue. Runs before the holds thread starts.
        """
        timeout, default = self._policy(part)
        left = timeout - max(0.0, waited_s)
        with self._lock:
            if left > 0 and len(self._pending) < self.capacity and part.seq not in self._pending:
                held = self._pending[part.seq] = PendingHold(part, time.monotonic() + left, default, timeout)
                return held
        why = (f"its review time ({timeout:.0f} s) ran out while the station was stopped" if left <= 0 else
               f"the HOLD list was full ({self.capacity} parts waiting for review) when the station restarted")
        review = OperatorReview(part.seq, default, TIMEOUT_REVIEWER, utc_now(), None,
                                f"{why}: recipe default {default.name} applied at restart", automatic=True)
        if not self._send(review):
            raise StoreError(f"the default verdict of held part {part.seq} could not be handed to the records",
                             "restart the station; the part stays HOLD in the records until then")
        return review

    def _alarm_full(self, default: Verdict) -> None:
        with self._lock:
            overflowed, dropped = self._overflowed, self._dropped
        if self.alarms is None:
            return
        lost = (f"; {dropped} of these verdicts could not be handed to the records, so those parts stay HOLD there"
                if dropped else "")
        self.alarms.raise_(HOLD_FULL, capacity=self.capacity, overflowed=overflowed, default=default.label,
                           lost=lost)

    def pending(self) -> list[PendingHold]:
        """Held parts, oldest first."""
        with self._lock:
            return list(self._pending.values())

    @property
    def overflowed(self) -> int:
        """HOLD parts that found the list full and got the recipe's default at once."""
        with self._lock:
            return self._overflowed

    def decide(self, seq: int, verdict: Verdict, user: str, defect_type: str | None = None, note: str = "") -> OperatorReview:
        """An operator's verdict on a held part; raises KeyError when it is no longer pending."""
        if verdict not in (Verdict.OK, Verdict.NG):
            raise ValueError("a review decides OK or NG")
        with self._lock:
            held = self._pending.pop(seq)
        review = OperatorReview(seq, verdict, user, utc_now(), defect_type, note)
        if not self._send(review):
            self._put_back([held])
            raise StoreError(f"the verdict on part {seq} could not be handed to the records (queue full)",
                             "try again in a moment; the part is still waiting for review")
        return review

    def subscribe(self, listener) -> None:
        """Also hand every review to `listener` (e.g. the PLC's hold-lane queue)."""
        self._listeners.append(listener)

    def _offer(self, review: OperatorReview) -> bool:
        """Hand a review on without waiting; False (nothing sent anywhere) when the records queue is full."""
        if not self.reviews.offer(review):
            return False
        for fn in self._listeners:
            fn(review)
        return True

    def _send(self, review: OperatorReview) -> bool:
        """Hand a review on, waiting up to 1 s for room (never on the judging thread)."""
        if not self.reviews.put(review, timeout=1.0):
            return False
        for fn in self._listeners:
            fn(review)
        return True

    def _put_back(self, held: list[PendingHold]) -> None:
        with self._lock:
            for h in reversed(held):
                self._pending[h.part.seq] = h
                self._pending.move_to_end(h.part.seq, last=False)

    def expire(self) -> list[OperatorReview]:
        """Send defaults the records refused earlier, then apply the default where review time ran out; returns them."""
        out = []
        while True:
            with self._lock:
                if not self._unsent:
                    break
                review = self._unsent.popleft()
            if not self._send(review):
                with self._lock:
                    self._unsent.appendleft(review)
                    if len(self._unsent) > self.capacity:  # `add` kept more meanwhile: the oldest goes
                        self._unsent.popleft()
                        self._dropped += 1
                break
            out.append(review)
        now = time.monotonic()
        with self._lock:
            due = [seq for seq, p in self._pending.items() if p.due_mono <= now]
            taken = [self._pending.pop(seq) for seq in due]
        for i, held in enumerate(taken):
            review = OperatorReview(held.part.seq, held.default, TIMEOUT_REVIEWER, utc_now(), None,
                                    f"not reviewed within {held.timeout_s:.0f} s: recipe default "
                                    f"{held.default.name} applied", automatic=True)
            if not self._send(review):
                self._put_back(taken[i:])  # the records are backed up: try again on the next tick
                break
            out.append(review)
        with self._lock:
            settled = len(self._pending) < self.capacity and not self._unsent
            if settled:
                self._full_logged = False
        if settled and self.alarms is not None and self.alarms.is_active(HOLD_FULL):
            self.alarms.clear(HOLD_FULL)
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
