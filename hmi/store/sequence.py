"""Part sequence numbers that continue across restarts and are never handed out twice, even after a kill."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from hmi.core.errors import StoreError
from hmi.core.part import utc_now
from hmi.store.database import guarded_transaction, iso_utc, open_database


class SequenceAllocator:
    """Hands out part sequence numbers from blocks reserved in the database before any is used.

    A block's high-water mark is committed (synchronous=FULL, so it also survives a power cut)
    before the first number of the block is handed out; numbers left unused when the process
    ends are skipped. Gaps are allowed, reuse never.
    """

    def __init__(self, db_path: Path, block: int = 1000) -> None:
        if block < 1:
            raise ValueError("a sequence block must hold at least one number")
        self.block = block
        self._conn: sqlite3.Connection | None = open_database(db_path, synchronous="FULL")
        self._lock = threading.Lock()
        self._next = 0
        self._limit = 0  # numbers in [_next, _limit] are reserved and unused

    def next(self) -> int:
        """The next sequence number; reserves a new block first when the current one is used up."""
        with self._lock:
            if self._next == 0 or self._next > self._limit:
                self._reserve()
            seq = self._next
            self._next += 1
            return seq

    def _reserve(self) -> None:
        if self._conn is None:
            raise StoreError("the part sequence counter is closed", "restart the station")
        with guarded_transaction(self._conn, "cannot reserve part sequence numbers in the records database",
                                 "free disk space or call service; parts cannot be numbered safely until then") as conn:
            row = conn.execute("SELECT high_water FROM part_sequence WHERE id = 1").fetchone()
            high = int(row[0]) if row else 0
            # Never go below a number already recorded, whatever happened to the counter row.
            stored = conn.execute("SELECT max(seq) FROM inspections").fetchone()[0]
            start = max(high, int(stored or 0)) + 1
            limit = start + self.block - 1
            conn.execute(
                "INSERT INTO part_sequence (id, high_water, reserved_at) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET high_water = excluded.high_water, reserved_at = excluded.reserved_at",
                (limit, iso_utc(utc_now())))
        self._next, self._limit = start, limit

    def close(self) -> None:
        """Release the connection; unused numbers of the current block are skipped for good."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
