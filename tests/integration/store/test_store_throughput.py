"""Measured store throughput into a real database file: a burst, and a steady line rate with commit latency."""

from __future__ import annotations

import time

from hmi.config.schema import StoreConfig
from hmi.core.alarms import AlarmBoard
from hmi.pipeline.queues import BoundedQueue
from hmi.store.queries import integrity_check
from hmi.store.writer import RecordWriter

BURST = 5000
STEADY_RATE = 250  # parts per second, above the 200 parts/s the station must sustain
STEADY_S = 2.0


def _writer(tmp_path, parts, committed) -> RecordWriter:
    w = RecordWriter(tmp_path / "hmi.db", parts, committed, AlarmBoard(), StoreConfig())
    w.start()
    return w


def test_burst_throughput_with_regions(tmp_path, decided_part, capsys):
    parts, committed = BoundedQueue("parts", BURST), BoundedQueue("committed", BURST)
    batch = [decided_part(seq, regions=3) for seq in range(1, BURST + 1)]
    writer = _writer(tmp_path, parts, committed)
    try:
        started = time.perf_counter()
        for part in batch:
            assert parts.offer(part)
        got = 0
        while got < BURST:
            assert committed.take(10.0) is not None, "the store stopped passing parts on"
            got += 1
        elapsed = time.perf_counter() - started
    finally:
        writer.stop()
        writer.join(10)
    rate = BURST / elapsed
    commits = writer.commit_metrics.snapshot()
    with capsys.disabled():
        print(f"\nstore burst: {BURST} parts with 3 regions each in {elapsed:.2f} s = {rate:.0f} parts/s "
              f"in {commits.count} transactions (commit p50 {commits.latency_p50_ms:.1f} ms, "
              f"p99 {commits.latency_p99_ms:.1f} ms)")
    assert rate >= 200
    assert integrity_check(tmp_path / "hmi.db") == "ok"


def test_steady_line_rate_commit_latency(tmp_path, decided_part, capsys):
    parts, committed = BoundedQueue("parts", 256), BoundedQueue("committed", 10_000)
    writer = _writer(tmp_path, parts, committed)
    n = int(STEADY_RATE * STEADY_S)
    try:
        start = time.monotonic()
        for seq in range(1, n + 1):
            delay = start + seq / STEADY_RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            assert parts.offer(decided_part(seq, regions=3))
        deadline = time.monotonic() + 10
        while len(committed) < n and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        writer.stop()
        writer.join(10)
    assert len(committed) == n
    commits, passed = writer.commit_metrics.snapshot(), writer.metrics.snapshot()
    with capsys.disabled():
        print(f"\nstore at {STEADY_RATE} parts/s: commit p50 {commits.latency_p50_ms:.2f} ms, "
              f"p99 {commits.latency_p99_ms:.2f} ms over {commits.count} transactions; verdict decided -> "
              f"committed and passed to the PLC queue p50 {passed.latency_p50_ms:.2f} ms, "
              f"p99 {passed.latency_p99_ms:.2f} ms")
    # A verdict must be committed well within the PLC's default delivery deadline (500 ms).
    assert passed.latency_p99_ms < 500
