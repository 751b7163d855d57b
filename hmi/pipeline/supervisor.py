"""Starts workers in a fixed order, stops them in the reverse order, and reports their health."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hmi.core.alarms import AlarmBoard, Priority
from hmi.pipeline.worker import Worker, WorkerState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerHealth:
    """One worker's state and, when it failed, why."""

    role: str
    state: WorkerState
    error: str


class Supervisor:
    """Owns the start/stop order of the station's workers (upstream last to start, first to stop)."""

    def __init__(self, alarms: AlarmBoard) -> None:
        self.alarms = alarms
        self._workers: list[Worker] = []
        self._reported: set[str] = set()

    def add(self, worker: Worker) -> Worker:
        """Register a worker; register downstream stages first (they start first)."""
        self._workers.append(worker)
        return worker

    def start(self) -> None:
        """Start every worker in registration order."""
        for w in self._workers:
            w.start()

    def stop(self, timeout_s: float = 10.0) -> list[str]:
        """Stop workers in reverse order, each finishing its queue first; returns roles that did not end."""
        stuck: list[str] = []
        for w in reversed(self._workers):
            w.stop()
            if not w.join(timeout_s):
                log.error("%s did not stop within %.0f s", w.role, timeout_s)
                stuck.append(w.role)
        return stuck

    def health(self) -> list[WorkerHealth]:
        """State of every worker; a newly failed one also raises an alarm."""
        out = []
        for w in self._workers:
            st = w.state
            out.append(WorkerHealth(w.role, st, w.error_text()))
            if st is WorkerState.FAILED and w.role not in self._reported:
                self._reported.add(w.role)
                self.alarms.raise_(f"WORKER_{w.role.upper()}", w.error_text(), Priority.HIGH)
        return out

    def failed(self) -> list[WorkerHealth]:
        """Workers that ended on an error."""
        return [h for h in self.health() if h.state is WorkerState.FAILED]
