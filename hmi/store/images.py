"""The image thread: saves part images and heatmaps under DATA_DIR/images/YYYY-MM-DD/ within a disk quota,
never below the free space kept for the records (store.image_floor_mb)."""

from __future__ import annotations

import logging
import os
import re
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from hmi.config.schema import StoreConfig
from hmi.core.alarm_catalogue import DISK_LOW, IMAGE_WRITE
from hmi.core.alarms import AlarmBoard
from hmi.core.part import Part
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.pipeline.worker import Worker
from hmi.store.database import iso_utc
from hmi.store.reserve import free_bytes

log = logging.getLogger(__name__)

IMAGES_DIR = "images"
_MB = 1024 * 1024
_NAME = re.compile(r"^(\d{12})_(OK|NG|HOLD|NOT_INSPECTED)(_heatmap\.jpg|\.png)$")
_POLL_S = 0.1


@dataclass(frozen=True)
class ImagePaths:
    """Where a part's images lie, relative to the data directory; both None once retention removed them."""

    seq: int
    image_path: str | None
    heatmap_path: str | None


@dataclass(frozen=True)
class _Stored:
    seq: int
    files: tuple[Path, ...]
    size: int


def write_file(path: Path, data: bytes) -> None:
    """Write `data` so that `path` is either absent or complete (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def to_bgr(image: np.ndarray) -> np.ndarray:
    """A camera frame (Mono8, RGB8 or RGBA8) as 8-bit BGR for OpenCV."""
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2BGR)
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


def heatmap_overlay(image: np.ndarray, anomaly_map: np.ndarray, limits: tuple[float, float] | None = None,
                    alpha: float = 0.45) -> np.ndarray:
    """The frame with its anomaly map colour-mapped (blue low, red high) and blended over it, as BGR.

    `limits` fixes the scores shown as the coldest and hottest colour; without it each map is
    stretched over its own range.
    """
    frame = to_bgr(image)
    amap = np.asarray(anomaly_map, dtype=np.float32)
    amap = amap.reshape(amap.shape[-2:]) if amap.ndim > 2 else amap
    lo, hi = limits if limits is not None else (float(np.nanmin(amap)), float(np.nanmax(amap)))
    span = hi - lo
    scaled = np.zeros_like(amap) if not np.isfinite(span) or span <= 1e-12 else (amap - lo) / span
    levels = (np.clip(np.nan_to_num(scaled), 0.0, 1.0) * 255.0).astype(np.uint8)
    levels = cv2.resize(levels, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap(levels, cv2.COLORMAP_JET)
    return cv2.addWeighted(frame, 1.0 - alpha, heat, alpha, 0.0)


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ValueError("the heatmap could not be encoded as JPEG")
    return buf.tobytes()


def _png(image: np.ndarray) -> bytes:
    # Fast compression: this runs beside the model on the station's few cores.
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("the image could not be encoded as PNG")
    return buf.tobytes()


class ImageWriter(Worker):
    """Saves images of the parts the store hands over and reports their paths back to the store.

    Paths travel to the RecordWriter on a queue (the one writer of the database) rather than through
    a second write connection: no two threads ever wait on each other's transactions, so saving an
    image can never hold up a verdict. Retention keeps the folder under `image_quota_mb`, removing
    the oldest OK images first, then the oldest others; their rows stay, with the paths set to NULL.
    Records outlive images: no image is saved that would leave less than `image_floor_mb` free on the disk
    (IMAGE_WRITE says so until images are saved again); DISK_LOW comes earlier, below `low_disk_mb`.
    """

    role = "images"
    nice = 10  # images are kept off the hot path: verdicts, records and the PLC come first

    def __init__(self, data_dir: Path, jobs: BoundedQueue[Part], paths: BoundedQueue[ImagePaths],
                 alarms: AlarmBoard, config: StoreConfig, *, heat_limits: tuple[float, float] | None = None,
                 retry_s: float = 30.0, disk_check_s: float = 5.0, relink_recent: int = 100,
                 outbox_limit: int = 10_000) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / IMAGES_DIR
        self.jobs, self.paths, self.alarms, self.config = jobs, paths, alarms, config
        self.heat_limits = heat_limits  # only for a part that carries no setup (tools, tests)
        self.retry_s = retry_s
        self.disk_check_s = disk_check_s
        self.relink_recent = relink_recent
        self.outbox_limit = outbox_limit
        self._ok: deque[_Stored] = deque()
        self._other: deque[_Stored] = deque()
        self._bytes = 0
        self._outbox: deque[ImagePaths] = deque()
        self._paused_until = 0.0
        self._next_disk_check = 0.0
        self._free: int | None = None  # free bytes at the last look, less what was written since
        self.saved = 0
        self.skipped = 0  # parts whose images were not saved (write error, larger than the quota)
        self.removed = 0  # parts whose images retention removed

    # --- worker life cycle -------------------------------------------------------------------
    def setup(self) -> None:
        """Create the image folder and index what is already there (oldest first)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._scan()
        self._check_disk(force=True)

    def loop_once(self) -> None:
        """Save one part's images, keep the quota, watch the free space, pass paths to the store."""
        part = self.jobs.take(_POLL_S)
        self._check_disk()
        if part is not None:
            self.save(part)
        self._flush_outbox()

    def teardown(self) -> None:
        """Hand over the paths still waiting (the store drains them as it stops)."""
        self._flush_outbox()

    # --- figures -----------------------------------------------------------------------------
    @property
    def used_bytes(self) -> int:
        """Bytes of images now kept under the quota."""
        return self._bytes

    # --- saving ------------------------------------------------------------------------------
    def save(self, part: Part) -> ImagePaths | None:
        """Write the part's image and heatmap; returns their paths, or None when nothing was saved."""
        if part.image is None:
            return None
        now = time.monotonic()
        if now < self._paused_until:
            self.skipped += 1
            return None
        verdict = part.verdict or Verdict.NOT_INSPECTED
        folder = self.root / _day(part)
        try:
            files = self._encode(part, folder / f"{int(part.seq):012d}_{verdict.name}")
        except (ValueError, cv2.error) as exc:
            self.skipped += 1
            log.error("images: part %s has an image that cannot be saved: %s", part.seq, exc)
            return None
        size = sum(len(data) for _, data in files)
        if self._below_floor(size):
            return None
        if not self._make_room(size):
            self.skipped += 1
            log.warning("images: part %s not saved, its %d kB exceed the whole image quota", part.seq, size // 1024)
            return None
        written: list[Path] = []
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for path, data in files:
                write_file(path, data)
                written.append(path)
        except OSError as exc:
            for path in written:
                path.unlink(missing_ok=True)
            self._write_failed(exc)
            return None
        self._stored(_Stored(int(part.seq), tuple(p for p, _ in files), size), verdict is Verdict.OK)
        if self._free is not None:
            self._free -= size
        if self.alarms.is_active(IMAGE_WRITE):
            self.alarms.clear(IMAGE_WRITE)
        self.saved += 1
        result = ImagePaths(int(part.seq), self._relative(files[0][0]),
                            self._relative(files[1][0]) if len(files) > 1 else None)
        self._send(result)
        return result

    def _encode(self, part: Part, stem: Path) -> list[tuple[Path, bytes]]:
        """PNG bytes of the frame (mono stays mono) and, when the model gave a map, JPEG bytes of its heatmap."""
        image = part.image
        if image.dtype != np.uint8:  # the line delivers 8-bit frames; a heatmap blend of anything else is wrong
            raise ValueError(f"image has pixel type {image.dtype}, expected 8-bit")
        gray = image.ndim == 2 or image.shape[2] == 1
        files = [(stem.with_name(stem.name + ".png"), _png(image.reshape(image.shape[:2]) if gray else to_bgr(image)))]
        amap = part.inspection.anomaly_map if part.inspection is not None else None
        if amap is not None:
            # The heatmap is a picture for people (the frame itself stays lossless): JPEG is 8x faster here.
            # Coloured on the scale of the model the part was judged with (a changeover may have come since).
            limits = part.setup.heat_limits if part.setup is not None else self.heat_limits
            files.append((stem.with_name(stem.name + "_heatmap.jpg"),
                          _jpeg(heatmap_overlay(image, amap, limits))))
        return files

    def _stored(self, entry: _Stored, ok: bool) -> None:
        (self._ok if ok else self._other).append(entry)
        self._bytes += entry.size

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.data_dir).as_posix()

    def _write_failed(self, exc: OSError) -> None:
        self.skipped += 1
        self._paused_until = time.monotonic() + self.retry_s
        log.error("images: cannot write to %s: %s", self.root, exc)
        self.alarms.raise_(IMAGE_WRITE, folder=self.root, problem=exc.strerror or exc, retry_s=self.retry_s)

    def _below_floor(self, size: int) -> bool:
        """True (with IMAGE_WRITE) when saving `size` bytes would leave less than image_floor_mb free."""
        floor = self.config.image_floor_mb * _MB
        if self._free is None or self._free - size >= floor:
            return False
        self.skipped += 1
        self.alarms.raise_(IMAGE_WRITE, folder=self.root, retry_s=self.disk_check_s,
                           problem=f"only {max(self._free, 0) // _MB} MB free on the disk, and images stop below "
                                   f"{self.config.image_floor_mb} MB so the records keep room (store.image_floor_mb)")
        return True

    # --- retention ---------------------------------------------------------------------------
    def _make_room(self, need: int) -> bool:
        """Remove the oldest OK images, then the oldest others, until `need` more bytes fit the quota."""
        quota = self.config.image_quota_mb * _MB
        if need > quota:
            return False
        while self._bytes + need > quota and (self._ok or self._other):
            self._remove((self._ok or self._other).popleft())
        return True

    def _remove(self, entry: _Stored) -> None:
        for path in entry.files:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("images: cannot remove %s: %s", path, exc)
        self._bytes -= entry.size
        self.removed += 1
        folder = entry.files[0].parent
        try:
            folder.rmdir()  # only succeeds once the day's folder is empty
        except OSError:
            pass
        self._send(ImagePaths(entry.seq, None, None))

    def _scan(self) -> None:
        """Index images left by earlier runs; unfinished temporary files are removed."""
        found: dict[int, list[Path]] = {}
        kinds: dict[int, bool] = {}
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for path in folder.iterdir():
                if path.name.endswith(".tmp"):
                    path.unlink(missing_ok=True)
                    continue
                m = _NAME.match(path.name)
                if m is None:
                    continue
                seq = int(m.group(1))
                found.setdefault(seq, []).append(path)
                kinds[seq] = m.group(2) == "OK"
        for seq in sorted(found):
            files = tuple(sorted(found[seq], key=lambda p: p.name.endswith("_heatmap.jpg")))
            size = sum(_size(p) for p in files)
            self._stored(_Stored(seq, files, size), kinds[seq])
        # A crash between saving and the store recording the paths leaves files without a row link.
        recent = sorted([*self._ok, *self._other], key=lambda e: e.seq)[-self.relink_recent:] if self.relink_recent else []
        for entry in recent:
            image = next((p for p in entry.files if not p.name.endswith("_heatmap.jpg")), None)
            heat = next((p for p in entry.files if p.name.endswith("_heatmap.jpg")), None)
            self._send(ImagePaths(entry.seq, self._relative(image) if image else None,
                                  self._relative(heat) if heat else None))
        self._make_room(0)

    # --- free disk space ---------------------------------------------------------------------
    def _check_disk(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_disk_check:
            return
        self._next_disk_check = now + self.disk_check_s
        free = self._free = free_bytes(self.root)
        if free is None:
            log.warning("images: cannot read the free disk space of %s", self.root)
            return
        low = self.config.low_disk_mb * _MB
        if free < low:
            self.alarms.raise_(DISK_LOW, free_mb=free // _MB, folder=self.data_dir, limit_mb=self.config.low_disk_mb)
        elif free > low * 1.1 and self.alarms.is_active(DISK_LOW):
            self.alarms.clear(DISK_LOW)

    # --- paths to the store ------------------------------------------------------------------
    def _send(self, paths: ImagePaths) -> None:
        self._outbox.append(paths)
        while len(self._outbox) > self.outbox_limit:
            lost = self._outbox.popleft()
            log.warning("images: the store is not taking image paths; link of part %s lost", lost.seq)

    def _flush_outbox(self) -> None:
        while self._outbox and self.paths.offer(self._outbox[0]):
            self._outbox.popleft()


def _day(part: Part) -> str:
    """The UTC day of capture, YYYY-MM-DD, which names the folder."""
    return (iso_utc(part.captured_at) or "")[:10]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
