"""The store under load into a real database file: a burst, and a steady line rate; every part is passed on.

How fast (parts/s, commit and capture -> PLC latencies against the delivery deadline) is measured by
`hmi bench` (latency_plc_p50_ms / latency_plc_p99_ms), never asserted here: a slow machine must not fail a test.
"""

from __future__ import annotations

import time

from hmi.config.schema import StoreConfig
from hmi.core.alarms import AlarmBoard
from hmi.pipeline.queues import BoundedQueue
from hmi.store.queries import integrity_check
from hmi.store.writer import RecordWriter
from tests.support.waiting import wait_for

BURST = 5000
STEADY_RATE = 250  # parts per second, above the 200 parts/s the station must sustain
STEADY_S = 2.0


def _writer(tmp_path, parts, committed) -> RecordWriter:
    w = RecordWriter(tmp_path / "hmi.db", parts, committed, AlarmBoard(), StoreConfig())
    w.start()
    return w


def test_a_burst_with_regions_is_recorded_and_passed_on_in_order(tmp_path, decided_part):
    parts, committed = BoundedQueue("parts", BURST), BoundedQueue("committed", BURST)
    batch = [decided_part(seq, regions=3) for seq in range(1, BURST + 1)]
    writer = _writer(tmp_path, parts, committed)
    try:
        for part in batch:
            assert parts.offer(part)
        passed = []
        while len(passed) < BURST:
            part = committed.take(60.0)
            assert part is not None, "the store stopped passing parts on"
            passed.append(part.seq)
    finally:
        writer.stop()
        writer.join(10)
    assert passed == list(range(1, BURST + 1))
    assert writer.commit_metrics.snapshot().count < BURST  # a burst is written in batches, not a part at a time
    assert integrity_check(tmp_path / "hmi.db") == "ok"


def test_at_a_steady_line_rate_every_part_is_committed_and_passed_on(tmp_path, decided_part):
    parts, committed = BoundedQueue("parts", 256), BoundedQueue("committed", 10_000)
    writer = _writer(tmp_path, parts, committed)
    n = int(STEADY_RATE * STEADY_S)
    try:
        start = time.monotonic()
        for seq in range(1, n + 1):
            delay = start + seq / STEADY_RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # kept: the line's pace (a part every 4 ms), not a wait for the store
            assert parts.offer(decided_part(seq, regions=3))
        wait_for(lambda: len(committed) == n, f"all {n} parts passed on")
    finally:
        writer.stop()
        writer.join(10)
    assert [committed.take_nowait().seq for _ in range(n)] == list(range(1, n + 1))
    assert writer.metrics.snapshot().count == n  # each part's decided -> passed-on latency was measured
