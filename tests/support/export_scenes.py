"""Generated part images for the exporter fixtures (tests/fixtures/exports): NumPy only, the same on every machine.

A part is a textured grey surface; a defect is a bright thin 'scratch' (a rotated bar) or a dark round 'spot'
(an ellipse). tools/make_export_fixtures.py trains and runs the real exporters on these images; the tests
regenerate the same images from the same seeds and compare the station's answers with the stored ones.
"""

from __future__ import annotations

import numpy as np

CLASSES = ("scratch", "spot")
# The 30 images every export kind is compared on: non-square and large frames among them.
EVAL_SIZES = [(480, 320)] * 10 + [(1280, 960)] * 10 + [(640, 640)] * 5 + [(320, 480)] * 5
EVAL_SEED = 1900


def surface(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A good part: grey with slow shading and fine grain (uint8 RGB)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(105, 150)
    fx, fy, phase = rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0), rng.uniform(0, 6.28)
    shade = 12 * np.sin(2 * np.pi * (fx * x / width + fy * y / height) + phase)
    grain = rng.normal(0.0, 4.0, (height, width)).astype(np.float32)
    grey = base + shade + grain
    tint = np.array([1.0, 0.98, 0.95], np.float32)
    return np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)


def _bar(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    side = min(width, height)
    cx, cy = rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height
    length, thick = rng.uniform(0.25, 0.45) * side, rng.uniform(0.03, 0.06) * side
    t = rng.uniform(0, np.pi)
    u = (x - cx) * np.cos(t) + (y - cy) * np.sin(t)
    v = -(x - cx) * np.sin(t) + (y - cy) * np.cos(t)
    return (np.abs(u) <= length / 2) & (np.abs(v) <= thick / 2)


def _ellipse(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    side = min(width, height)
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    a, b = rng.uniform(0.06, 0.14) * side, rng.uniform(0.06, 0.14) * side
    return ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1.0


def scene(rng: np.random.Generator, width: int, height: int, defects: int) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """(RGB image, [(class index, boolean mask)]) with `defects` scratches or spots that do not overlap."""
    img = surface(rng, width, height)
    taken = np.zeros((height, width), bool)
    found: list[tuple[int, np.ndarray]] = []
    for _ in range(defects * 4):
        if len(found) == defects:
            break
        k = int(rng.integers(0, len(CLASSES)))
        mask = _bar(rng, width, height) if k == 0 else _ellipse(rng, width, height)
        if (mask & taken).any() or not mask.any():
            continue
        taken |= mask
        colour = np.array([235, 232, 225] if k == 0 else [45, 40, 38], np.float32)
        img[mask] = np.clip(colour + rng.normal(0, 3, (int(mask.sum()), 3)), 0, 255).astype(np.uint8)
        found.append((k, mask))
    return img, found


def eval_images() -> list[np.ndarray]:
    """The 30 comparison images (RGB), in order; every third is a good part, the others have 1-3 defects."""
    rng = np.random.default_rng(EVAL_SEED)
    images = []
    for i, (w, h) in enumerate(EVAL_SIZES):
        img, _ = scene(rng, w, h, 0 if i % 3 == 2 else 1 + i % 3)
        images.append(img)
    return images
