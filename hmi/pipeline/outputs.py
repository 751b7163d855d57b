"""Where an output (plant database, OPC UA, MQTT) plugs into the station: what it gets and what it offers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol

from hmi.config.schema import StationConfig
from hmi.core.alarms import Alarm, AlarmBoard, Priority
from hmi.core.part import Part
from hmi.pipeline.queues import BoundedQueue
from hmi.pipeline.worker import Worker


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


@dataclass(frozen=True)
class OutputFeed:
    """What the builder hands an output: the config, the data folder, the alarm board, the station's state and
    its own parts queue.

    `parts` receives every decided part as the verdict outlet publishes it (before the store commits
    it), offered and never waited on: when the output falls behind, the queue refuses and counts
    (`parts.refused`) and judging goes on. An output that must report only recorded parts reads
    the records instead (replication from a watermark).
    """

    cfg: StationConfig
    data_dir: Path
    alarms: AlarmBoard
    parts: BoundedQueue[Part]
    state: StationStateWatch


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
