"""Queues that catch a thread waiting where it must not (the judging thread, the hot path)."""

from __future__ import annotations

from hmi.pipeline.queues import BoundedQueue


class NoWaiting(BoundedQueue):
    """A BoundedQueue that fails the caller when it waits to put, until `waiting_allowed` is set.

    `offer` (never waits) works as always; `put(item, timeout)` is the call that waits for room.
    """

    waiting_allowed = False

    def put(self, item, timeout: float) -> bool:
        """Refuse (with an AssertionError) a put that would wait for room."""
        assert self.waiting_allowed, f"waited to put into the {self.name} queue"
        return super().put(item, timeout)

    def fill(self, item: object = "waiting") -> "NoWaiting":
        """Fill the queue to its limit without waiting; returns it."""
        while len(self) < self.maxsize:
            self.offer(item)
        return self
