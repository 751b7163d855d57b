"""Bounded hand-over points between threads: a full queue is counted, never waited on."""

from __future__ import annotations

import queue
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class BoundedQueue(Generic[T]):
    """A FIFO of fixed size between two stages; `offer` never blocks and counts refusals."""

    def __init__(self, name: str, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("a queue needs room for at least one item")
        self.name = name
        self.maxsize = maxsize
        self._q: queue.Queue[T] = queue.Queue(maxsize)
        self._refused = 0
        self._lock = threading.Lock()

    def offer(self, item: T) -> bool:
        """Put `item` if there is room; False (and counted) when full."""
        try:
            self._q.put_nowait(item)
            return True
        except queue.Full:
            with self._lock:
                self._refused += 1
            return False

    def put(self, item: T, timeout: float) -> bool:
        """Put `item`, waiting at most `timeout` seconds; for shutdown markers and back-pressured producers."""
        try:
            self._q.put(item, timeout=timeout)
            return True
        except queue.Full:
            with self._lock:
                self._refused += 1
            return False

    def take(self, timeout: float) -> T | None:
        """The oldest item, or None after `timeout` seconds."""
        try:
            return self._q.get(timeout=timeout)
        except queue.Empty:
            return None

    def take_nowait(self) -> T | None:
        """The oldest item, or None at once."""
        try:
            return self._q.get_nowait()
        except queue.Empty:
            return None

    def __len__(self) -> int:
        return self._q.qsize()

    @property
    def refused(self) -> int:
        """Items refused because the queue was full."""
        with self._lock:
            return self._refused


class NewestSlot(Generic[T]):
    """Holds only the newest item; the reader takes what is there now (the screens, setup mode)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._item: T | None = None
        self._version = 0
        self._overwritten = 0
        self._ready = threading.Event()

    def put(self, item: T) -> None:
        """Replace what is held; an item nobody took is counted as overwritten."""
        with self._lock:
            if self._item is not None:
                self._overwritten += 1
            self._item = item
            self._version += 1
        self._ready.set()

    def peek(self) -> tuple[int, T | None]:
        """(version, item) without removing it; version changes on every put."""
        with self._lock:
            return self._version, self._item

    def take(self, timeout: float = 0.0) -> T | None:
        """Remove and return the newest item, waiting up to `timeout` for one."""
        if timeout > 0:
            self._ready.wait(timeout)
        with self._lock:
            item, self._item = self._item, None
            self._ready.clear()
            return item

    def __len__(self) -> int:
        """1 while an item waits, else 0."""
        with self._lock:
            return 0 if self._item is None else 1

    @property
    def overwritten(self) -> int:
        """Items replaced before anyone took them (drops in setup mode)."""
        with self._lock:
            return self._overwritten

    def take_nowait(self) -> T | None:
        """The newest item, or None at once."""
        return self.take(0.0)
