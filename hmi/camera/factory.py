"""Builds the frame source the station file asks for: the emulated demo camera, a Basler camera, or a replay."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import platformdirs

from hmi.camera.source import FrameRoi, FrameSource, TriggerMode
from hmi.config.schema import CameraConfig
from hmi.core.errors import ConfigError


def open_source(cfg: CameraConfig, demo_frames: Path) -> FrameSource:
    """The configured source, not opened yet (the capture thread opens it).

    emulated: pylon's camera emulation replaying `camera.replay_path` when set, else `demo_frames`
    (the shipped demo frames get an occasional borderline part: hmi.camera.demo_borderline);
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
        camera = PylonCamera.emulated(uncompressed_copy(images), serial=cfg.serial or EMULATOR_SERIAL, trigger=trigger,
                                      exposure_us=cfg.exposure_us, gain_db=cfg.gain_db, roi=roi, rate_hz=cfg.rate_hz)
        from hmi.demo.dataset import demo_frames_dir

        if images != demo_frames_dir():
            return camera
        from hmi.camera.demo_borderline import WithBorderlineParts

        return WithBorderlineParts(camera)  # the built-in demo: now and then a borderline part
    if cfg.kind == "pylon":
        return PylonCamera(cfg.serial, trigger=trigger, exposure_us=cfg.exposure_us, gain_db=cfg.gain_db,
                           roi=roi, rate_hz=cfg.rate_hz)
    raise ConfigError(f"camera.kind {cfg.kind!r} is not known", "use emulated, pylon or replay")


def uncompressed_copy(folder: Path, cache_root: Path | None = None) -> Path:
    """The folder's PNG frames as BMP in a cache folder (reused while the PNGs are unchanged).

    pylon's emulator decodes its image file for every frame; from PNG that costs 1.7 ms of CPU a
    frame here, from BMP 0.5 ms, and those cores are the model's. Folders without PNGs are used as
    they are.
    """
    folder = Path(folder)
    pngs = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if not pngs:
        return folder
    key = hashlib.sha256()
    for p in pngs:
        st = p.stat()
        key.update(f"{p.name}|{st.st_size}|{st.st_mtime_ns}".encode())
    root = cache_root or Path(platformdirs.user_cache_dir("inspection-station", "hmi"))
    out = root / "emulator-frames" / key.hexdigest()[:16]
    if out.is_dir() and len(list(out.glob("*.bmp"))) == len(pngs):
        return out
    tmp = out.with_name(out.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    for p in pngs:
        image = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if image is None:
            return folder  # let the emulator report the damaged file as a failed buffer
        cv2.imwrite(str(tmp / (p.stem + ".bmp")), image)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.replace(out)
    return out
