"""Auto-exposure against models of a camera: pylon's emulator does not scale its images with exposure.

(Measured: the emulated camera replaying a flat grey 100 frame gives mean 100.0 at 1 000, 5 000,
20 000 and 100 000 µs and at 0 to 24 dB, so convergence is shown on these plants; on the emulator the
controller must notice that the image does not follow the exposure, see tests/ui/technician.)
"""

from __future__ import annotations

import numpy as np
import pytest

from hmi.camera.quality import AutoExposure, next_exposure
from hmi.core.errors import StationError


class SensorModel:
    """A camera looking at a lit part: mean grey = dark offset + sensitivity x exposure, then gamma, clipped."""

    def __init__(self, sensitivity: float, *, offset: float = 2.0, gamma: float = 1.0, noise: float = 0.0,
                 lag_frames: int = 0, seed: int = 0) -> None:
        self.sensitivity = sensitivity
        self.offset = offset
        self.gamma = gamma
        self.noise = noise
        self.exposure_us = 1000.0
        self.writes: list[float] = []
        self._rng = np.random.default_rng(seed)

    def set_exposure(self, exposure_us: float) -> float:
        self.exposure_us = round(exposure_us, 1)   # the node's increment
        self.writes.append(self.exposure_us)
        return self.exposure_us

    def mean(self) -> float:
        linear = (self.offset + self.sensitivity * self.exposure_us) / 255.0
        value = 255.0 * max(linear, 0.0) ** (1.0 / self.gamma) + self._rng.normal(0, self.noise)
        return float(np.clip(value, 0, 255))


@pytest.mark.parametrize("sensitivity, gamma, noise", [(0.01, 1.0, 0.0), (0.002, 1.0, 1.0), (0.2, 1.0, 0.5),
                                                      (0.01, 2.2, 0.8), (0.05, 0.6, 0.0)])
def test_quality_auto_exposure_converges_on_linear_and_gamma_sensors(sensitivity, gamma, noise):
    camera = SensorModel(sensitivity, gamma=gamma, noise=noise)
    result = AutoExposure(120.0, tolerance=4.0).run(camera.exposure_us, camera.set_exposure, camera.mean)
    assert result.converged, result.problem
    assert abs(result.mean - 120.0) <= 4.0
    assert camera.exposure_us == result.exposure_us          # the exposure left in force is the one reported
    assert len(result.steps) - 1 <= 6
    assert "reached mean" in result.words


def test_quality_auto_exposure_recovers_from_a_fully_clipped_frame_in_bounded_steps():
    camera = SensorModel(1.0)          # 1000 µs -> four times beyond white
    assert camera.mean() == 255.0
    result = AutoExposure(40.0).run(camera.exposure_us, camera.set_exposure, camera.mean)
    assert result.converged
    ratios = [a / b for a, b in zip(camera.writes[1:], camera.writes[:-1], strict=False)]
    assert all(r >= 0.25 - 1e-6 for r in ratios)                # never more than 4x per step
    assert camera.writes[0] == pytest.approx(250.0)


def test_quality_auto_exposure_stops_at_the_longest_exposure_and_restores_the_start():
    camera = SensorModel(0.0001)       # a lamp that is out: 100 ms gives mean 12
    result = AutoExposure(120.0, max_us=100_000.0).run(1000.0, camera.set_exposure, camera.mean)
    assert not result.converged
    assert "too dark" in result.problem and "100000 µs" in result.problem and "add light" in result.problem
    assert camera.writes[-1] == 1000.0 and result.exposure_us == 1000.0
    assert max(camera.writes) == 100_000.0


def test_quality_auto_exposure_stops_at_the_shortest_exposure_when_too_bright():
    camera = SensorModel(1000.0, offset=0.0)
    camera.exposure_us = 50.0
    result = AutoExposure(100.0, min_us=20.0).run(50.0, camera.set_exposure, camera.mean)
    assert not result.converged and "too bright" in result.problem
    assert camera.exposure_us == 50.0


def test_quality_auto_exposure_notices_an_image_that_ignores_the_exposure():
    writes: list[float] = []
    result = AutoExposure(128.0).run(5000.0, lambda us: writes.append(us) or us, lambda: 60.0)
    assert not result.converged
    assert "does not follow the exposure" in result.problem
    assert len(writes) == 3 and writes[-1] == 5000.0            # two tries, then the start written back


def test_quality_auto_exposure_already_on_target_writes_nothing():
    writes: list[float] = []
    result = AutoExposure(100.0, tolerance=5.0).run(800.0, lambda us: writes.append(us) or us, lambda: 97.0)
    assert result.converged and writes == [] and result.exposure_us == 800.0


def test_quality_auto_exposure_cancel_restores_the_start():
    camera = SensorModel(0.01)
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 1

    result = AutoExposure(200.0).run(1000.0, camera.set_exposure, camera.mean, cancelled)
    assert not result.converged and "cancelled" in result.problem
    assert camera.exposure_us == 1000.0


def test_quality_next_exposure_is_proportional_and_clamped():
    assert next_exposure(1000, 50, 100, min_us=10, max_us=1e6) == pytest.approx(2000)
    assert next_exposure(1000, 0, 100, min_us=10, max_us=1e6) == pytest.approx(4000)     # black: at most 4x
    assert next_exposure(1000, 255, 10, min_us=10, max_us=1e6) == pytest.approx(250)     # white: at most /4
    assert next_exposure(90_000, 50, 100, min_us=10, max_us=100_000) == 100_000
    with pytest.raises(StationError, match="between 5 and 250"):
        AutoExposure(252.0)
