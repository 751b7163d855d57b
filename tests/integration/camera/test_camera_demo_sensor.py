"""The demo camera answers exposure and gain like a sensor (issue 16, item 14): pylon's emulated camera on the
shipped demo frames, through the station's own factory."""

from __future__ import annotations

import numpy as np
import pytest

from hmi.camera.demo_sensor import DEMO_EXPOSURE_US, expose, signal_factor
from hmi.camera.factory import open_source
from hmi.camera.quality import AutoExposure, frame_mean
from hmi.config.schema import CameraConfig
from hmi.demo.dataset import demo_frames_dir


def test_demo_frames_scale_with_exposure_times_gain_and_clip_at_saturation():
    assert signal_factor(2 * DEMO_EXPOSURE_US, 0.0) == pytest.approx(2.0)
    assert signal_factor(DEMO_EXPOSURE_US, 6.0206) == pytest.approx(2.0, rel=1e-4)    # +6 dB doubles the signal
    image = np.array([[0, 60, 100, 200]], np.uint8)
    assert expose(image, 2.0).tolist() == [[0, 120, 200, 255]]                        # saturated, not wrapped


def test_auto_exposure_converges_on_the_demo_camera():
    if not demo_frames_dir().is_dir():
        pytest.skip("the demo frames are not generated in this checkout")
    camera = open_source(CameraConfig(kind="emulated", trigger="software", exposure_us=DEMO_EXPOSURE_US,
                                      gain_db=0.0), demo_frames=demo_frames_dir())
    camera.open()
    try:
        nominal = frame_mean(camera.grab(2.0).image)
        camera.set_gain(6.0206)
        assert frame_mean(camera.grab(2.0).image) == pytest.approx(2 * nominal, rel=0.15)   # another demo part
        camera.set_gain(0.0)
        target = 1.4 * nominal
        result = AutoExposure(target, tolerance=4.0).run(
            DEMO_EXPOSURE_US, camera.set_exposure, lambda: frame_mean(camera.grab(2.0).image), lambda: False)
    finally:
        camera.close()
    assert result.converged, result.words
    assert abs(result.steps[-1].mean - target) <= 4.0
    assert result.exposure_us == pytest.approx(1.4 * DEMO_EXPOSURE_US, rel=0.15)


def test_the_evenness_check_is_calm_on_demo_parts_against_the_demo_recipes_lighting_reference(tmp_path):
    from hmi.camera.quality import measure
    from hmi.config.loader import load_recipe, load_station
    from hmi.core.image_files import read_mono8

    if not demo_frames_dir().is_dir():
        pytest.skip("the demo frames are not generated in this checkout")
    cfg = load_station(tmp_path / "data")                      # the demo folder as first made
    lighting = load_recipe(tmp_path / "data", cfg.station.recipe).lighting
    frames = [read_mono8(p) for p in sorted(demo_frames_dir().glob("*.png"))]
    worst = [abs(measure(f, reference=lighting.grid).worst_cell_pct) for f in frames]
    assert sum(w <= lighting.limit_pct for w in worst) >= 0.9 * len(frames)
    assert float(np.median(worst)) < 0.7 * lighting.limit_pct
    # Against the centre cell (the dark bore of the flange) every demo part looked like uneven light.
    assert all(abs(measure(f).worst_cell_pct) > lighting.limit_pct for f in frames)
