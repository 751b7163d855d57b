"""Starts workers in a fixed order, stops them in the reverse order, reports their health and alarms their failures."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from hmi.core.alarm_catalogue import WORKER_OTHER, worker_alarm
from hmi.core.alarms import AlarmBoard
from hmi.pipeline.worker import Worker, WorkerState

log = logging.getLogger(__name__)

WATCH_PERIOD_S = 0.25  # a thread that ends on an error is alarmed within this


@dataclass(frozen=True)
class WorkerHealth:
    """One worker's state and, when it failed, why."""

    role: str
    state: WorkerState
    error: str


class Supervisor:
    """Owns the start/stop order of the station's workers (upstream last to start, first to stop).

    Its own thread watches every worker it started or was asked to watch and raises that worker's
    alarm (hmi.core.alarm_catalogue.worker_alarm) once when it ends on an error; reading health
    changes nothing.
    """

    def __init__(self, alarms: AlarmBoard) -> None:
        self.alarms = alarms
        self._workers: list[Worker] = []
        self._watched: list[Worker] = []
        self._lock = threading.Lock()
        self._reported: set[int] = set()
        self._watch: _Watch | None = None

    def add(self, worker: Worker) -> Worker:
        """Register a worker; register downstream stages first (they start first)."""
        self._workers.append(worker)
        return worker

    def watch(self, *workers: Worker) -> None:
        """Also alarm these workers' failures (started and stopped by their own stage, e.g. records and PLC)."""
        with self._lock:
            self._watched.extend(workers)

    def start(self) -> None:
        """Start the watch, then every worker in registration order."""
        self._watch = _Watch(self)
        self._watch.start()
        for w in self._workers:
            w.start()

    def stop(self, timeout_s: float = 10.0) -> list[str]:
        """Stop workers in reverse order (each finishes its queue), then the watch; returns roles that did not end."""
        stuck: list[str] = []
        for w in reversed(self._workers):
            w.stop()
            if not w.join(timeout_s):
                log.error("%s did not stop within %.0f s", w.role, timeout_s)
                stuck.append(w.role)
        if self._watch is not None:
            self._watch.stop()
            self._watch.join(timeout_s)
            self._watch = None
        return stuck

    def health(self) -> list[WorkerHealth]:
        """State of every worker it started (no side effects)."""
        return [WorkerHealth(w.role, w.state, w.error_text()) for w in self._workers]

    def failed(self) -> list[WorkerHealth]:
        """Workers it started that ended on an error."""
        return [h for h in self.health() if h.state is WorkerState.FAILED]

    def check(self) -> None:
        """Raise the alarm of every worker that failed since the last check (the watch calls this)."""
        with self._lock:
            workers = self._workers + self._watched
        others: list[str] = []
        for w in workers:
            if w.state is not WorkerState.FAILED:
                continue
            alarm = worker_alarm(w.role)
            if alarm is WORKER_OTHER:
                others.append(f"{w.role} ({w.error_text()})")
            elif id(w) not in self._reported:
                self.alarms.raise_(alarm, error=w.error_text())
            self._reported.add(id(w))
        if others:  # one alarm names every stopped thread not declared in the catalogue
            self.alarms.raise_(WORKER_OTHER, error="; ".join(others))


class _Watch(Worker):
    """The supervisor's own thread: checks the workers a few times a second."""

    role = "supervisor"

    def __init__(self, supervisor: Supervisor) -> None:
        super().__init__()
        self.supervisor = supervisor

    def loop_once(self) -> None:
        """Check, then sleep."""
        self.supervisor.check()
        self.wait(WATCH_PERIOD_S)

    def teardown(self) -> None:
        """A last check, so a worker that failed while stopping is alarmed too."""
        self.supervisor.check()
