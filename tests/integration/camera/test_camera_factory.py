"""The station file's camera section turned into the right frame source."""

from __future__ import annotations

import numpy as np

from hmi.camera.factory import open_source
from hmi.camera.pylon import EMULATOR_SERIAL, PylonCamera
from hmi.camera.replay import ReplaySource
from hmi.camera.source import FrameRoi, TriggerMode
from hmi.config.schema import CameraConfig


def test_camera_factory_emulated_replays_the_demo_frames(frames_dir):
    folder, frames = frames_dir
    cfg = CameraConfig(kind="emulated", trigger="software", exposure_us=4000, gain_db=2.0,
                       roi={"x": 0, "y": 0, "width": 128, "height": 64})
    source = open_source(cfg, demo_frames=folder)
    assert isinstance(source, PylonCamera) and not source.is_open     # built, not opened
    source.open()
    try:
        grab = source.grab(1.0)
        settings = source.settings()
    finally:
        source.close()
    assert np.array_equal(grab.image, frames[0][:64, :128])
    assert settings.source == f"Basler Emulation {EMULATOR_SERIAL}"
    assert (settings.exposure_us, round(settings.gain_db, 3), settings.width, settings.height) == (4000.0, 2.0, 128, 64)


def test_camera_factory_replay_uses_replay_path_else_demo_frames(tmp_path, frames_dir, make_frames):
    folder, frames = frames_dir
    own = make_frames(tmp_path / "recorded", ["x.png"], width=100, height=50)["x.png"]
    from_demo = open_source(CameraConfig(kind="replay", trigger="free_run", rate_hz=5.0), demo_frames=folder)
    from_path = open_source(CameraConfig(kind="replay", replay_path=str(tmp_path / "recorded")), demo_frames=folder)
    assert isinstance(from_demo, ReplaySource) and from_demo.trigger is TriggerMode.FREE_RUN
    for source, expected in ((from_demo, frames[0]), (from_path, own)):
        source.open()
        try:
            assert np.array_equal(source.grab(1.0).image, expected)
        finally:
            source.close()


def test_camera_factory_pylon_kind_carries_the_settings(frames_dir):
    cfg = CameraConfig(kind="pylon", serial="40012345", trigger="hardware", exposure_us=800, gain_db=1.5,
                       rate_hz=30, roi={"x": 8, "y": 4, "width": 640, "height": 480})
    source = open_source(cfg, demo_frames=frames_dir[0])
    assert isinstance(source, PylonCamera) and source.emulator_images is None
    assert (source.serial, source.trigger, source.exposure_us, source.gain_db, source.rate_hz) == (
        "40012345", TriggerMode.HARDWARE, 800.0, 1.5, 30.0)
    assert source.roi == FrameRoi(x=8, y=4, width=640, height=480)
