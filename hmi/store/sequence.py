"""Part sequence numbers that continue across restarts and are never handed out twice, even after a kill."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path

from hmi.core.errors import StoreError
from hmi.core.part import utc_now
from hmi.store.database import iso_utc
from hmi.store.requests import OwnConnection, Writes, answer

WAIT_S = 2.0  # how long the capture thread waits for a block the store has not reserved yet
_WHAT = "cannot reserve part sequence numbers in the records database"
_TODO = "free disk space or call service; parts cannot be numbered safely until then"


def reserve_block(conn: sqlite3.Connection, size: int) -> tuple[int, int]:
    """Reserve the next `size` numbers inside the caller's write transaction; returns (first, last)."""
    row = conn.execute("SELECT high_water FROM part_sequence WHERE id = 1").fetchone()
    high = int(row[0]) if row else 0
    # Never go below a number already recorded, whatever happened to the counter row.
    stored = conn.execute("SELECT max(seq) FROM inspections").fetchone()[0]
    start = max(high, int(stored or 0)) + 1
    limit = start + size - 1
    conn.execute(
        "INSERT INTO part_sequence (id, high_water, reserved_at) VALUES (1, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET high_water = excluded.high_water, reserved_at = excluded.reserved_at",
        (limit, iso_utc(utc_now())))
    return start, limit


class SequenceAllocator:
    """Hands out part sequence numbers from blocks reserved in the database before any is used.

    A block's high-water mark is committed (synchronous=FULL, so it also survives a power cut)
    before the first number of the block is handed out; numbers left unused when the process
    ends are skipped. Gaps are allowed, reuse never. The next block is asked for when half of the
    current one is used, so the caller (the capture thread) waits only for the very first block or
    when the store is stalled, and then at most `wait_s`: after that `next` raises StoreError.

    `db` is the station's store (`Writes`, the store thread's requests) or, for a tool, the database
    file, written through a connection of its own.
    """

    def __init__(self, db: Path | Writes, block: int = 1000, wait_s: float = WAIT_S) -> None:
        if block < 1:
            raise ValueError("a sequence block must hold at least one number")
        self.block = block
        self.wait_s = wait_s
        self._own = isinstance(db, (str, Path))
        self._writes: Writes | None = OwnConnection(Path(db), synchronous="FULL") if self._own else db
        self._lock = threading.Lock()
        self._next = 0
        self._limit = -1  # numbers in [_next, _limit] are reserved and unused
        self._start = 0
        self._ahead: Future | None = None  # the next block, asked for and maybe not yet reserved
        self._overdue: Future | None = None  # a block waited for in vain (the store is stalled)
        self._ask()  # the first block, before the first part needs it

    @property
    def closed(self) -> bool:
        """True once closed: no more blocks are reserved."""
        return self._writes is None

    def next(self) -> int:
        """The next sequence number; waits for a new block only when the current one is used up."""
        with self._lock:
            if self._next > self._limit:
                self._take_block()
            seq = self._next
            self._next += 1
            if self._ahead is None and 2 * (self._next - self._start) >= self.block:
                self._ask()
            return seq

    def _ask(self) -> None:
        if self._writes is None:
            raise StoreError("the part sequence counter is closed", "restart the station")
        size = self.block
        self._ahead = self._writes.submit(_WHAT, _TODO, lambda conn: reserve_block(conn, size), durable=True)

    def _take_block(self) -> None:
        if self._ahead is None:
            self._ask()
        ahead = self._ahead
        assert ahead is not None
        # Waited in vain for this block already: the store is stalled, so do not hold up every part again.
        wait_s = 0.0 if ahead is self._overdue else self.wait_s
        try:
            start, limit = answer(ahead, _WHAT, wait_s)
        except StoreError:
            if ahead.done():
                self._ahead = None  # refused: ask again for the next part
            else:
                self._overdue = ahead
            raise
        self._ahead = None
        self._start, self._next, self._limit = start, start, limit

    def close(self) -> None:
        """Stop reserving; unused numbers of the current block are skipped for good."""
        with self._lock:
            if self._own and self._writes is not None:
                self._writes.close()
            self._writes = None
