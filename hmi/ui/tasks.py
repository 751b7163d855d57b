"""Blocking calls (database, PIN hashing, hand-overs that may wait) run off the UI thread, one at a time.

The helper thread is a hmi.pipeline.worker.JobWorker named 'ui-io' at normal priority (reports have their
own low-priority thread); the window owns it and `shutdown` ends it when the window stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from PySide6.QtCore import QObject, Signal

from hmi.core.errors import StationError
from hmi.pipeline.worker import JobWorker
from hmi.ui.messages import MessageChannel

log = logging.getLogger(__name__)

THREAD_NAME = "ui-io"


class BackgroundTasks(QObject):
    """Runs `work()` on one helper thread and calls `done(result)` or `failed(exc)` back on the UI thread.

    One thread keeps the order of the operator's actions (a login before the review it allows);
    errors without a `failed` handler go to the message channel in plain words.
    """

    _finished = Signal(object, object, object)

    def __init__(self, channel: MessageChannel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.channel = channel
        self._worker = JobWorker(THREAD_NAME)  # its thread starts with the first task
        self._running = 0
        self._finished.connect(self._deliver)

    @property
    def busy(self) -> bool:
        """True while a task is queued or running, or its result has not yet been delivered."""
        return self._running > 0

    def submit(self, work: Callable[[], Any], done: Callable[[Any], None] | None = None,
               failed: Callable[[BaseException], None] | None = None) -> None:
        """Queue `work`; its outcome comes back on the UI thread."""
        if self._worker.stopping:
            raise RuntimeError("background tasks were shut down")
        future = self._worker.submit(work)
        self._running += 1
        future.add_done_callback(lambda f: self._finished.emit(f, done, failed))

    def _deliver(self, future: Future, done, failed) -> None:
        self._running -= 1
        if future.cancelled():  # dropped unstarted when the helper thread ended early: nothing to report
            return
        exc = future.exception()
        if exc is None:
            if done is not None:
                done(future.result())
            return
        if not isinstance(exc, StationError):
            log.error("background task failed", exc_info=exc)
        if failed is not None:
            failed(exc)
        else:
            self.channel.error(exc)

    def shutdown(self) -> None:
        """Finish what is queued and end the helper thread."""
        self._worker.shutdown()
