"""The one place a thread's priority is lowered: best-effort work yields the cores to the verdict path.

On Linux `setpriority(PRIO_PROCESS, tid)` with a thread's id changes that one thread (threads it starts
afterwards inherit it), not the whole process; SCHED_IDLE lets it run only on a CPU nothing else wants.
An unprivileged process cannot raise a priority again, so only a thread that keeps its low priority for
good is lowered: a worker's own thread (hmi.pipeline.worker.Worker does it as its thread starts) or a
child process's main thread (the teaching process) — never a shared thread. Elsewhere (Windows, macOS)
threads run at the process's priority. This module imports only the standard library: the teaching
process calls it before NumPy loads.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

NORMAL = "normal priority"
REFUSED = "normal priority (the system refused a lower one)"
UNSUPPORTED = "normal priority (threads cannot be lowered one by one here)"


def _thread_priorities() -> bool:
    """True where a thread's own nice value can be set (Linux: a thread id is a task id)."""
    return sys.platform.startswith("linux") and hasattr(os, "setpriority") and hasattr(threading, "get_native_id")


def lower_this_thread(nice: int, idle: bool = False) -> str:
    """Run the calling thread at nice value `nice` (0..19) and, with `idle`, under SCHED_IDLE; says what was applied.

    `nice` is the value the thread is to run at, not an increment; a thread already at that value or
    above keeps its own (priority is never raised). Returns the words for the log and the benchmarks,
    e.g. 'nice 19, SCHED_IDLE', 'normal priority' (nothing asked) or that the system refused.
    """
    if nice <= 0 and not idle:
        return NORMAL
    if not _thread_priorities():
        return UNSUPPORTED
    applied: list[str] = []
    if nice > 0:
        tid = threading.get_native_id()
        try:
            if nice > os.getpriority(os.PRIO_PROCESS, tid):
                os.setpriority(os.PRIO_PROCESS, tid, min(nice, 19))
            applied.append(f"nice {os.getpriority(os.PRIO_PROCESS, tid)}")
        except OSError as exc:
            log.warning("thread %s keeps its priority: nice %d refused (%s)", threading.current_thread().name,
                        nice, exc)
    if idle and hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: the calling thread
            applied.append("SCHED_IDLE")
        except OSError as exc:
            log.warning("thread %s keeps its scheduling: SCHED_IDLE refused (%s)", threading.current_thread().name,
                        exc)
    return ", ".join(applied) or REFUSED


__all__ = ["lower_this_thread"]
