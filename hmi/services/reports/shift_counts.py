"""'This shift' counters from the records: the parts of the shift in progress, not those since the station started.

The live screen shows them. They are read on the reports' low-priority thread: the records of the
current shift per automatic verdict, then only the rows written since (a full count again every
minute, so a record written late is not missed). Between two reads the screen adds the parts the
station has judged since the read, so the figures stay live while the report thread waits for CPU.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hmi.pipeline.outlet import VerdictCounts
from hmi.services.reports.connection import open_reports
from hmi.services.reports.shifts import ShiftCalendar, ShiftWindow
from hmi.services.reports.summary import VerdictTally, seq_range

FULL_COUNT_S = 60.0


@dataclass(frozen=True)
class ShiftTally:
    """The shift in progress, its parts per automatic verdict in the records, and the station's counters then."""

    window: ShiftWindow
    recorded: VerdictCounts
    judged_then: VerdictCounts  # the station's own counters just after the records were read

    def now(self, judged_now: VerdictCounts) -> VerdictCounts:
        """The shift's counts now: the records as read, plus the parts judged since the read."""
        r, a, b = self.recorded, self.judged_then, judged_now
        return VerdictCounts(r.ok + b.ok - a.ok, r.ng + b.ng - a.ng, r.hold + b.hold - a.hold,
                             r.not_inspected + b.not_inspected - a.not_inspected)


class ShiftCounter:
    """Reads the current shift's counts from the records; call `read` on one thread only (the report thread)."""

    def __init__(self, calendar: ShiftCalendar, data_dir: Path, judged: Callable[[], VerdictCounts]) -> None:
        self.calendar = calendar
        self.data_dir = Path(data_dir)
        self.judged = judged
        self._window: ShiftWindow | None = None
        self._counts: dict[str, int] = {}
        self._after_seq = 0
        self._full_at = 0.0

    def read(self, now: datetime | None = None) -> ShiftTally:
        """The current shift's tally (StoreError in plain words when there are no records to read)."""
        window = self.calendar.current(now)
        conn = open_reports(self.data_dir)
        try:
            if window != self._window or time.monotonic() - self._full_at > FULL_COUNT_S:
                self._window, self._counts, self._after_seq = window, {}, 0
                self._full_at = time.monotonic()
                seqs = seq_range(conn, window.start_text, window.end_text)
                if seqs is not None:
                    self._after_seq = seqs[0] - 1
            self._add(conn, window)
        finally:
            conn.close()
        return ShiftTally(window, VerdictTally.from_counts(self._counts), self.judged())

    def _add(self, conn: sqlite3.Connection, window: ShiftWindow) -> None:
        rows = conn.execute("SELECT auto_verdict, count(*), max(seq) FROM inspections WHERE seq > ? "
                            "AND captured_at >= ? AND captured_at < ? GROUP BY auto_verdict",
                            (self._after_seq, window.start_text, window.end_text)).fetchall()
        for verdict, n, top in rows:
            self._counts[verdict] = self._counts.get(verdict, 0) + int(n)
            self._after_seq = max(self._after_seq, int(top))
