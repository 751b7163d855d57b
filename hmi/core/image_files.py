"""Image files read safely: only regular files, never one whose header claims too many pixels, one bit-depth rule.

Every reader of image files (the replay and emulated cameras, `hmi inspect`, teaching, the what-if tools)
goes through here, so a file that is a pipe, a 74-byte PNG that claims 100000 x 100000 pixels or a damaged
file gives one plain ImageError instead of a hang, gigabytes of memory or a crash, and a 16-bit file gives
the same 8-bit frame to every one of them.

Pixel limit: `[camera] max_image_megapixels` in station.toml (default 150 MP), checked from the header
before anything is decoded; every reader takes it as `max_pixels`.

Bit depth: the station judges 8-bit frames. A 16-bit file (PNG, TIFF) keeps its upper 8 bits (value >> 8),
the same rule for every reader and every image, never a contrast stretch of each image by its own
brightest pixel (that would make the same defect score differently in two images). A camera's 10-, 12- or
16-bit pixel format is shifted by its own bit depth (hmi.camera.pylon). Float and 32-bit images are
refused with one message.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from hmi.core.errors import ImageError

DEFAULT_MAX_MEGAPIXELS = 150.0   # 30 x a 5-megapixel camera frame; more is a broken or hostile file
MAX_IMAGE_PIXELS = int(DEFAULT_MAX_MEGAPIXELS * 1_000_000)
MAX_FILE_BYTES = 1 << 30
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_DEPTH_TODO = "save it as an 8-bit or 16-bit PNG or TIFF; it was skipped"


def max_pixels(megapixels: float) -> int:
    """The pixel limit `[camera] max_image_megapixels` sets, in pixels."""
    return int(megapixels * 1_000_000)


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
        raise ImageError(f"{path} is not an image file (it is {special_kind(info.st_mode)})",
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


def special_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words ('a named pipe', 'a folder', ...)."""
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


@dataclass
class ImageListing:
    """The image files found in a folder, and the entries named like images that were skipped, with why."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def list_images(folder: Path, *, recursive: bool = False) -> ImageListing:
    """The regular files in `folder` named like images (in path order), never opening one.

    Entries with an image suffix that are pipes, sockets, devices, folders or links to nothing are skipped
    with the reason, so no reader ever blocks on them; other files are ignored.
    """
    folder = Path(folder)
    listing = ImageListing()
    entries = folder.rglob("*") if recursive else folder.iterdir()
    for path in sorted(entries):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            mode = os.stat(path).st_mode  # stat, not open: a pipe is not touched
        except OSError:
            listing.skipped.append((path, "a link to nothing" if path.is_symlink() else "cannot be read"))
            continue
        if stat.S_ISREG(mode):
            listing.files.append(path)
        else:
            listing.skipped.append((path, f"{special_kind(mode)}, not an image file"))
    return listing


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


def oversized(data: bytes, limit: int = MAX_IMAGE_PIXELS) -> tuple[int, int] | None:
    """The width and height the header claims when they exceed `limit` pixels (decoding would be refused)."""
    claimed = header_size(data)
    return claimed if claimed is not None and claimed[0] * claimed[1] > limit else None


def too_many_pixels(claimed: tuple[int, int], limit: int) -> str:
    """Why an image of `claimed` (width, height) is refused, in words."""
    return (f"claims {claimed[0]} x {claimed[1]} pixels, more than the {limit / 1_000_000:g} megapixels a frame "
            "may have (camera.max_image_megapixels)")


def decode_image(data: bytes, name: str | Path, flags: int = cv2.IMREAD_UNCHANGED,
                 limit: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image file's bytes with OpenCV, refusing in plain words one too large or not an image."""
    if (claimed := oversized(data, limit)) is not None:
        raise ImageError(f"image {name} {too_many_pixels(claimed, limit)}",
                         "check the file, or raise camera.max_image_megapixels in station.toml; it was skipped")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our message replaces its warnings
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        image = None
    except MemoryError:
        raise ImageError(f"image {name} is too large to decode with the memory free",
                         "give smaller images, or lower camera.max_image_megapixels; it was skipped") from None
    if image is None:
        raise ImageError(f"image {name} cannot be read (corrupt or not an image)", "replace the file; it was skipped")
    if image.size == 0:
        raise ImageError(f"image {name} holds no pixels", "replace the file; it was skipped")
    if image.shape[0] * image.shape[1] > limit:  # a format whose header is not read here: the decoded size counts
        raise ImageError(f"image {name} {too_many_pixels((image.shape[1], image.shape[0]), limit)}",
                         "check the file, or raise camera.max_image_megapixels in station.toml; it was skipped")
    return image


def to_8bit(image: np.ndarray, name: str | Path = "", bits: int = 0) -> np.ndarray:
    """`image` as uint8: 8-bit kept, 16-bit (or `bits` significant bits) shifted right to its upper 8 bits.

    `bits` is the depth the source declares (a camera's Mono12 holds 12 bits in 16); 0 = the type's own
    (16 for a 16-bit file). Values above the declared depth saturate at 255. Any other pixel type is refused.
    """
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        depth = bits or 16
        if not 8 < depth <= 16:
            raise ImageError(f"image {name} declares {depth} bits per pixel in 16-bit samples", _DEPTH_TODO)
        shifted = image >> (depth - 8)
        return (np.minimum(shifted, 255) if depth < 16 else shifted).astype(np.uint8)
    kind = "floating-point" if image.dtype.kind == "f" else f"{image.dtype.itemsize * 8}-bit"
    raise ImageError(f"image {name} has {kind} pixels ({image.dtype}); the station judges 8-bit images and "
                     "converts 16-bit ones", _DEPTH_TODO)


def decode_8bit(data: bytes, name: str | Path, *, grey: bool = False, limit: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """An image file's bytes as the station's 8-bit frame: grey HxW when `grey`, else grey or RGB as stored.

    16-bit files keep their upper 8 bits (see the module docstring); an alpha channel is dropped.
    """
    flags = (cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH) if grey else cv2.IMREAD_UNCHANGED
    image = to_8bit(decode_image(data, name, flags, limit), name)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    elif image.ndim != 2:
        raise ImageError(f"image {name} has an unexpected shape {image.shape}", "give grey or RGB images; it was skipped")
    return np.ascontiguousarray(image)


def read_frame(path: Path, limit: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """An image file as the camera would deliver it: 8-bit grey or RGB (16-bit files by their upper 8 bits)."""
    return decode_8bit(read_image_bytes(path), path, limit=limit)


def read_mono8(path: Path, limit: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """An image file as a Mono8 camera would deliver it (colour made grey; 16-bit by their upper 8 bits)."""
    return decode_8bit(read_image_bytes(path), Path(path).name, grey=True, limit=limit)


__all__ = ["DEFAULT_MAX_MEGAPIXELS", "IMAGE_SUFFIXES", "ImageListing", "MAX_IMAGE_PIXELS", "decode_8bit",
           "decode_image", "header_size", "list_images", "max_pixels", "oversized", "read_frame", "read_image_bytes",
           "read_mono8", "special_kind", "to_8bit", "too_many_pixels"]
