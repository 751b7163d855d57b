"""Frame sources from files: a folder of images or a video replayed (demos, offline runs), or image files once each."""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from hmi.camera.source import FrameRoi, FrameSource, Grab, TriggerMode
from hmi.core.errors import CameraError, ImageError
from hmi.core.image_files import (IMAGE_SUFFIXES, MAX_IMAGE_PIXELS, list_images, read_frame, read_mono8,
                                  special_kind)
from hmi.core.part import CameraSettings, utc_now

log = logging.getLogger(__name__)

# What else a file's decoding may raise (memory, OpenCV, NumPy): the file's part is NOT_INSPECTED, the camera goes on.
_FILE_FAILURES = (ImageError, MemoryError, cv2.error, ValueError, OSError)


def image_files(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name (the order pylon's emulator replays)."""
    return sorted(list_images(folder).files, key=lambda p: p.name)


def crop_to_roi(image: np.ndarray, roi: FrameRoi) -> np.ndarray:
    """The part of `image` inside `roi` (whole image for a zero-size ROI), as a contiguous copy."""
    if roi.width == 0 and roi.height == 0 and roi.x == 0 and roi.y == 0:
        return image
    height, width = image.shape[:2]
    w = roi.width or width - roi.x
    h = roi.height or height - roi.y
    if roi.x + w > width or roi.y + h > height or w <= 0 or h <= 0:
        raise ImageError(
            f"frame ROI x={roi.x} y={roi.y} {w}x{h} does not fit the {width}x{height} image",
            "make the ROI smaller or move it inside the image (camera settings, ROI)")
    return np.ascontiguousarray(image[roi.y:roi.y + h, roi.x:roi.x + w])


class FramePacer:
    """Spaces frames at `rate_hz` (0 = no pacing), counted from the previous frame's start."""

    def __init__(self, rate_hz: float) -> None:
        self.period_s = 1.0 / rate_hz if rate_hz > 0 else 0.0
        self._last: float | None = None

    def wait(self, deadline: float) -> bool:
        """Sleep until the next frame is due; False when it is not due before `deadline` (monotonic)."""
        if self.period_s and self._last is not None:
            due = self._last + self.period_s
            now = time.monotonic()
            if due > deadline:
                time.sleep(max(0.0, deadline - now))
                return False
            if due > now:
                time.sleep(due - now)
        self._last = time.monotonic()
        return True

    def reset(self) -> None:
        """Forget the previous frame (after reopening)."""
        self._last = None


class ReplaySource(FrameSource):
    """Frames from a folder of images (sorted by name, looping) or a video file (looping), as Mono8.

    Software trigger: one frame per grab, at once (the capture thread paces its triggers). Free-run
    and hardware trigger: frames arrive on their own at `rate_hz` (0 = as fast as they are grabbed),
    as a free-running camera or a line's parts would. A file that
    cannot be read gives a Grab with an error, like a failed camera buffer, and the replay goes on.
    """

    def __init__(self, path: Path, *, trigger: TriggerMode = TriggerMode.SOFTWARE, rate_hz: float = 0.0,
                 roi: FrameRoi = FrameRoi(), max_pixels: int = MAX_IMAGE_PIXELS) -> None:
        self.path = Path(path)
        self.trigger = TriggerMode(trigger)
        self.roi = roi
        self.max_pixels = max_pixels
        self.name = f"replay {self.path.name}"
        self._pacer = FramePacer(0.0 if self.trigger is TriggerMode.SOFTWARE else rate_hz)
        self._files: list[Path] = []
        self._video: cv2.VideoCapture | None = None
        self._position = 0      # next file index, or frames read since the video was (re)started
        self._frames = 0        # buffers delivered since open
        self._settings: CameraSettings | None = None

    # --- FrameSource ---------------------------------------------------------------------------
    def open(self) -> None:
        """Check the folder or video and read its first frame; raise CameraError in plain words."""
        self.close()
        if not self.path.exists():
            raise CameraError(f"replay path {self.path} does not exist",
                              "check camera.replay_path in the station file")
        mode = os.stat(self.path).st_mode
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):  # a pipe would block the video reader for ever
            raise CameraError(f"replay path {self.path} is {special_kind(mode)}, not a folder, image or video file",
                              "set camera.replay_path to a folder of images or a video file")
        if self.path.is_dir():
            listing = list_images(self.path)
            for skipped, why in listing.skipped:  # pipes, sockets, folders named *.png: never opened
                log.warning("replay: %s skipped: %s", skipped, why)
            self._files = sorted(listing.files, key=lambda p: p.name)
            if not self._files:
                raise CameraError(
                    f"replay folder {self.path} holds no images ({', '.join(s[1:] for s in IMAGE_SUFFIXES)})",
                    "copy images into it or set camera.replay_path to another folder")
            first = self._first_readable_image()
        elif self.path.suffix.lower() in IMAGE_SUFFIXES:
            self._files = [self.path]
            first = self._first_readable_image()
        else:
            first = self._open_video()
        try:
            first = crop_to_roi(first, self.roi)
        except ImageError as exc:
            self.close()
            raise CameraError(exc.what, exc.todo) from exc
        self._settings = CameraSettings(source=self.name, exposure_us=0.0, gain_db=0.0,
                                        width=int(first.shape[1]), height=int(first.shape[0]))
        self._position = 0
        self._frames = 0
        self._pacer.reset()
        log.info("replay opened: %s (%s)", self.path,
                 f"{len(self._files)} images" if self._files else "video")

    def close(self) -> None:
        """Release the video file, if any; safe to call twice."""
        if self._video is not None:
            self._video.release()
            self._video = None
        self._files = []
        self._settings = None

    def grab(self, timeout_s: float) -> Grab | None:
        """The next frame, paced like the configured trigger; None when it is not due within the timeout."""
        if self._settings is None:
            raise CameraError(f"{self.name} is not open", "start the station again")
        if not self._pacer.wait(time.monotonic() + max(0.0, timeout_s)):
            return None
        try:
            image = self._next_video_frame() if self._video is not None else self._next_file_frame()
            image = crop_to_roi(image, self.roi)
            error = None
        except _FILE_FAILURES as exc:  # a bad file is a failed buffer, never the end of the capture thread
            image, error = None, _failure_text(exc)
        self._frames += 1
        captured_mono = time.monotonic()
        if image is not None and (image.shape[1], image.shape[0]) != (self._settings.width, self._settings.height):
            self._settings = CameraSettings(source=self.name, exposure_us=0.0, gain_db=0.0,
                                            width=int(image.shape[1]), height=int(image.shape[0]))
        return Grab(captured_at=utc_now(), captured_mono=captured_mono, settings=self._settings,
                    image=image, error=error, frame_id=self._frames)

    def settings(self) -> CameraSettings:
        """Size of the frames replayed; a replay has no exposure or gain (recorded as 0)."""
        if self._settings is None:
            raise CameraError(f"{self.name} is not open", "start the station again")
        return self._settings

    # --- helpers --------------------------------------------------------------------------------
    def _first_readable_image(self) -> np.ndarray:
        for path in self._files:
            try:
                return read_mono8(path, self.max_pixels)
            except _FILE_FAILURES as exc:
                log.warning("replay: %s", _failure_text(exc))
        raise CameraError(f"none of the {len(self._files)} images in {self.path} can be read",
                          "replace the files with PNG, BMP, JPEG or TIFF images")

    def _next_file_frame(self) -> np.ndarray:
        path = self._files[self._position % len(self._files)]
        self._position += 1
        return read_mono8(path, self.max_pixels)

    def _open_video(self) -> np.ndarray:
        video = cv2.VideoCapture(str(self.path))
        ok, frame = video.read() if video.isOpened() else (False, None)
        if not ok:
            video.release()
            raise CameraError(f"video {self.path.name} cannot be opened or holds no frames",
                              "check the file plays in a video player (MJPG AVI and MP4 work), "
                              "or use a folder of images")
        # Reopen rather than seek back: seeking is unreliable in some containers.
        video.release()
        self._video = cv2.VideoCapture(str(self.path))
        return _mono(frame)

    def _next_video_frame(self) -> np.ndarray:
        assert self._video is not None
        ok, frame = self._video.read()
        if not ok:
            # End of the clip (or an unreadable tail): start again from the first frame.
            self._video.release()
            self._video = cv2.VideoCapture(str(self.path))
            read_before, self._position = self._position, 0
            ok, frame = self._video.read()
            if not ok:
                raise ImageError(f"video {self.path.name} cannot be read after frame {read_before}",
                                 "check the file plays in a video player")
        self._position += 1
        return _mono(frame)


class ImageFilesSource(FrameSource):
    """Each of a list of image files once, in the given order: the camera of `hmi inspect`.

    Software trigger: one file per grab, read when the capture thread triggers, so reading the next
    file overlaps the model judging the previous one. Grab `n` (frame_id `n`) is `paths[n - 1]`, and
    every grab takes exactly one file: a file that cannot be read gives a Grab with the reason (the
    part is NOT_INSPECTED, like a failed camera buffer), never an exception, so the parts and the
    files stay in step. Opening never fails (there is no device); after the last file no frame comes.
    """

    def __init__(self, paths: Sequence[Path], *, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
        self.paths = [Path(p) for p in paths]
        self.max_pixels = max_pixels
        self.name = "image files"
        self._next = 0          # index of the next file
        self._open = False

    @property
    def delivered(self) -> int:
        """How many files were grabbed since open."""
        return self._next

    def open(self) -> None:
        """Start again from the first file."""
        self._next = 0
        self._open = True
        log.info("image files: %d to judge", len(self.paths))

    def close(self) -> None:
        """Nothing to release; safe to call twice."""
        self._open = False

    def grab(self, timeout_s: float) -> Grab | None:
        """The next file as a frame (or the reason it cannot be read); None once every file was grabbed."""
        if not self._open:
            raise CameraError(f"{self.name} is not open", "start the station again")
        if self._next >= len(self.paths):
            time.sleep(max(0.0, min(timeout_s, 0.1)))  # no part passes: as a camera whose line has stopped
            return None
        path = self.paths[self._next]
        self._next += 1
        try:
            image, error = read_frame(path, self.max_pixels), None
        except _FILE_FAILURES as exc:
            image, error = None, _failure_text(exc)
        height, width = image.shape[:2] if image is not None else (0, 0)
        return Grab(captured_at=utc_now(), captured_mono=time.monotonic(),
                    settings=CameraSettings(source=self.name, exposure_us=0.0, gain_db=0.0, width=int(width),
                                            height=int(height)),
                    image=image, error=error, frame_id=self._next)

    def settings(self) -> CameraSettings:
        """A file has no exposure or gain (recorded as 0); the size is each frame's own."""
        return CameraSettings(source=self.name, exposure_us=0.0, gain_db=0.0)

    def set_exposure(self, exposure_us: float) -> float:
        """Files were exposed when they were taken: a recipe's exposure changes nothing (and is no fault)."""
        return exposure_us

    def set_gain(self, gain_db: float) -> float:
        """Files were exposed when they were taken: a recipe's gain changes nothing (and is no fault)."""
        return gain_db


def _failure_text(exc: BaseException) -> str:
    """Why a file gave no frame: the ImageError's own words, else the kind of failure."""
    if isinstance(exc, ImageError):
        return str(exc)
    detail = str(exc).splitlines()[0][:200] if str(exc) else "no detail"
    return f"image cannot be decoded ({type(exc).__name__}: {detail}); the part is not inspected"


def _mono(frame: np.ndarray) -> np.ndarray:
    """A decoded video frame as contiguous Mono8."""
    if frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(frame, dtype=np.uint8)
