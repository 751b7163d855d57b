"""Results whose write went out but was never answered: the PLC may still apply them, seconds later.

A write that times out at a hung PLC (or whose connection breaks mid-request) is reported not delivered
at once, as the PLC rejects a part it has no result for. But the request may still be carried out, and
then the PLC acts on the verdict. Such results are watched: whenever the PLC thread reads the ring (on
every probe while any is watched, and before it writes over the slot of one) a slot that holds exactly
the bytes that were sent shows that the PLC has the result after all, and its record is corrected.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from hmi.plc import layout
from hmi.plc.layout import ResultSlot

WATCH_S = 60.0      # a result not seen in its slot within this long is left as not delivered
MAX_WATCHED = 256   # the oldest is let go beyond this many


@dataclass(frozen=True)
class UnsureResult:
    """A result written without an answer: what was sent, its delivery deadline and why the write gave up."""

    slot: ResultSlot
    deadline: float    # monotonic; the part's capture + plc.delivery_deadline_ms
    gave_up_at: float  # monotonic
    error: str

    @property
    def index(self) -> int:
        """Its ring slot k."""
        return layout.slot_index(self.slot.seq)

    def found_in(self, raw: bytes) -> bool:
        """True when the 8 bytes of its slot are exactly what was sent."""
        return bytes(raw[:layout.SLOT_SIZE]) == self.slot.encode()


class UnsureResults:
    """The results being watched, by sequence number (used by the PLC thread only)."""

    def __init__(self, watch_s: float = WATCH_S, limit: int = MAX_WATCHED) -> None:
        self.watch_s = watch_s
        self.limit = limit
        self._watched: OrderedDict[int, UnsureResult] = OrderedDict()

    def __len__(self) -> int:
        return len(self._watched)

    def add(self, result: UnsureResult) -> list[UnsureResult]:
        """Watch `result`; returns those let go to stay within the limit."""
        self._watched[result.slot.seq] = result
        dropped = []
        while len(self._watched) > self.limit:
            dropped.append(self._watched.popitem(last=False)[1])
        return dropped

    def in_slot(self, index: int) -> bool:
        """True when a watched result belongs in ring slot `index`."""
        return any(r.index == index for r in self._watched.values())

    def found(self, index: int, raw: bytes) -> list[UnsureResult]:
        """The watched results that ring slot `index` (its 8 bytes `raw`) shows the PLC has; they leave the watch."""
        hits = [r for r in self._watched.values() if r.index == index and r.found_in(raw)]
        for r in hits:
            del self._watched[r.slot.seq]
        return hits

    def found_in_ring(self, ring: bytes) -> list[UnsureResult]:
        """The watched results the ring (its 64 bytes, from DB byte 8) shows the PLC has."""
        hits: list[UnsureResult] = []
        for index in {r.index for r in self._watched.values()}:
            start = layout.SLOT_SIZE * index
            hits += self.found(index, ring[start:start + layout.SLOT_SIZE])
        return hits

    def expired(self, now: float) -> list[UnsureResult]:
        """The results watched for longer than `watch_s`; they leave the watch (they stay not delivered)."""
        gone = [r for r in self._watched.values() if now - r.gave_up_at >= self.watch_s]
        for r in gone:
            del self._watched[r.slot.seq]
        return gone
