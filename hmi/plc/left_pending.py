"""Parts a killed station left 'pending': settled at the next start from what the PLC's ring holds.

A part's row is written before its verdict goes to the PLC and its delivery is recorded after, so a
station killed in between leaves rows with `plc_status = 'pending'`. At the next start the PLC thread
reads them through the store (once, while the station is built, before any part of the new run is
recorded) and, at its first contact with the PLC, compares them with the eight results of the ring:
a part whose slot holds its sequence number and verdict is recorded delivered; any other is recorded
not delivered, the detail saying what the ring held. The outcome goes to the store thread as one
request, and only rows still 'pending' are changed. While the PLC cannot be reached they stay pending.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Protocol

from hmi.core.errors import StationError
from hmi.core.verdict import Verdict
from hmi.plc import layout
from hmi.plc.layout import ResultSlot, SlotFlag

log = logging.getLogger(__name__)

NEWEST_ROWS = 200_000   # only the newest rows can be pending: a part's delivery is recorded within moments
MOST_PENDING = 100_000  # more than this are settled at the next start


class RecordWrites(Protocol):
    """The store's door for writes other than parts (`hmi.store.requests.StoreRequests`)."""

    def submit(self, what: str, todo: str, work: Callable[[sqlite3.Connection], Any], *,
               durable: bool = False) -> Future:
        """Hand `work` to the store thread; its result comes in the future."""

    def run(self, what: str, todo: str, work: Callable[[sqlite3.Connection], Any], *, durable: bool = False) -> Any:
        """Hand `work` on and wait for its result."""


def _pending_rows(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    newest = conn.execute("SELECT max(seq) FROM inspections").fetchone()[0]
    if newest is None:
        return []
    return conn.execute("SELECT seq, auto_verdict FROM inspections WHERE seq > ? AND plc_status = 'pending' "
                        "ORDER BY seq LIMIT ?", (newest - NEWEST_ROWS, MOST_PENDING)).fetchall()


def _ring_words(ring: Sequence[ResultSlot | None]) -> str:
    seqs = sorted(s.seq for s in ring if s is not None)
    if not seqs:
        return "the PLC's ring held no results"
    return f"the PLC's ring held parts {', '.join(map(str, seqs))}"


def outcome(seq: int, auto_verdict: str, ring: Sequence[ResultSlot | None]) -> tuple[str, str]:
    """(plc_status, plc_detail) for a part left pending, by the ring's eight slots (index k = seq mod 8)."""
    k = layout.slot_index(seq)
    slot = ring[k]
    why = "left pending when the station stopped (killed or crashed) before recording its delivery"
    if slot is not None and slot.seq == layout.wire_seq(seq):
        if slot.flags & SlotFlag.OPERATOR or slot.verdict.name == auto_verdict:
            # A hold-lane release in the slot was written only after the PLC had taken the part's result.
            return "delivered", f"{why}; at restart the PLC's ring slot {k} held it ({slot.verdict.name}): delivered"
        return "not_delivered", (f"{why}; at restart the PLC's ring slot {k} held it with verdict "
                                 f"{slot.verdict.name}, not {auto_verdict}: recorded not delivered")
    return "not_delivered", (f"{why}; at restart {_ring_words(ring)}, not this one: recorded not delivered (the PLC "
                             "rejects a part it has no result for; a part older than the ring's eight may have "
                             "reached it before the ring moved on)")


class LeftPending:
    """The rows a previous run left pending (read once, at construction) until the PLC's ring settles them."""

    def __init__(self, records: RecordWrites | None) -> None:
        self.records = records
        self.rows: dict[int, str] = {}
        if records is None:
            return
        try:
            self.rows = dict(records.run("could not read the parts left pending by the last run", "none: they are "
                                         "settled at the next start", _pending_rows))
        except StationError as exc:
            log.warning("parts left pending by the last run are not checked against the PLC this time: %s", exc)
        if self.rows:
            log.info("%d parts were left pending by the last run; they are checked against the PLC's ring",
                     len(self.rows))

    @property
    def waiting(self) -> bool:
        """True while rows wait for the PLC's ring."""
        return bool(self.rows)

    def settle(self, ring: Sequence[ResultSlot | None]) -> dict[str, int]:
        """Hand the rows' outcome by `ring` (slot k at index k) to the store thread; returns counts by status."""
        changes = [(*outcome(seq, verdict, ring), seq) for seq, verdict in self.rows.items()]
        self.rows = {}
        if not changes or self.records is None:
            return {}
        future = self.records.submit(
            "could not record what the PLC's ring says about the parts left pending", "none: they stay pending and "
            "are checked again at the next start",
            lambda conn: conn.executemany("UPDATE inspections SET plc_status = ?, plc_detail = ? "
                                          "WHERE seq = ? AND plc_status = 'pending'", changes).rowcount)
        future.add_done_callback(_logged)
        counts: dict[str, int] = {}
        for status, _, _ in changes:
            counts[status] = counts.get(status, 0) + 1
        return counts


def _logged(future: Future) -> None:
    error = future.exception()
    if error is not None:
        log.warning("parts left pending by the last run stay pending: %s", error)
    else:
        log.info("parts left pending by the last run settled from the PLC's ring: %s rows", future.result())


def ring_slots(ring: bytes) -> list[ResultSlot | None]:
    """The eight slots of the ring (its 64 bytes, from DB byte 8); None where a slot holds no valid verdict."""
    slots: list[ResultSlot | None] = []
    for k in range(layout.SLOT_COUNT):
        raw = ring[layout.SLOT_SIZE * k:layout.SLOT_SIZE * (k + 1)]
        slots.append(ResultSlot.decode(raw) if raw[4] in tuple(int(v) for v in Verdict) else None)
    return slots
