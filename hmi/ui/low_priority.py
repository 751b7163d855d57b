"""Work on the station's low-priority report thread, its outcome handed back on the UI thread.

Reports, exports and the live screen's shift counters read the records there (nice 19, SCHED_IDLE: see
hmi.services.reports.background), never on the UI thread or the UI's shared helper thread.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from hmi.core.errors import StationError


class LowPriority(QObject):
    """Runs work on the station's report thread and hands its outcome back on the UI thread."""

    _finished = Signal(object, object, object)

    def __init__(self, parent: QObject, station) -> None:
        super().__init__(parent)
        self._station = station
        self._waiting = 0  # submitted, outcome not yet handed back (UI thread only)
        self._finished.connect(self._deliver)

    @property
    def busy(self) -> bool:
        """True while work submitted here has not yet handed back its outcome."""
        return self._waiting > 0

    def submit(self, work, done, failed) -> None:
        """Queue `work` on the report thread; `done(result)` or `failed(exc)` is called on the UI thread."""
        try:
            future = self._station.reports.submit(work)
        except RuntimeError:  # the station stopped, and its report thread with it
            failed(StationError("reports cannot be built: the station has stopped", "start the station again"))
            return
        self._waiting += 1
        future.add_done_callback(lambda f: self._emit(f, done, failed))

    def _emit(self, future, done, failed) -> None:
        try:
            self._finished.emit(future, done, failed)
        except RuntimeError:  # the screen was closed while the report was being built: nobody to tell
            pass

    def _deliver(self, future, done, failed) -> None:
        self._waiting -= 1
        if future.cancelled():
            failed(StationError("the report was not built: the station stopped first", "start the station again"))
            return
        exc = future.exception()
        if exc is None:
            done(future.result())
        else:
            failed(exc)
