"""Base class of every background thread: setup / run / teardown on a named thread, with a typed status.

`Worker` is the one way the station runs a thread: the pipeline's stages, teaching and what-if (one job
each, `run` overridden) and the job-queue threads (`JobWorker`: the reports thread, the UI's I/O thread).
Its thread lowers its own priority as it starts (`nice`, `idle`: hmi.pipeline.priority), and the
worker's owner stops it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from enum import Enum
from typing import Any, Self, TypeVar

from hmi.core.errors import StationError
from hmi.pipeline.priority import lower_this_thread

log = logging.getLogger(__name__)

T = TypeVar("T")


class WorkerState(str, Enum):
    """Life cycle of a worker, shown on the health panel."""

    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class Worker:
    """A stage that owns one resource (or one background job) on its own thread.

    Subclasses implement `setup` (open the resource), `loop_once` (one short step; must return
    within a fraction of a second so `stop` is honoured) and `teardown` (release it). A worker that
    does one job and ends (teach, what-if) overrides `run` instead and checks `stopping` (or sleeps
    with `wait`) between its steps. An exception escaping them ends the worker in FAILED with the
    error kept for the screens; the worker does not carry on silently.
    """

    role = "worker"
    # The nice value the worker's thread runs at (Linux; 0: the process's): best-effort stages yield the
    # cores to the verdict path. Set by the thread itself as it starts (hmi.pipeline.priority).
    nice = 0
    # Also SCHED_IDLE (Linux): the thread runs only on a CPU nothing else wants (the reports thread).
    idle = False

    def __init__(self, role: str | None = None) -> None:
        if role:
            self.role = role
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = WorkerState.NEW
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self.priority = ""  # what the thread's priority was set to, once it runs ('nice 19, SCHED_IDLE')

    # --- to override -------------------------------------------------------------------------
    def setup(self) -> None:
        """Open the resource this worker owns."""

    def loop_once(self) -> None:
        """Do one short step of work."""
        raise NotImplementedError

    def teardown(self) -> None:
        """Release the resource; runs even after a failure."""

    def run(self) -> None:
        """The work between setup and teardown: `loop_once` until stop is asked (one-job workers override it)."""
        while not self._stop.is_set():
            self.loop_once()

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

    def _run(self) -> None:
        self.priority = lower_this_thread(self.nice, idle=self.idle)
        try:
            self.setup()
            self._set_state(WorkerState.RUNNING)
            self.run()
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


class JobWorker(Worker):
    """A thread that runs submitted callables one after another; `submit(work)` returns a Future.

    The thread starts with the first job (a worker nobody gives work costs no thread) and ends on `stop`
    once the jobs queued before it are done; `stop(cancel_pending=True)` drops those not yet started
    (their Futures are cancelled). A job's exception goes to its Future and never ends the worker. Used as
    a context manager it is stopped and joined on leaving. Futures' callbacks run on this thread.
    """

    role = "jobs"

    def __init__(self, role: str | None = None, *, nice: int | None = None, idle: bool | None = None) -> None:
        super().__init__(role)
        if nice is not None:
            self.nice = nice
        if idle is not None:
            self.idle = idle
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future] | None] = queue.SimpleQueue()
        self._closed = False
        self._submit_lock = threading.Lock()

    def submit(self, work: Callable[[], T]) -> Future[T]:
        """Queue `work` behind the jobs already queued; RuntimeError once the worker was stopped."""
        future: Future[T] = Future()
        with self._submit_lock:
            if self._closed:
                raise RuntimeError(f"the {self.role} thread was stopped")
            if self._thread is None:
                self.start()
            self._jobs.put((work, future))
        return future

    @property
    def stopping(self) -> bool:
        """True once stop was requested (the jobs queued before it may still be running)."""
        return self._closed or super().stopping

    def stop(self, cancel_pending: bool = False) -> None:
        """Take no more jobs; the thread ends after those queued (dropped instead with `cancel_pending`)."""
        with self._submit_lock:
            if cancel_pending:
                self._cancel_queued()  # (an end mark queued earlier goes too: it is put back below)
            if cancel_pending or not self._closed:
                self._closed = True
                self._jobs.put(None)  # behind every job queued so far: the thread ends when it gets here
        if self._thread is None:
            self._stop.set()

    def shutdown(self, timeout: float | None = None, *, cancel_pending: bool = False) -> bool:
        """Stop and wait up to `timeout` for the thread to end; True when it has."""
        self.stop(cancel_pending)
        return self.join(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Leaving on an error (Ctrl+C included): drop what is queued and do not wait long for the job at hand.
        self.shutdown(None if exc_type is None else 5.0, cancel_pending=exc_type is not None)

    def loop_once(self) -> None:
        """Run the next job (waits for one: `stop` wakes it with the end-of-jobs mark, which ends the loop)."""
        item = self._jobs.get()
        if item is None:
            self._stop.set()
            return
        work, future = item
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = work()
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the Future
            future.set_exception(exc)
        else:
            future.set_result(result)

    def teardown(self) -> None:
        """A thread that ended early (it failed) leaves no Future unanswered: what is still queued is cancelled."""
        with self._submit_lock:
            self._closed = True
            self._cancel_queued()

    def _cancel_queued(self) -> None:
        while True:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[1].cancel()
