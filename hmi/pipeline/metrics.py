"""Per-stage counters: throughput, latency percentiles and drops, safe to read from any thread."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StageSnapshot:
    """A stage's figures at one moment."""

    name: str
    count: int
    drops: int
    fps: float
    latency_p50_ms: float
    latency_p99_ms: float


class StageMetrics:
    """Counts items and drops and keeps a window of recent latencies for one stage."""

    def __init__(self, name: str, window: int = 2048) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._count = 0
        self._drops = 0
        self._latencies: deque[float] = deque(maxlen=window)
        self._stamps: deque[float] = deque(maxlen=window)

    def record(self, latency_s: float | None = None) -> None:
        """Count one item that went through, with its latency if known."""
        now = time.monotonic()
        with self._lock:
            self._count += 1
            self._stamps.append(now)
            if latency_s is not None:
                self._latencies.append(latency_s)

    def drop(self, n: int = 1) -> None:
        """Count items this stage could not pass on."""
        with self._lock:
            self._drops += n

    def snapshot(self, fps_window_s: float = 2.0) -> StageSnapshot:
        """Current figures; fps over the last `fps_window_s` seconds."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._stamps if now - t <= fps_window_s]
            lat = np.fromiter(self._latencies, dtype=np.float64) if self._latencies else None
            count, drops = self._count, self._drops
        fps = 0.0
        if len(recent) >= 2:
            span = max(now - recent[0], 1e-6)
            fps = len(recent) / span
        p50 = p99 = float("nan")
        if lat is not None and lat.size:
            p50, p99 = (float(v) * 1000.0 for v in np.percentile(lat, [50, 99]))
        return StageSnapshot(self.name, count, drops, fps, p50, p99)


class RecentDurations:
    """The last `window` durations of one step (seconds), for timing the next trigger; safe from any thread."""

    def __init__(self, window: int = 32) -> None:
        self._lock = threading.Lock()
        self._values: deque[float] = deque(maxlen=window)

    def add(self, seconds: float) -> None:
        """Note one step's duration."""
        with self._lock:
            self._values.append(seconds)

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def quantile(self, q: float) -> float:
        """The `q` quantile (0..1) of the recent durations; 0.0 before the first."""
        with self._lock:
            values = list(self._values)
        return float(np.quantile(values, q)) if values else 0.0
