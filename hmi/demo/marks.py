"""Drawing primitives shared by the demo defects: jagged paths, soft blobs, anti-aliased strokes."""

from __future__ import annotations

import cv2
import numpy as np

_SHIFT = 4  # cv2 sub-pixel bits: coordinates are drawn at 1/16 pixel precision
_SCALE = 1 << _SHIFT


def jagged_path(
    rng: np.random.Generator,
    start: tuple[float, float],
    heading_rad: float,
    length_px: float,
    step_px: float = 2.0,
    zigzag: float = 0.6,
    bend: float = 0.3,
) -> np.ndarray:
    """A polyline (N x 2, x/y) that zigzags step by step but keeps its course, like a crack.

    `zigzag` is the spread of each step's direction, `bend` how far the course drifts overall.
    """
    steps = max(2, int(length_px / step_px))
    course = heading_rad + bend * (smooth_profile(rng, steps, steps / 4.0) - 0.5) * 2.0
    headings = course + rng.normal(0.0, zigzag, steps)
    points = np.empty((steps + 1, 2), np.float64)
    points[0] = start
    points[1:, 0] = start[0] + np.cumsum(step_px * np.cos(headings))
    points[1:, 1] = start[1] + np.cumsum(step_px * np.sin(headings))
    return points


def bent_line(
    rng: np.random.Generator,
    start: tuple[float, float],
    heading_rad: float,
    length_px: float,
    bend: float = 0.15,
    segments: int = 12,
) -> np.ndarray:
    """A nearly straight polyline with a gentle bend (N x 2, x/y), like a tool or handling scratch."""
    t = np.linspace(0.0, 1.0, segments + 1)
    curvature = rng.uniform(-bend, bend)
    heading = heading_rad + curvature * (t - 0.5) * 2.0
    dx = np.cos(heading) * length_px / segments
    dy = np.sin(heading) * length_px / segments
    points = np.zeros((segments + 1, 2), np.float64)
    points[1:, 0] = np.cumsum(dx[:-1])
    points[1:, 1] = np.cumsum(dy[:-1])
    return points + np.asarray(start, np.float64)


def stroke(
    canvas: np.ndarray,
    points: np.ndarray,
    thickness: int = 1,
    weights: np.ndarray | None = None,
) -> None:
    """Draw a polyline into a float32 canvas, anti-aliased, keeping the brightest value per pixel.

    `weights` (one per segment, 0..1) lets the mark fade in and out along its length.
    """
    pts = np.rint(points * _SCALE).astype(np.int32)
    if weights is None:
        cv2.polylines(canvas, [pts.reshape(-1, 1, 2)], False, 1.0, thickness, cv2.LINE_AA, _SHIFT)
        return
    layer = np.zeros_like(canvas)
    for i in range(len(pts) - 1):
        cv2.line(layer, tuple(pts[i]), tuple(pts[i + 1]), float(weights[i]), thickness, cv2.LINE_AA, _SHIFT)
    np.maximum(canvas, layer, out=canvas)


def smooth_profile(rng: np.random.Generator, n: int, corr: float) -> np.ndarray:
    """`n` values in 0..1 that wander smoothly (correlation length `corr` samples)."""
    raw = rng.normal(0.0, 1.0, n + int(4 * corr) + 2)
    kernel = np.exp(-0.5 * (np.arange(-2 * corr, 2 * corr + 1) / max(corr, 1e-3)) ** 2)
    smooth = np.convolve(raw, kernel / kernel.sum(), mode="valid")[:n]
    lo, hi = smooth.min(), smooth.max()
    return (smooth - lo) / (hi - lo + 1e-9)


def soft_blob(
    rng: np.random.Generator,
    shape: tuple[int, int],
    centre: tuple[float, float],
    radius_px: float,
    lobes: int,
    edge_px: float = 1.5,
) -> np.ndarray:
    """Coverage (float32 0..1) of an irregular stain made of overlapping Gaussian lobes."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    field = np.zeros(shape, np.float32)
    for _ in range(lobes):
        ox, oy = rng.normal(0.0, 0.55 * radius_px, 2)
        sigma = radius_px * rng.uniform(0.45, 0.9)
        weight = rng.uniform(0.6, 1.0)
        field += weight * np.exp(-((xs - centre[0] - ox) ** 2 + (ys - centre[1] - oy) ** 2) / (2 * sigma**2))
    level = 0.45 * float(field.max())
    # The field's slope where it crosses the threshold turns "edge_px" into field units.
    gy, gx = np.gradient(field)
    band = np.abs(field - level) < 0.1 * level
    slope = float(np.median(np.hypot(gx, gy)[band])) if band.any() else level / radius_px
    return np.clip((field - level) / np.float32(max(slope, 1e-6) * edge_px) + 0.5, 0.0, 1.0).astype(np.float32)
