"""The reports' own low-priority thread: shift reports are built where they cannot take CPU from the line.

The station judges parts in the same process, so a report must not compete with it. Report work runs
on one dedicated thread (a `ReportWorker`) that lowers itself to nice 19 and, on Linux, to SCHED_IDLE
(it runs only on a CPU nothing else wants). Only that thread is lowered: an unprivileged process cannot
raise its priority again, so the shared UI helper thread is never used for reports. SQLite lets go of
Python's GIL while it reads, so the station's threads keep running while a report query is under way.

Each report thread has an owner that stops it: the station (`station.reports`, used by the reports
screen, stopped by `Station.stop`), `hmi report` and `hmi report-bench` (theirs, stopped when done).
"""

from __future__ import annotations

from hmi.pipeline.worker import JobWorker

THREAD_NAME = "reports"
REPORT_NICE = 19


class ReportWorker(JobWorker):
    """One low-priority thread that builds reports and exports one after another; `submit` returns a Future.

    The thread starts with the first job and ends with `stop` / `shutdown` (or on leaving a `with` block).
    """

    role = THREAD_NAME
    nice = REPORT_NICE
    idle = True

    def applied_priority(self, timeout_s: float = 5.0) -> str:
        """What the thread's priority was set to ('nice 19, SCHED_IDLE'); starts the thread if needed."""
        if not self.priority:
            self.submit(lambda: None).result(timeout=timeout_s)
        return self.priority


__all__ = ["REPORT_NICE", "THREAD_NAME", "ReportWorker"]
