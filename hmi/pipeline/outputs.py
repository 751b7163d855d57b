"""Where an output (plant database, OPC UA, MQTT) plugs into the station: what it gets and what it offers."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from hmi.config.schema import StationConfig
from hmi.core.alarms import Alarm, AlarmBoard, Priority
from hmi.core.messages import OperatorReview
from hmi.core.part import Part
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.pipeline.worker import Worker

T = TypeVar("T")

HELD_KEPT = 5000  # HOLD parts an output remembers while it waits for their reviews (the HOLD list holds 1000)


class StationState(str, Enum):
    """The station's state as the plant sees it (OPC 40100's vision-system states)."""

    PREOPERATIONAL = "Preoperational"  # built, starting: not judging yet
    OPERATIONAL = "Operational"        # judging parts
    ERROR = "Error"                    # running, but a HIGH alarm is active (camera, model, PLC): parts are rejected
    HALTED = "Halted"                  # stopped


class StationStateWatch:
    """The station's state from its phase (set by the station) and its HIGH alarms; tells listeners of each change."""

    def __init__(self, alarms: AlarmBoard) -> None:
        self._alarms = alarms
        self._lock = threading.Lock()
        self._phase = StationState.PREOPERATIONAL
        self._state = StationState.PREOPERATIONAL
        self._listeners: list[Callable[[StationState], None]] = []
        alarms.subscribe(self._on_alarm)

    def state(self) -> StationState:
        """The state now."""
        with self._lock:
            return self._state

    def subscribe(self, listener: Callable[[StationState], None]) -> None:
        """Call `listener(state)` on every change, from the thread that made it (keep it short: offer, never wait)."""
        with self._lock:
            self._listeners.append(listener)

    def running(self) -> None:
        """The station judges parts (called by the station once it started)."""
        self._set_phase(StationState.OPERATIONAL)

    def halted(self) -> None:
        """The station stopped judging (called by the station as it stops)."""
        self._set_phase(StationState.HALTED)

    def _set_phase(self, phase: StationState) -> None:
        with self._lock:
            self._phase = phase
        self._update()

    def _on_alarm(self, alarm: Alarm) -> None:
        if alarm.priority is Priority.HIGH:
            self._update()

    def _update(self) -> None:
        faulted = any(a.active and a.priority is Priority.HIGH for a in self._alarms.snapshot())
        with self._lock:
            state = StationState.ERROR if faulted and self._phase is StationState.OPERATIONAL else self._phase
            if state is self._state:
                return
            self._state = state
            listeners = list(self._listeners)
        for fn in listeners:
            fn(state)


class LoggedIn(Protocol):
    """A station user once the station accepted their login."""

    @property
    def name(self) -> str:
        """The user's name."""


class StationLogins(Protocol):
    """The station's users as an output checks a login against them (hmi.store.users.UserDirectory)."""

    def authenticate(self, name: str, secret: str) -> LoggedIn:
        """The user when `secret` is right, else PermissionDenied (StoreError when the records cannot answer).

        Every try is written to the audit trail and wrong ones count towards the station's lock-out; it waits
        for the store thread, so call it from a thread of the output's own, never from the line's.
        """


@dataclass(frozen=True)
class OutputFeed:
    """What the builder hands an output: the config, the data folder, the alarm board, the station's state,
    its own parts and reviews queues and the station's users.

    `parts` receives every decided part as the verdict outlet publishes it (before the store commits
    it), offered and never waited on: when the output falls behind, the queue refuses and counts
    (`parts.refused`) and judging goes on. `reviews` receives the final verdict of every HOLD part
    (an operator's, or the recipe's default when its review time ran out) as the records and the PLC
    get it, offered the same way. An output that must report only recorded parts reads the records
    instead (replication from a watermark). `users` checks logins (None where the station has none).
    """

    cfg: StationConfig
    data_dir: Path
    alarms: AlarmBoard
    parts: BoundedQueue[Part]
    state: StationStateWatch
    reviews: BoundedQueue[OperatorReview]
    users: StationLogins | None = None


class AwaitingReview(Generic[T]):
    """What an output published for each HOLD part, kept until the part's review comes (one thread's own).

    At most `limit` are kept; beyond it the oldest is forgotten (its review then goes out without it).
    """

    def __init__(self, limit: int = HELD_KEPT) -> None:
        self._kept: OrderedDict[int, T] = OrderedDict()
        self._limit = limit

    def keep(self, seq: int, value: T) -> None:
        """Remember `value` for HOLD part `seq`."""
        self._kept[seq] = value
        if len(self._kept) > self._limit:
            self._kept.popitem(last=False)

    def take(self, seq: int) -> T | None:
        """What was kept for part `seq` (forgotten here), or None."""
        return self._kept.pop(seq, None)

    def __len__(self) -> int:
        return len(self._kept)


def review_reason(review: OperatorReview) -> str:
    """Why a HOLD part got its final verdict, in words: who reviewed it, or the recipe's default applied."""
    if review.automatic:
        return review.note or f"not reviewed in time: the recipe's default {review.verdict.name} applied"
    return f"reviewed by {review.user}" + (f": {review.note}" if review.note else "")


def reviewed_defect_code(review: OperatorReview, defect_types: Sequence[str]) -> int:
    """The PLC's defect code of a reviewed part, as its hold-lane release gets it: the reviewed type's, 0 for OK."""
    if review.verdict is Verdict.OK or not review.defect_type or review.defect_type not in defect_types:
        return 0
    return list(defect_types).index(review.defect_type) + 1


class Output(Protocol):
    """An output beside the records and the PLC; it owns its threads and opens nothing before `start`."""

    def start(self) -> None:
        """Start its threads (after the records, before the judging core)."""

    def stop(self) -> None:
        """Deliver or buffer what it can, then end its threads (after the judging core stopped)."""

    def workers(self) -> list[Worker]:
        """Its workers, for the health panel."""


# build_station(..., outputs=[factory, ...]) calls each factory once with the output's feed.
OutputFactory = Callable[[OutputFeed], Output]
