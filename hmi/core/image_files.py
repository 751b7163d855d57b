"""Image files read safely: only regular files, and never one whose header claims more pixels than a frame can have.

Every reader of image files (the replay camera, `hmi inspect`, teaching, the what-if tools) goes through
here, so a file that is a pipe, a 74-byte PNG that claims 100000 x 100000 pixels or a damaged file gives
one plain ImageError instead of a hang, gigabytes of memory or a crash.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import cv2
import numpy as np

from hmi.core.errors import ImageError

MAX_IMAGE_PIXELS = 150_000_000  # 30 x a 5-megapixel camera frame; more is a broken or hostile file
MAX_FILE_BYTES = 1 << 30

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def read_image_bytes(path: Path) -> bytes:
    """The bytes of a regular image file; ImageError in plain words for a missing, special, empty or huge file."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageError(f"image {path} does not exist", "check the path") from None
    except OSError as exc:
        raise ImageError(f"image {path} cannot be read ({exc.strerror or exc})",
                         "check the station may read the file; it was skipped") from None
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block the reader for ever, a device never ends
        raise ImageError(f"{path} is not an image file (it is a pipe, device or folder)",
                         "give regular image files; it was skipped")
    if info.st_size == 0:
        raise ImageError(f"image {path} is empty", "replace the file; it was skipped")
    if info.st_size > MAX_FILE_BYTES:
        raise ImageError(f"image {path} is {info.st_size / 2**30:.1f} GB, larger than any camera frame",
                         "give camera frames; it was skipped")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"image {path} cannot be read ({exc.strerror or exc})",
                         "check the station may read the file; it was skipped") from None


def header_size(data: bytes) -> tuple[int, int] | None:
    """Width and height a PNG, JPEG, BMP or TIFF header claims (None for other formats or a short header)."""
    try:
        if data.startswith(_PNG) and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data.startswith(b"BM"):
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if data.startswith(b"\xff\xd8"):
            return _jpeg_size(data)
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff_size(data)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in _JPEG_SOF:
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", data[4:8])[0]
    count = struct.unpack(order + "H", data[ifd:ifd + 2])[0]
    size: dict[int, int] = {}
    for k in range(count):
        entry = data[ifd + 2 + 12 * k:ifd + 14 + 12 * k]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):
            size[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), entry[8:10] if kind == 3 else entry[8:12])[0]
    return (size[256], size[257]) if len(size) == 2 else None


def oversized(data: bytes) -> tuple[int, int] | None:
    """The width and height the header claims when they exceed MAX_IMAGE_PIXELS (decoding would be refused)."""
    claimed = header_size(data)
    return claimed if claimed is not None and claimed[0] * claimed[1] > MAX_IMAGE_PIXELS else None


def decode_image(data: bytes, name: str | Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """Decode an image file's bytes with OpenCV, refusing in plain words one too large or not an image."""
    if (claimed := oversized(data)) is not None:
        raise ImageError(f"image {name} claims {claimed[0]} x {claimed[1]} pixels, more than any camera frame "
                         f"({MAX_IMAGE_PIXELS // 1_000_000} megapixels at most)", "check the file; it was skipped")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our message replaces its warnings
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        image = None
    if image is None:
        raise ImageError(f"image {name} cannot be read (corrupt or not an image)", "replace the file; it was skipped")
    return image


def read_frame(path: Path) -> np.ndarray:
    """An image file as the camera would deliver it: 8-bit grey or RGB (deeper images scaled to 8 bits)."""
    image = decode_image(read_image_bytes(path), path)
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(image)


__all__ = ["MAX_IMAGE_PIXELS", "decode_image", "header_size", "oversized", "read_frame", "read_image_bytes"]
