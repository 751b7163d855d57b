"""A harder evaluation set: patches of real texture photographs with synthetic surface defects.

The photographs are the ones bundled inside the scikit-image wheel (nothing is downloaded);
scikit-image is a test/development dependency, not one the station needs to run.
"""

from __future__ import annotations

import importlib.util
import math
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from hmi.core.errors import ImageError
from hmi.demo import marks
from hmi.demo.dataset import GroundTruthRow, part_seeds, write_ground_truth, write_png
from hmi.demo.product import DemoImage

# Homogeneous texture photographs shipped in skimage/data (brick wall, lawn, gravel).
TEXTURES: tuple[str, ...] = ("brick", "grass", "gravel")
TEXTURE_DEFECT_TYPES: tuple[str, ...] = ("scratch", "stain", "missing_patch", "crack")


def texture_photo_path(texture: str) -> Path:
    """Where the bundled photograph of `texture` lies inside the installed scikit-image package."""
    if texture not in TEXTURES:
        raise ValueError(f"unknown texture {texture!r}; expected one of {', '.join(TEXTURES)}")
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise ImageError(
            "scikit-image is not installed, so the texture photographs are not available",
            "install the test extra: pip install 'hmi-inspection-station[test]'",
        )
    return Path(spec.origin).parent / "data" / f"{texture}.png"


@lru_cache(maxsize=len(TEXTURES))
def load_texture(texture: str) -> np.ndarray:
    """The full texture photograph as Mono8 (read-only, cached)."""
    path = texture_photo_path(texture)
    photo = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if photo is None:
        raise ImageError(
            f"the texture photograph {path} is missing or unreadable",
            "reinstall scikit-image (pip install --force-reinstall scikit-image)",
        )
    photo.flags.writeable = False
    return photo


def texture_sample(texture: str, seed: int, defect: str | None = None, size: int = 256) -> DemoImage:
    """A seeded patch of the texture, good or with one synthetic defect, and its defect mask."""
    if defect is not None and defect not in TEXTURE_DEFECT_TYPES:
        raise ValueError(f"unknown defect type {defect!r}; expected one of {', '.join(TEXTURE_DEFECT_TYPES)}")
    rng = np.random.default_rng([seed, 0])
    patch = _crop(load_texture(texture), rng, size)
    mask = np.zeros((size, size), np.uint8)
    if defect is not None:
        drng = np.random.default_rng([seed, 1 + TEXTURE_DEFECT_TYPES.index(defect)])
        _DEFECTS[defect](patch, drng, float(drng.beta(2.0, 1.2)), mask)
    image = np.ascontiguousarray(np.clip(patch + 0.5, 0.0, 255.0).astype(np.uint8))
    return DemoImage(image=image, mask=mask, defect=defect, seed=seed)


def write_texture_dataset(
    out_dir: Path,
    texture: str,
    good_train: int,
    good_test: int,
    defective_test: int,
    seed: int = 0,
    size: int = 256,
) -> Path:
    """Write train/good/, test/good/, test/defect/, test/masks/ and ground_truth.csv for one texture.

    ground_truth.csv lists the test images (file relative to `out_dir`, good|defect, defect type);
    every test image has a mask of the same name in test/masks/. Returns `out_dir`.
    """
    if min(good_train, good_test, defective_test) < 0:
        raise ValueError("image counts must not be negative")
    load_texture(texture)  # fail early, before any folder is made, when the photograph is missing
    out_dir = Path(out_dir)
    for sub in ("train/good", "test/good", "test/defect", "test/masks"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    seeds = part_seeds(seed ^ 0x7E47, good_train + good_test + defective_test)
    for i, s in enumerate(seeds[:good_train]):
        write_png(out_dir / "train" / "good" / f"{i:05d}.png", texture_sample(texture, s, None, size).image)
    rows: list[GroundTruthRow] = []
    for i, s in enumerate(seeds[good_train:]):
        defect = None if i < good_test else TEXTURE_DEFECT_TYPES[(i - good_test) % len(TEXTURE_DEFECT_TYPES)]
        sample = texture_sample(texture, s, defect, size)
        name = f"{i:05d}.png"
        folder = "good" if defect is None else "defect"
        write_png(out_dir / "test" / folder / name, sample.image)
        write_png(out_dir / "test" / "masks" / name, sample.mask, mask=True)
        rows.append(GroundTruthRow(f"test/{folder}/{name}", "good" if defect is None else "defect", defect or ""))
    write_ground_truth(out_dir / "ground_truth.csv", rows)
    return out_dir


def _crop(photo: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """A random window of the photograph with a little brightness jitter, as float32 (upscaled if small)."""
    h, w = photo.shape
    side = min(h, w, size)
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    patch = photo[y : y + side, x : x + side].astype(np.float32)
    if side != size:
        patch = cv2.resize(patch, (size, size), interpolation=cv2.INTER_LINEAR)
    return patch * np.float32(rng.uniform(0.96, 1.04))


def _apply_mask(mask: np.ndarray, region: np.ndarray) -> None:
    mask[region] = 255


def _scratch(img: np.ndarray, rng: np.random.Generator, level: float, mask: np.ndarray) -> None:
    """A bright or dark, slightly bent line across the surface."""
    size = img.shape[0]
    length = size * rng.uniform(0.25, 0.6)
    heading = rng.uniform(0, 2 * math.pi)
    cx, cy = rng.uniform(0.25, 0.75, 2) * size
    start = (cx - 0.5 * length * math.cos(heading), cy - 0.5 * length * math.sin(heading))
    pts = marks.bent_line(rng, start, heading, length, bend=0.2)
    canvas = np.zeros_like(img)
    weights = 0.4 + 0.6 * marks.smooth_profile(rng, len(pts) - 1, 3.0)
    marks.stroke(canvas, pts, 2 if level > 0.25 else 1, weights)
    sign = 1.0 if rng.random() < 0.6 else -1.0
    img += sign * (60.0 + 60.0 * level) * canvas
    _apply_mask(mask, cv2.dilate((canvas > 0.1).astype(np.uint8), None) > 0)


def _stain(img: np.ndarray, rng: np.random.Generator, level: float, mask: np.ndarray) -> None:
    """An oil or paint stain: darkens the surface and flattens its texture."""
    size = img.shape[0]
    radius = size * rng.uniform(0.05, 0.11)
    centre = tuple(rng.uniform(0.2, 0.8, 2) * size)
    cov = marks.soft_blob(rng, img.shape, centre, radius, int(rng.integers(2, 6)), edge_px=2.0)
    local_mean = cv2.blur(img, (15, 15))
    flattened = img + (local_mean - img) * np.float32(0.6)
    stained = flattened * np.float32(1.0 - (0.35 + 0.3 * level))
    img += (stained - img) * cov
    _apply_mask(mask, cov > 0.3)


def _missing_patch(img: np.ndarray, rng: np.random.Generator, level: float, mask: np.ndarray) -> None:
    """A piece broken out of the surface: a dark, irregular hole with a lit rim."""
    size = img.shape[0]
    radius = size * rng.uniform(0.05, 0.1) * (0.7 + 0.3 * level)
    cx, cy = rng.uniform(0.2, 0.8, 2) * size
    corners = int(rng.integers(5, 9))
    angles = (np.arange(corners) + rng.uniform(-0.3, 0.3, corners)) * (2 * math.pi / corners)
    radii = radius * rng.uniform(0.65, 1.25, corners)
    poly = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
    hole = np.zeros_like(img)
    cv2.fillPoly(hole, [np.rint(poly * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    rim = np.clip(cv2.dilate(hole, np.ones((3, 3), np.uint8)) - hole, 0.0, 1.0)
    floor = np.float32(rng.uniform(15.0, 45.0)) + cv2.GaussianBlur(
        rng.normal(0.0, 6.0, img.shape).astype(np.float32), (0, 0), 1.5
    )
    img += (floor - img) * hole
    img += np.float32(35.0) * rim
    _apply_mask(mask, hole > 0.5)


def _crack(img: np.ndarray, rng: np.random.Generator, level: float, mask: np.ndarray) -> None:
    """A jagged dark crack with a short branch."""
    size = img.shape[0]
    length = size * rng.uniform(0.25, 0.5)
    heading = rng.uniform(0, 2 * math.pi)
    cx, cy = rng.uniform(0.25, 0.75, 2) * size
    start = (cx - 0.5 * length * math.cos(heading), cy - 0.5 * length * math.sin(heading))
    path = marks.jagged_path(rng, start, heading, length, step_px=2.5, zigzag=0.6, bend=0.35)
    canvas = np.zeros_like(img)
    marks.stroke(canvas, path, 2 if level > 0.3 else 1, np.linspace(1.0, 0.5, len(path) - 1))
    j = int(rng.integers(len(path) // 3, max(len(path) // 3 + 1, len(path) - 2)))
    turn = rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 0.9)
    branch = marks.jagged_path(rng, tuple(path[j]), heading + turn, length * 0.3, 2.5, 0.6, 0.3)
    marks.stroke(canvas, branch, 1, np.linspace(0.8, 0.3, len(branch) - 1))
    img -= (80.0 + 50.0 * level) * (canvas + 0.3 * cv2.GaussianBlur(canvas, (0, 0), 1.2))
    _apply_mask(mask, cv2.dilate((canvas > 0.1).astype(np.uint8), None) > 0)


_DEFECTS = {
    "scratch": _scratch,
    "stain": _stain,
    "missing_patch": _missing_patch,
    "crack": _crack,
}
