"""Builds the frame source the station file asks for: the emulated demo camera, a Basler camera, or a replay."""

from __future__ import annotations

from pathlib import Path

from hmi.camera.source import FrameRoi, FrameSource, TriggerMode
from hmi.config.schema import CameraConfig
from hmi.core.errors import ConfigError


def open_source(cfg: CameraConfig, demo_frames: Path) -> FrameSource:
    """The configured source, not opened yet (the capture thread opens it).

    emulated: pylon's camera emulation replaying `camera.replay_path` when set, else `demo_frames`;
    pylon: the Basler camera with `camera.serial` (or the first real camera found);
    replay: the folder or video at `camera.replay_path`, else `demo_frames`.
    """
    trigger = TriggerMode(cfg.trigger)
    roi = FrameRoi(x=cfg.roi.x, y=cfg.roi.y, width=cfg.roi.width, height=cfg.roi.height)
    images = Path(cfg.replay_path) if cfg.replay_path else Path(demo_frames)
    if cfg.kind == "replay":
        from hmi.camera.replay import ReplaySource

        return ReplaySource(images, trigger=trigger, rate_hz=cfg.rate_hz, roi=roi)
    # Imported here so that a replay-only station does not load the pylon runtime.
    from hmi.camera.pylon import EMULATOR_SERIAL, PylonCamera

    if cfg.kind == "emulated":
        return PylonCamera.emulated(images, serial=cfg.serial or EMULATOR_SERIAL, trigger=trigger,
                                    exposure_us=cfg.exposure_us, gain_db=cfg.gain_db, roi=roi, rate_hz=cfg.rate_hz)
    if cfg.kind == "pylon":
        return PylonCamera(cfg.serial, trigger=trigger, exposure_us=cfg.exposure_us, gain_db=cfg.gain_db,
                           roi=roi, rate_hz=cfg.rate_hz)
    raise ConfigError(f"camera.kind {cfg.kind!r} is not known", "use emulated, pylon or replay")
