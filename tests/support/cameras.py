"""Test cameras: a hardware-triggered replay that gives no frame until the line runs."""

from __future__ import annotations

import threading
from pathlib import Path

from hmi.camera.replay import ReplaySource
from hmi.camera.source import TriggerMode, WrappedSource


class HeldCamera(WrappedSource):
    """A hardware-triggered replay of `frames` whose frames come only once `line_runs` is set (until then no part passes)."""

    def __init__(self, frames: Path, rate_hz: float) -> None:
        super().__init__(ReplaySource(frames, trigger=TriggerMode.HARDWARE, rate_hz=rate_hz))
        self.line_runs = threading.Event()

    def grab(self, timeout_s: float):
        """The next frame once the line runs, else None after `timeout_s`."""
        return self.inner.grab(timeout_s) if self.line_runs.wait(timeout_s) else None
