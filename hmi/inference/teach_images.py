"""Reading the good-part images a model is taught from: decoded and converted as the station does, at their own size."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from hmi.core.errors import ImageError
from hmi.core.image_files import oversized, read_image_bytes


def decode(data: bytes) -> np.ndarray | str:
    """An image file's bytes as uint8 grey or RGB, or the reason it cannot be used."""
    if not data:
        return "empty file"
    if (claimed := oversized(data)) is not None:
        return f"claims {claimed[0]} x {claimed[1]} pixels, more than any camera frame"
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        img = None
    if img is None:
        return "not a readable image (corrupt or unknown format)"
    if img.dtype != np.uint8:
        return f"pixel type {img.dtype}; the station inspects 8-bit images"
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    elif img.ndim != 2:
        return f"unexpected image shape {img.shape}"
    return img


@dataclass
class PartImages:
    """Good-part images at their own size (uint8 RGB, aspect kept), the files they came from, what was skipped."""

    images: list[np.ndarray]
    paths: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    data_sha256: str = ""


def read_part_images(paths: Sequence[Path], tick: Callable[[int, int], None] | None = None) -> PartImages:
    """Read every file at its own size as RGB; unusable ones are listed with the reason.

    The SHA-256 covers the bytes of the files used, in the (sorted) order they were read, each preceded by its
    length, so the same folder of images always gives the same hash.
    """
    digest = hashlib.sha256()
    used: list[Path] = []
    images: list[np.ndarray] = []
    skipped: list[tuple[Path, str]] = []
    ordered = sorted((Path(p) for p in paths), key=lambda p: str(p))
    for i, path in enumerate(ordered):
        if tick is not None:
            tick(i, len(ordered))
        try:
            data = read_image_bytes(path)
        except ImageError as exc:  # the path is named beside the reason: keep only what is wrong with the file
            skipped.append((path, exc.what.replace(f"image {path} ", "").replace(f"{path} ", "")))
            continue
        img = decode(data)
        if isinstance(img, str):
            skipped.append((path, img))
            continue
        if min(img.shape[:2]) < 16:
            skipped.append((path, f"only {img.shape[1]}x{img.shape[0]} pixels"))
            continue
        images.append(cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else img)
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
        used.append(path)
    return PartImages(images, used, skipped, digest.hexdigest())
