"""One channel for every message a person must see, and an excepthook that reports instead of dying.

Anything (a slot, a background task, another thread) posts here; the window shows the messages in
its banner. Messages posted before the window exists are kept and shown once it attaches.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
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
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc), compare=False)

    @property
    def text(self) -> str:
        """The message as one line."""
        return f"{self.what} — {self.todo}" if self.todo else self.what

    @property
    def key(self) -> str:
        """What makes two messages repeats of one another: level and words, with the numbers left out."""
        return f"{self.level.value}:{_NUMBERS.sub('#', self.text)}"


_NUMBERS = re.compile(r"\d+(?:[.,]\d+)*")
INFO_KEPT = timedelta(seconds=30)   # a notice leaves the queue by itself after this; warnings and errors stay


@dataclass
class QueuedMessage:
    """One entry of the message queue: the newest of its repeats, how many there were and since when."""

    message: UserMessage
    first_at: datetime
    count: int = 1

    @property
    def last_at(self) -> datetime:
        """When the newest repeat came."""
        return self.message.at


class MessageQueue:
    """The messages a person has not dismissed yet, newest first; a repeat adds to its entry's count.

    A repeated warning or error (the same words but for the numbers, e.g. one HOLD time-out after
    another) updates its entry's count in place instead of taking the top again, so it cannot push a
    newer message out of sight; a repeated notice confirms the person's latest action and comes on top.
    Notices leave by themselves after INFO_KEPT; warnings and errors stay until dismissed.
    """

    def __init__(self, limit: int = 100) -> None:
        self.limit = limit
        self.entries: list[QueuedMessage] = []  # newest first

    def add(self, message: UserMessage) -> QueuedMessage:
        """Queue `message` (or count it as a repeat of an entry already queued); returns its entry."""
        for entry in self.entries:
            if entry.message.key == message.key:
                entry.message = message
                entry.count += 1
                if message.level is Level.INFO:  # a confirmation of what the person just did: on top again
                    self.entries.remove(entry)
                    self.entries.insert(0, entry)
                return entry
        entry = QueuedMessage(message, message.at)
        self.entries.insert(0, entry)
        del self.entries[self.limit:]
        return entry

    def dismiss(self, entry: QueuedMessage) -> None:
        """Take one entry off the queue (it stays in the log)."""
        self.entries = [e for e in self.entries if e is not entry]

    def dismiss_all(self) -> None:
        """Empty the queue."""
        self.entries = []

    def expire(self, now: datetime) -> bool:
        """Drop notices older than INFO_KEPT; True when something left."""
        kept = [e for e in self.entries if e.message.level is not Level.INFO or now - e.last_at < INFO_KEPT]
        changed = len(kept) != len(self.entries)
        self.entries = kept
        return changed

    @property
    def newest(self) -> QueuedMessage | None:
        """The entry on top, or None when nothing waits."""
        return self.entries[0] if self.entries else None


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

    def post(self, message: UserMessage, exc: BaseException | None = None) -> None:
        """Show a message (buffered until a listener is attached); it goes to the log, with `exc` if given."""
        exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
        log.log(logging.ERROR if message.level is Level.ERROR else logging.INFO, "%s", message.text, exc_info=exc_info)
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

    def error(self, error: BaseException | str, todo: str = "", logged: bool = False) -> None:
        """An error; a StationError brings its own plain words and next step.

        Any other exception is shown in plain words only; the exception itself, with its traceback,
        goes to the log (unless `logged` says the caller wrote it there already).
        """
        if isinstance(error, StationError):
            self.post(UserMessage(Level.ERROR, error.what, error.todo))
        elif isinstance(error, BaseException):
            self.post(UserMessage(Level.ERROR, internal_error_text(error),
                                  todo or "the station keeps running; if it happens again, call service "
                                          "(the details are in the station's log)"),
                      None if logged else error)
        else:
            self.post(UserMessage(Level.ERROR, error, todo))


def internal_error_text(exc: BaseException) -> str:
    """An unexpected error in plain words; the exception's type and text go to the log, not the screen."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"A file could not be read or written{where}: {exc.strerror.lower()}"
    return "The screen could not finish what was asked"


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
        self.channel.error(value, logged=True)

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
