"""The interface every frame source offers the capture worker."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

import numpy as np

from hmi.core.part import CameraSettings


class TriggerMode(str, Enum):
    """How exposures start: continuously, on a software command, or on the line's sensor."""

    FREE_RUN = "free_run"
    SOFTWARE = "software"
    HARDWARE = "hardware"


@dataclass(frozen=True)
class FrameRoi:
    """The sensor area read out (camera-side ROI), in sensor pixels; zero size means full sensor."""

    x: int = 0
    y: int = 0
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Grab:
    """One buffer from the source: an image, or the reason there is none (failed/incomplete buffer)."""

    captured_at: datetime
    captured_mono: float
    settings: CameraSettings
    image: np.ndarray | None = field(default=None, repr=False)
    error: str | None = None
    frame_id: int = 0


class FrameSource(abc.ABC):
    """A camera or replay the capture thread owns; only that thread calls these methods.

    `grab` returns a Grab for every buffer (with `error` set for a failed or incomplete one),
    returns None when no frame came within the timeout (no part passed), and raises
    CameraLost when the device is gone; `reconnect` then tries to bring it back.
    """

    name: str = "source"

    @abc.abstractmethod
    def open(self) -> None:
        """Connect and apply the configured settings; raise CameraError in plain words on failure."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device; safe to call twice."""

    @abc.abstractmethod
    def grab(self, timeout_s: float) -> Grab | None:
        """Wait up to `timeout_s` for the next buffer (triggering first in software-trigger mode)."""

    @abc.abstractmethod
    def settings(self) -> CameraSettings:
        """Settings now in force (read back from the device)."""

    def reconnect(self) -> bool:
        """Try once to reopen a lost device; True when it is back."""
        try:
            self.close()
            self.open()
            return True
        except Exception:  # noqa: BLE001 - any failure means "not back yet"; caller backs off
            return False

    def set_exposure(self, exposure_us: float) -> float:
        """Write exposure time; return the value the device accepted."""
        raise NotImplementedError(f"{self.name} has no adjustable exposure")

    def set_gain(self, gain_db: float) -> float:
        """Write gain; return the value the device accepted."""
        raise NotImplementedError(f"{self.name} has no adjustable gain")


class WrappedSource(FrameSource):
    """A source that hands everything to the source `inner` underneath; a subclass changes what it must."""

    def __init__(self, inner: FrameSource) -> None:
        self.inner = inner
        self.name = inner.name

    def open(self) -> None:
        """Open the source underneath."""
        self.inner.open()

    def close(self) -> None:
        """Close the source underneath."""
        self.inner.close()

    def grab(self, timeout_s: float) -> Grab | None:
        """The next grab of the source underneath."""
        return self.inner.grab(timeout_s)

    def settings(self) -> CameraSettings:
        """The settings of the source underneath."""
        return self.inner.settings()

    def reconnect(self) -> bool:
        """Reconnect the source underneath."""
        return self.inner.reconnect()

    def set_exposure(self, exposure_us: float) -> float:
        """Write the exposure of the source underneath."""
        return self.inner.set_exposure(exposure_us)

    def set_gain(self, gain_db: float) -> float:
        """Write the gain of the source underneath."""
        return self.inner.set_gain(gain_db)
