"""One channel for every message a person must see, and an excepthook that reports instead of dying.

Anything (a slot, a background task, another thread) posts here; the window shows the messages in
its banner. Messages posted before the window exists are kept and shown once it attaches.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import QObject, Signal

from hmi.core.errors import StationError

log = logging.getLogger(__name__)


class Level(str, Enum):
    """How much a message matters: information fades, errors stay until dismissed."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class UserMessage:
    """What happened and what to do next, in plain words."""

    level: Level
    what: str
    todo: str = ""

    @property
    def text(self) -> str:
        """The message as one line."""
        return f"{self.what} — {self.todo}" if self.todo else self.what


class MessageChannel(QObject):
    """Thread-safe: `post` from anywhere, the UI thread receives `posted(UserMessage)`."""

    posted = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: list[UserMessage] | None = []  # None once a listener is attached
        self.history: list[UserMessage] = []

    def attach(self, listener: Callable[[UserMessage], None]) -> None:
        """Connect the window's banner; messages that came before are delivered now."""
        self.posted.connect(listener)
        with self._lock:
            pending, self._pending = self._pending or [], None
        for message in pending:
            listener(message)

    def post(self, message: UserMessage) -> None:
        """Show a message (buffered until a listener is attached)."""
        log.log(logging.ERROR if message.level is Level.ERROR else logging.INFO, "%s", message.text)
        with self._lock:
            self.history.append(message)
            del self.history[:-200]
            if self._pending is not None:
                self._pending.append(message)
                return
        self.posted.emit(message)

    def info(self, what: str, todo: str = "") -> None:
        """A notice that needs no action (fades)."""
        self.post(UserMessage(Level.INFO, what, todo))

    def warning(self, what: str, todo: str = "") -> None:
        """Something the person should know and may act on."""
        self.post(UserMessage(Level.WARNING, what, todo))

    def error(self, error: BaseException | str, todo: str = "") -> None:
        """An error; a StationError brings its own plain words and next step."""
        if isinstance(error, StationError):
            self.post(UserMessage(Level.ERROR, error.what, error.todo))
        elif isinstance(error, BaseException):
            self.post(UserMessage(Level.ERROR, internal_error_text(error),
                                  todo or "the station keeps running; if it happens again, call service"))
        else:
            self.post(UserMessage(Level.ERROR, error, todo))


def internal_error_text(exc: BaseException) -> str:
    """An unexpected error in a sentence: what kind and where, without a traceback."""
    return f"The screen hit an internal error ({type(exc).__name__}: {exc})"


class ExceptHook:
    """While installed, an uncaught exception (e.g. in a slot) is logged and shown, and the UI keeps running."""

    def __init__(self, channel: MessageChannel) -> None:
        self.channel = channel
        self._previous = None
        self.caught: list[BaseException] = []

    def __call__(self, kind, value, tb) -> None:
        if issubclass(kind, KeyboardInterrupt) and self._previous is not None:
            self._previous(kind, value, tb)
            return
        log.error("uncaught exception in the UI:\n%s", "".join(traceback.format_exception(kind, value, tb)))
        self.caught.append(value)
        self.channel.error(value)

    def install(self) -> "ExceptHook":
        """Replace sys.excepthook; `uninstall` puts the previous one back."""
        self._previous = sys.excepthook
        sys.excepthook = self
        return self

    def uninstall(self) -> None:
        """Restore the hook that was there before."""
        if self._previous is not None and sys.excepthook is self:
            sys.excepthook = self._previous
        self._previous = None
