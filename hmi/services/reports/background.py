"""The reports' own low-priority thread: shift reports are built where they cannot take CPU from the line.

The station judges parts in the same process, so a report must not compete with it. Report work runs
on one dedicated thread that lowers itself to nice 19 and, on Linux, to SCHED_IDLE (it runs only on a
CPU nothing else wants). Only that thread is lowered: an unprivileged process cannot raise its
priority again, so the shared UI helper thread is never used for reports. SQLite lets go of Python's
GIL while it reads, so the station's threads keep running while a report query is under way.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

log = logging.getLogger(__name__)

THREAD_NAME = "reports"
REPORT_NICE = 19

T = TypeVar("T")


def lower_this_thread() -> str:
    """Put the calling thread (only it) at nice 19 and SCHED_IDLE where available; says what was applied."""
    applied = []
    tid = threading.get_native_id()
    try:
        # On Linux PRIO_PROCESS with a thread id changes that one thread, not the whole process.
        os.setpriority(os.PRIO_PROCESS, tid, REPORT_NICE)
        applied.append(f"nice {os.getpriority(os.PRIO_PROCESS, tid)}")
    except (AttributeError, OSError) as exc:
        log.warning("reports: could not lower the report thread's nice value (%s)", exc)
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: the calling thread
            applied.append("SCHED_IDLE")
        except OSError as exc:
            log.warning("reports: SCHED_IDLE refused for the report thread (%s)", exc)
    return ", ".join(applied) or "normal priority (the system refused a lower one)"


class ReportWorker:
    """One low-priority thread that builds reports and exports one after another; `submit` returns a Future."""

    def __init__(self) -> None:
        self.priority = ""
        self._ready = threading.Event()
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=THREAD_NAME, initializer=self._lower)

    def _lower(self) -> None:
        self.priority = lower_this_thread()
        self._ready.set()

    def submit(self, work: Callable[[], T]) -> Future[T]:
        """Queue `work` on the report thread."""
        if self._pool is None:
            raise RuntimeError("the report thread was shut down")
        return self._pool.submit(work)

    def applied_priority(self, timeout_s: float = 5.0) -> str:
        """What the thread's priority was set to ('nice 19, SCHED_IDLE'); starts the thread if needed."""
        if not self._ready.is_set():
            self.submit(lambda: None).result(timeout=timeout_s)
        return self.priority

    def shutdown(self) -> None:
        """Finish what is queued and end the thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


_worker: ReportWorker | None = None
_worker_lock = threading.Lock()


def report_worker() -> ReportWorker:
    """The process's report thread (started on first use)."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = ReportWorker()
        return _worker

