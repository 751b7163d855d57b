"""The live screen's 'This shift' counters: read from the records on the report thread, kept live in between.

Every few seconds the current shift's counts are read from the records (hmi.services.reports.shift_counts)
on the station's low-priority report thread; between reads the parts judged since are added from the
station's own counters. A station without records (setup mode) counts since it started, and says so.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject

from hmi.pipeline.outlet import VerdictCounts
from hmi.services.reports.shift_counts import ShiftCounter, ShiftTally
from hmi.services.reports.shifts import ShiftCalendar
from hmi.ui.low_priority import LowPriority

log = logging.getLogger(__name__)

READ_EVERY_S = 2.0


class ShiftCounts(QObject):
    """`counts(judged_now)` gives the figures to show and their title; `poll()` starts a read when one is due."""

    def __init__(self, station, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.calendar = ShiftCalendar(station.cfg.shifts)
        self.counter = ShiftCounter(self.calendar, station.data_dir, station.outlet.counts)
        self.low = LowPriority(self, station)
        self.latest: ShiftTally | None = None
        self.records = station.records is not None
        self._reading = False
        self._read_mono = -READ_EVERY_S
        self._boundary: tuple[str, VerdictCounts] | None = None  # a new shift noticed before its first read
        self._complained = False

    def poll(self) -> None:
        """Start a read on the report thread when the last is old enough (never two at once)."""
        if not self.records or self._reading or time.monotonic() - self._read_mono < READ_EVERY_S:
            return
        self._reading = True
        self.low.submit(self.counter.read, self._read, self._failed)

    def _read(self, tally: ShiftTally) -> None:
        self._reading = False
        self._read_mono = time.monotonic()
        self.latest = tally
        self._boundary = None
        self._complained = False

    def _failed(self, exc: BaseException) -> None:
        self._reading = False
        self._read_mono = time.monotonic()
        if not self._complained:  # once, not every two seconds; the counters go on from the station's own
            log.warning("'This shift' counters could not be read from the records: %s", exc)
            self._complained = True

    def counts(self, judged_now: VerdictCounts) -> tuple[str, VerdictCounts]:
        """The panel's title and the counts to show now."""
        if not self.records:
            return "Since the station started", judged_now
        window = self.calendar.current()
        if self.latest is not None and self.latest.window == window:
            return f"This shift ({window.name}, from {window.local(window.start):%H:%M})", self.latest.now(judged_now)
        # A shift began since the last read (or none came yet): count from here until the records are read.
        if self._boundary is None or self._boundary[0] != window.key:
            self._boundary = (window.key, judged_now)
            self._read_mono = -READ_EVERY_S
        start = self._boundary[1]
        if self.latest is None:
            return "This shift (reading the records …)", VerdictCounts()
        return (f"This shift ({window.name}, from {window.local(window.start):%H:%M})",
                ShiftTally(window, VerdictCounts(), start).now(judged_now))
