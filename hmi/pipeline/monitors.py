"""Line-level alarm conditions computed from the stream of judged parts (one alarm each, never one per part).

Each monitor compares with the limits of the recipe the part was judged with, as the part carries them.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from hmi.core.alarm_catalogue import LIGHTING_DRIFT, REJECT_RATE
from hmi.core.alarms import AlarmBoard
from hmi.core.part import Part
from hmi.core.setup import LightingReference



class RejectRateMonitor:
    """Raises one REJECT_RATE alarm when the share of rejects over the last `window` parts passes the limit.

    Clears with hysteresis (at 80 % of the limit) so a rate hovering at the limit does not flap.
    """

    def __init__(self, alarms: AlarmBoard, limit: float = 0.2, window: int = 100) -> None:
        self.alarms = alarms
        self.limit = limit  # of the newest part's recipe (this value only for parts that carry no setup)
        self._recent: deque[bool] = deque(maxlen=window)
        self._lock = threading.Lock()

    def __call__(self, part: Part) -> None:
        """Take one judged part into the window; the limit is that of the recipe the part was judged with."""
        with self._lock:
            if part.setup is not None:
                self.limit = part.setup.reject_rate_limit
            limit = self.limit
            self._recent.append(bool(part.verdict and part.verdict.is_reject))
            full = len(self._recent) == self._recent.maxlen
            rate = sum(self._recent) / len(self._recent)
        if not full or limit <= 0:
            return
        if rate > limit:
            self.alarms.raise_(REJECT_RATE, rate=rate, window=len(self._recent), limit=limit)
        elif rate <= 0.8 * limit:
            self.alarms.clear(REJECT_RATE)


class LightingDriftMonitor:
    """Compares the mean grey level of every N-th frame with the lighting reference of the part's recipe."""

    def __init__(self, alarms: AlarmBoard, reference_mean: float = 0.0, limit_pct: float = 15.0,
                 every: int = 10) -> None:
        self.alarms = alarms
        # The newest part's reference; these values only for parts that carry no setup.
        self.reference = reference_mean
        self.limit_pct = limit_pct
        self.every = max(1, every)
        self._n = 0
        self._means: deque[float] = deque(maxlen=5)

    def _follow(self, light: LightingReference) -> None:
        """A part judged with another reference (a changeover, a saved reference): compare with it from now on."""
        if (light.mean, light.limit_pct, max(1, light.every_n)) == (self.reference, self.limit_pct, self.every):
            return
        self.reference, self.limit_pct, self.every = light.mean, light.limit_pct, max(1, light.every_n)
        self._means.clear()
        if light.mean <= 0:
            self.alarms.clear(LIGHTING_DRIFT)

    def __call__(self, part: Part) -> None:
        """Sample the part's frame now and then; alarm when the smoothed mean drifts past the limit."""
        if part.setup is not None:
            self._follow(part.setup.lighting)
        self._n += 1
        if self._n % self.every or part.image is None or self.reference <= 0:
            return
        self._means.append(float(np.mean(part.image[::4, ::4])))
        mean = sum(self._means) / len(self._means)
        drift = 100.0 * (mean - self.reference) / self.reference
        if abs(drift) > self.limit_pct:
            self.alarms.raise_(LIGHTING_DRIFT, mean=mean, drift=drift, reference=self.reference, limit=self.limit_pct)
        elif abs(drift) < 0.8 * self.limit_pct:
            self.alarms.clear(LIGHTING_DRIFT)
