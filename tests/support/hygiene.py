"""What every test must leave as it found it: no Qt warnings, no unexpected logged errors, no threads, widgets or timers.

tests/conftest.py installs the session-wide collectors (`install`) and checks each test with `Snapshot`.
"""

from __future__ import annotations

import gc
import logging
import re
import threading
import time

# Threads that live as long as the process by design (a test that first uses them does not leak them), each
# named with where it is created. None today: every thread of the station has an owner that stops it.
PROCESS_THREADS: tuple[str, ...] = ()

# The offscreen platform says this when a window is shown; it is about the test platform, not the station.
QT_NOISE = ("This plugin does not support propagateSizeHints()",)

THREAD_GRACE_S = 5.0


class _Collected:
    """Messages gathered from any thread since the session started; a test reads those after its mark."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._lock = threading.Lock()

    def add(self, text: str) -> None:
        """Keep one message."""
        with self._lock:
            self.items.append(text)

    def since(self, mark: int) -> list[str]:
        """The messages kept after `mark` (a length of `items` taken earlier)."""
        with self._lock:
            return self.items[mark:]


class ErrorRecords(logging.Handler):
    """Keeps every record logged at ERROR or above by any logger (attached to the root logger), as words:
    (message, description), so that no traceback keeps a test's objects alive."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record's message and its description."""
        self.records.append((record.getMessage(), _describe(record)))


qt_messages = _Collected()
error_records = ErrorRecords()


def install() -> None:
    """Start collecting logged errors and (where PySide6 is importable) Qt warnings for the whole session."""
    logging.getLogger().addHandler(error_records)
    try:
        from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    except ImportError:
        return
    bad = (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)

    def handler(kind, _context, message) -> None:
        if kind in bad and message not in QT_NOISE:
            qt_messages.add(f"{kind.name}: {message}")

    qInstallMessageHandler(handler)


def _describe(record: logging.LogRecord) -> str:
    text = f"{record.levelname} {record.name}: {record.getMessage()}"
    if record.exc_info and record.exc_info[1] is not None:
        text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
    return text


def _qt_app():
    import sys

    if "PySide6.QtWidgets" not in sys.modules:
        return None
    from PySide6.QtWidgets import QApplication

    return QApplication.instance()


def _name(obj) -> str:
    name = obj.objectName() if obj is not None else ""
    return f"{type(obj).__name__} {name!r}" if name else type(obj).__name__


def _ours_or_shown(widget) -> bool:
    # A window still shown, or one of the station's own (even hidden). Not pyqtgraph's never-shown context
    # menus: a plot's Python wrapper outlives its deleted C++ widget and keeps them (pyqtgraph with PySide6).
    return widget.isVisible() or type(widget).__module__.startswith("hmi.")


def _qt_objects(app) -> tuple[dict[int, str], dict[int, str]]:
    """Top-level widgets left (see _ours_or_shown) and QTimers active (under the app or any top-level widget),
    by C++ address."""
    from PySide6.QtCore import QEvent, QTimer
    from shiboken6 import Shiboken

    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    widgets = {Shiboken.getCppPointer(w)[0]: _name(w) for w in app.topLevelWidgets() if _ours_or_shown(w)}
    timers = {}
    for owner in [app, *app.topLevelWidgets()]:
        for timer in owner.findChildren(QTimer):
            if timer.isActive():
                timers[Shiboken.getCppPointer(timer)[0]] = (
                    f"{_name(timer)} of {_name(timer.parent())}, every {timer.interval()} ms")
    return widgets, timers


class Snapshot:
    """What existed before a test: threads, Qt widgets and timers, and how many messages were collected."""

    def __init__(self) -> None:
        self.threads = set(threading.enumerate())
        self.qt_mark = len(qt_messages.items)
        self.error_mark = len(error_records.records)
        app = _qt_app()
        self.widgets, self.timers = _qt_objects(app) if app is not None else ({}, {})

    def problems(self, expected_errors: list[str]) -> list[str]:
        """What the test left behind or said that it should not have, in words (empty: nothing)."""
        found = [f"Qt {m}" for m in qt_messages.since(self.qt_mark)]
        found += [f"logged {described}" for message, described in error_records.records[self.error_mark:]
                  if not any(re.search(p, message) for p in expected_errors)]
        found += [f"thread left running: {name}" for name in self._threads_left()]
        found += self._qt_left()
        return found

    def _new_threads(self) -> list[threading.Thread]:
        return [t for t in threading.enumerate()
                if t not in self.threads and t.is_alive() and t.name not in PROCESS_THREADS]

    def _threads_left(self) -> list[str]:
        deadline = time.monotonic() + THREAD_GRACE_S
        while (left := self._new_threads()) and time.monotonic() < deadline:
            joinable = [t for t in left if not isinstance(t, threading._DummyThread)]  # a foreign thread: no join
            if not joinable:
                break
            joinable[0].join(0.05)  # waits on the thread ending, no longer than needed
        return [f"{t.name} ({'daemon' if t.daemon else 'non-daemon'})" for t in left]

    def _qt_left(self) -> list[str]:
        app = _qt_app()
        if app is None:
            return []
        widgets, timers = _qt_objects(app)
        if set(widgets) - set(self.widgets) or set(timers) - set(self.timers):
            gc.collect()  # a window that only a reference cycle keeps is gone after a collection
            widgets, timers = _qt_objects(app)
        return ([f"top-level widget left: {widgets[k]}" for k in widgets.keys() - self.widgets.keys()]
                + [f"active timer left: {timers[k]}" for k in timers.keys() - self.timers.keys()])
