"""Builds the frame source the station file asks for: the emulated demo camera, a Basler camera, or a replay."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import cv2
import platformdirs

from hmi.camera.source import FrameRoi, FrameSource, TriggerMode
from hmi.config.schema import CameraConfig
from hmi.core.errors import ConfigError, ImageError
from hmi.core.image_files import MAX_IMAGE_PIXELS, decode_image, list_images, max_pixels, read_image_bytes, to_8bit

log = logging.getLogger(__name__)

_COMPRESSED = (".png", ".tif", ".tiff")   # decoded by the emulator for every frame, or deeper than 8 bits
_CACHE_RULE = "8-bit BMP, 16-bit by the upper 8 bits"  # part of the cache key: a new rule makes new copies


def open_source(cfg: CameraConfig, demo_frames: Path) -> FrameSource:
    """The configured source, not opened yet (the capture thread opens it).

    emulated: pylon's camera emulation replaying `camera.replay_path` when set, else `demo_frames`
    (the shipped demo frames get an occasional borderline part: hmi.camera.demo_borderline, and respond to
    exposure and gain like a sensor: hmi.camera.demo_sensor);
    pylon: the Basler camera with `camera.serial` (or the first real camera found);
    replay: the folder or video at `camera.replay_path`, else `demo_frames`.
    """
    trigger = TriggerMode(cfg.trigger)
    roi = FrameRoi(x=cfg.roi.x, y=cfg.roi.y, width=cfg.roi.width, height=cfg.roi.height)
    images = Path(cfg.replay_path) if cfg.replay_path else Path(demo_frames)
    limit = max_pixels(cfg.max_image_megapixels)
    if cfg.kind == "replay":
        from hmi.camera.replay import ReplaySource

        return ReplaySource(images, trigger=trigger, rate_hz=cfg.rate_hz, roi=roi, max_pixels=limit)
    # Imported here so that a replay-only station does not load the pylon runtime.
    from hmi.camera.pylon import EMULATOR_SERIAL, PylonCamera

    if cfg.kind == "emulated":
        camera = PylonCamera.emulated(uncompressed_copy(images, max_pixels=limit), serial=cfg.serial or EMULATOR_SERIAL,
                                      trigger=trigger, exposure_us=cfg.exposure_us, gain_db=cfg.gain_db, roi=roi,
                                      rate_hz=cfg.rate_hz, max_pixels=limit)
        from hmi.demo.dataset import demo_frames_dir

        if images != demo_frames_dir():
            return camera
        from hmi.camera.demo_borderline import WithBorderlineParts
        from hmi.camera.demo_sensor import SensorResponse

        # The built-in demo: now and then a borderline part, every frame as bright as exposure and gain make it.
        return SensorResponse(WithBorderlineParts(camera))
    if cfg.kind == "pylon":
        return PylonCamera(cfg.serial, trigger=trigger, exposure_us=cfg.exposure_us, gain_db=cfg.gain_db,
                           roi=roi, rate_hz=cfg.rate_hz)
    raise ConfigError(f"camera.kind {cfg.kind!r} is not known", "use emulated, pylon or replay")


def uncompressed_copy(folder: Path, cache_root: Path | None = None, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Path:
    """The folder's frames as 8-bit BMP in a cache folder when it holds PNG or TIFF (reused while they are unchanged).

    pylon's emulator decodes its image file for every frame; from PNG that costs 1.7 ms of CPU a
    frame here, from BMP 0.5 ms, and those cores are the model's. The files are read as every reader
    of images reads them (hmi.core.image_files: the pixel limit, 16-bit by its upper 8 bits), so the
    emulated camera sees what the replay camera and `hmi inspect` see. Folders without PNG or TIFF
    frames are used as they are; a file that cannot be read leaves the folder as it is, for the
    camera's own check to name it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return folder
    listing = list_images(folder)
    frames = listing.files
    if not any(p.suffix.lower() in _COMPRESSED for p in frames):
        return folder
    for skipped, why in listing.skipped:  # pipes, sockets, folders named *.png: left out of the copy
        log.warning("emulated camera: %s skipped: %s", skipped, why)
    key = hashlib.sha256(_CACHE_RULE.encode())
    for p in frames:
        st = p.stat()
        key.update(f"{p.name}|{st.st_size}|{st.st_mtime_ns}".encode())
    root = cache_root or Path(platformdirs.user_cache_dir("inspection-station", "hmi"))
    out = root / "emulator-frames" / key.hexdigest()[:16]
    if out.is_dir() and len(list(out.glob("*.bmp"))) == len(frames):
        return out
    tmp = out.with_name(out.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    for p in frames:
        try:
            image = to_8bit(decode_image(read_image_bytes(p), p.name, cv2.IMREAD_UNCHANGED, max_pixels), p.name)
        except ImageError:
            return folder  # the camera's check of the folder names the file and why
        cv2.imwrite(str(tmp / (p.stem + ".bmp")), image)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.replace(out)
    return out
