"""Reading the good-part images a model is taught from: decoded and converted as the station does, at their own size."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from hmi.core.errors import ImageError
from hmi.core.image_files import MAX_IMAGE_PIXELS, decode_8bit, read_image_bytes


def decode(data: bytes, limit: int = MAX_IMAGE_PIXELS) -> np.ndarray | str:
    """An image file's bytes as uint8 grey or RGB, as every reader of images makes it, or why it cannot be used."""
    try:
        return decode_8bit(data, "", limit=limit)
    except ImageError as exc:  # the file is named beside the reason: keep only what is wrong with it
        return exc.what.replace("image  ", "", 1)


@dataclass
class PartImages:
    """Good-part images at their own size (uint8 RGB, aspect kept), the files they came from, what was skipped."""

    images: list[np.ndarray]
    paths: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    data_sha256: str = ""


def read_part_images(paths: Sequence[Path], tick: Callable[[int, int], None] | None = None, *,
                     limit: int = MAX_IMAGE_PIXELS) -> PartImages:
    """Read every file at its own size as RGB (16-bit by its upper 8 bits); unusable ones are listed with the reason.

    `limit` is the pixel limit (`[camera] max_image_megapixels`); pipes and other special files are skipped
    with the reason, never opened.

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
        img = decode(data, limit)
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
