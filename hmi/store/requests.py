"""Writes other than the line's parts (part numbers, users, threshold versions, audit entries) as requests.

In a station every such write is a `StoreRequest` run by the store thread in its one connection, in its
transaction order, and answered through a future; the caller waits for the answer only where it must.
A tool without a station (`hmi admin`, the tests) writes through an `OwnConnection` instead.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from hmi.core.errors import StationError, StoreError
from hmi.pipeline.queues import BoundedQueue
from hmi.store.database import guarded_transaction, open_database

T = TypeVar("T")

REPLY_S = 10.0  # how long a caller that must wait waits for the store thread's answer


@dataclass(eq=False)
class StoreRequest:
    """A write for the store thread: `work(conn)` runs inside its write transaction; the answer comes in `future`.

    `what` says what failed when it fails ("could not add a user in the records database") and `todo` what
    to do then. `durable` asks for a commit that also survives a power cut (part numbers).
    """

    what: str
    todo: str
    work: Callable[[sqlite3.Connection], Any]
    durable: bool = False
    future: Future = field(default_factory=Future)

    def refuse(self, problem: str, todo: str | None = None) -> None:
        """Answer with a StoreError saying `problem` (nothing was written)."""
        if not self.future.done():
            self.future.set_exception(StoreError(f"{self.what} ({problem})", todo or self.todo))


class Writes(Protocol):
    """Where a store module's writes go: the store thread's requests, or a tool's own connection."""

    def submit(self, what: str, todo: str, work: Callable[[sqlite3.Connection], T], *,
               durable: bool = False) -> Future:
        """Hand `work` on; its result (or error) comes in the returned future."""

    def run(self, what: str, todo: str, work: Callable[[sqlite3.Connection], T], *, durable: bool = False) -> T:
        """Hand `work` on and wait for its result; StoreError in plain words when it fails or nobody answers."""

    def close(self) -> None:
        """Release what this opened."""


def answer(future: Future, what: str, timeout_s: float = REPLY_S) -> Any:
    """The result of a submitted write, waiting up to `timeout_s`; StoreError when the store does not answer."""
    try:
        return future.result(timeout_s)
    except FutureTimeout:
        waited = f"within {timeout_s:.0f} s" if timeout_s >= 1 else "yet (the store is still busy)"
        raise StoreError(f"{what}: the records did not answer {waited}",
                         "check the store alarms and the disk; try again in a moment") from None


class StoreRequests:
    """The door to the store thread for writes other than parts: requests go through its queue.

    Before the store thread runs (while the station is being built) and nowhere else, `run_alone` (the
    store's own connection, on the caller's thread, one request at a time) answers instead. Once the
    store thread has ended, requests are refused at once with a plain message.
    """

    def __init__(self, queue: BoundedQueue[StoreRequest], run_alone: Callable[[StoreRequest], None]) -> None:
        self.queue = queue
        self._run_alone: Callable[[StoreRequest], None] | None = run_alone
        self._closed = False
        self._lock = threading.Lock()

    def submit(self, what: str, todo: str, work: Callable[[sqlite3.Connection], T], *,
               durable: bool = False) -> Future:
        """Queue `work` for the store thread (or run it now, before the thread starts); never waits for room."""
        request = StoreRequest(what, todo, work, durable)
        with self._lock:
            if self._closed:
                request.refuse("the records are closed: the station has stopped", "start the station again")
            elif self._run_alone is not None:
                self._run_alone(request)
            elif not self.queue.offer(request):
                request.refuse(f"{self.queue.maxsize} writes are already waiting for the store",
                               "try again in a moment; if it repeats, check the store alarms and the disk")
        return request.future

    def run(self, what: str, todo: str, work: Callable[[sqlite3.Connection], T], *, durable: bool = False) -> T:
        """Submit `work` and wait for its result (never on the line's threads)."""
        return answer(self.submit(what, todo, work, durable=durable), what)

    def queued(self) -> None:
        """The store thread runs: from now on requests wait in its queue."""
        with self._lock:
            self._run_alone = None

    def close(self) -> None:
        """The store thread has ended: refuse what still waits and everything from now on."""
        with self._lock:
            self._closed = True
            while (request := self.queue.take_nowait()) is not None:
                request.refuse("the station stopped before the store wrote it", "do it again after a restart")


class OwnConnection:
    """A write connection of its own, for a tool without a station (`hmi admin`, tests): `work` runs at once."""

    def __init__(self, db_path: Path, synchronous: str = "NORMAL") -> None:
        self._conn: sqlite3.Connection | None = open_database(db_path, synchronous=synchronous)
        self._lock = threading.Lock()

    def submit(self, what: str, todo: str, work: Callable[[sqlite3.Connection], T], *,
               durable: bool = False) -> Future:
        """Run `work` in one transaction now; the returned future holds its result or error."""
        future: Future = Future()
        try:
            future.set_result(self.run(what, todo, work, durable=durable))
        except (StationError, ValueError, RuntimeError) as exc:
            future.set_exception(exc)
        return future

    def run(self, what: str, todo: str, work: Callable[[sqlite3.Connection], T], *, durable: bool = False) -> T:
        """Run `work` in one transaction now and return its result; database errors become StoreError."""
        if self._conn is None:
            raise StoreError(f"{what} (the connection is closed)", "restart the program")
        with guarded_transaction(self._conn, what, todo, self._lock) as conn:
            return work(conn)

    def close(self) -> None:
        """Release the connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
