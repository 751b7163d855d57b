"""The demo camera's response to exposure and gain: its frames as a real sensor would take them.

pylon's emulator replays its image files unchanged at any exposure or gain. The demo frames stand for
images taken at the demo recipe's settings (DEMO_EXPOSURE_US, DEMO_GAIN_DB); at any other setting each
frame is scaled as a linear sensor's signal is: by the exposure ratio times the gain ratio, and clipped
at saturation. So the camera screen, auto-exposure and the lighting-drift check behave on the demo as
they would on the line.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from hmi.camera.source import FrameSource, Grab, WrappedSource

DEMO_EXPOSURE_US = 5000.0   # the settings the demo frames stand for (resources/recipes/demo.toml)
DEMO_GAIN_DB = 0.0


def signal_factor(exposure_us: float, gain_db: float, nominal_us: float = DEMO_EXPOSURE_US,
                  nominal_db: float = DEMO_GAIN_DB) -> float:
    """How much brighter a linear sensor's image is at (exposure, gain) than at the nominal settings."""
    if not (exposure_us > 0 and math.isfinite(exposure_us)):
        return 1.0
    gain = gain_db if math.isfinite(gain_db) else nominal_db
    return (exposure_us / nominal_us) * 10.0 ** ((gain - nominal_db) / 20.0)


def expose(image: np.ndarray, factor: float) -> np.ndarray:
    """`image` (uint8) with its signal scaled by `factor`, clipped at 0 and 255 (saturation), rounded."""
    return cv2.convertScaleAbs(image, alpha=factor)


class SensorResponse(WrappedSource):
    """`inner`'s frames scaled by the exposure and gain each was grabbed with (see the module docstring)."""

    def __init__(self, inner: FrameSource, nominal_us: float = DEMO_EXPOSURE_US,
                 nominal_db: float = DEMO_GAIN_DB) -> None:
        super().__init__(inner)
        self.nominal_us, self.nominal_db = nominal_us, nominal_db

    def grab(self, timeout_s: float) -> Grab | None:
        """The inner camera's grab, its image as bright as its settings make it."""
        grab = self.inner.grab(timeout_s)
        if grab is None or grab.image is None:
            return grab
        factor = signal_factor(grab.settings.exposure_us, grab.settings.gain_db, self.nominal_us, self.nominal_db)
        if abs(factor - 1.0) < 1e-9:
            return grab
        return dataclasses.replace(grab, image=expose(grab.image, factor))
