"""Replay of a folder of images or a video file, as a frame source, for demos and offline runs."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from hmi.camera.source import FrameRoi, FrameSource, Grab, TriggerMode
from hmi.core.errors import CameraError, ImageError
from hmi.core.part import CameraSettings, utc_now

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


def image_files(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name (the order pylon's emulator replays)."""
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: p.name,
    )


def read_mono8(path: Path) -> np.ndarray:
    """Read an image file as a C-contiguous Mono8 array; raise ImageError in plain words."""
    try:
        # imdecode from bytes: cv2.imread cannot open non-ASCII paths on Windows.
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageError(f"image {path.name} cannot be read ({exc.strerror or exc})",
                         "check the file exists and the station may read it") from exc
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
    if image is None:
        raise ImageError(f"image {path.name} cannot be read — the file is damaged or not an image",
                         "replace or remove the file")
    return np.ascontiguousarray(image, dtype=np.uint8)


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
                 roi: FrameRoi = FrameRoi()) -> None:
        self.path = Path(path)
        self.trigger = TriggerMode(trigger)
        self.roi = roi
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
        if self.path.is_dir():
            self._files = image_files(self.path)
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
        except ImageError as exc:
            image, error = None, str(exc)
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
                return read_mono8(path)
            except ImageError as exc:
                log.warning("replay: %s", exc)
        raise CameraError(f"none of the {len(self._files)} images in {self.path} can be read",
                          "replace the files with PNG, BMP, JPEG or TIFF images")

    def _next_file_frame(self) -> np.ndarray:
        path = self._files[self._position % len(self._files)]
        self._position += 1
        return read_mono8(path)

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


def _mono(frame: np.ndarray) -> np.ndarray:
    """A decoded video frame as contiguous Mono8."""
    if frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(frame, dtype=np.uint8)
