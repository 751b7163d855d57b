"""Base class of every long-lived worker: setup / loop / teardown on a named thread, with a typed status."""

from __future__ import annotations

import logging
import os
import threading
from enum import Enum

from hmi.core.errors import StationError

log = logging.getLogger(__name__)


class WorkerState(str, Enum):
    """Life cycle of a worker, shown on the health panel."""

    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class Worker:
    """A stage that owns one resource on its own thread.

    Subclasses implement `setup` (open the resource), `loop_once` (one short step; must return
    within a fraction of a second so `stop` is honoured) and `teardown` (release it). An exception
    escaping them ends the worker in FAILED with the error kept for the screens; the worker does
    not carry on silently.
    """

    role = "worker"
    # Added to the thread's nice value (Linux): best-effort stages yield the cores to the verdict path.
    nice = 0

    def __init__(self, role: str | None = None) -> None:
        if role:
            self.role = role
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = WorkerState.NEW
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    # --- to override -------------------------------------------------------------------------
    def setup(self) -> None:
        """Open the resource this worker owns."""

    def loop_once(self) -> None:
        """Do one short step of work."""
        raise NotImplementedError

    def teardown(self) -> None:
        """Release the resource; runs even after a failure."""

    # --- life cycle --------------------------------------------------------------------------
    @property
    def state(self) -> WorkerState:
        """Where the worker is in its life cycle."""
        with self._lock:
            return self._state

    @property
    def error(self) -> BaseException | None:
        """What ended the worker, when it FAILED."""
        with self._lock:
            return self._error

    def error_text(self) -> str:
        """The failure in plain words for the screens."""
        err = self.error
        if err is None:
            return ""
        if isinstance(err, StationError):
            return str(err)
        return f"{self.role} stopped on an internal error ({type(err).__name__}: {err}) — restart the station; if it repeats, call service"

    def _set_state(self, state: WorkerState, error: BaseException | None = None) -> None:
        with self._lock:
            self._state = state
            if error is not None:
                self._error = error

    @property
    def stopping(self) -> bool:
        """True once stop was requested; long steps should check it."""
        return self._stop.is_set()

    def start(self) -> None:
        """Start the worker's thread, named after its role."""
        if self._thread is not None:
            raise RuntimeError(f"{self.role} already started")
        self._set_state(WorkerState.STARTING)
        self._thread = threading.Thread(target=self._run, name=self.role, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True while the worker's thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Ask the worker to finish its current step and tear down."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True when it has."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early on stop; True when stop was requested."""
        return self._stop.wait(seconds)

    def _lower_priority(self) -> None:
        if self.nice and hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
            except OSError as exc:  # not permitted or not supported: run at normal priority
                log.debug("%s keeps normal priority: %s", self.role, exc)

    def _run(self) -> None:
        self._lower_priority()
        try:
            self.setup()
            self._set_state(WorkerState.RUNNING)
            while not self._stop.is_set():
                self.loop_once()
            self._set_state(WorkerState.STOPPING)
        except BaseException as exc:  # noqa: BLE001 - ends the worker with a typed status, never swallowed
            log.error("%s failed: %s", self.role, exc, exc_info=not isinstance(exc, StationError))
            self._set_state(WorkerState.FAILED, exc)
        finally:
            try:
                self.teardown()
            except Exception as exc:  # noqa: BLE001
                log.error("%s teardown failed: %s", self.role, exc)
            if self.state is not WorkerState.FAILED:
                self._set_state(WorkerState.STOPPED)
