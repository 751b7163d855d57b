"""The demo's borderline defect: a faint rub mark on the hub face, too weak to call at a glance.

A rub (rubber or grime left by a gripper jaw) is a short band along the turning marks, a few
percent darker than the metal, with clear ends. Sized against the shipped demo model, whose HOLD
band it lands in more often than not (tools/measure_borderline.py measures the shares).
"""

from __future__ import annotations

import math

import numpy as np

from hmi.demo.product import DemoImage, Window, render_marked

BORDERLINE_TYPE = "faint_rub"

_STREAM = 10  # the mark's random stream of the part seed (the defect types use 1..5)

# Tuned against models/demo-part with tools/measure_borderline.py; lengths in flange radii.
RUB_RADIUS = (0.37, 0.43)  # where on the hub face: clear of the bore chamfer, keyway and groove
RUB_LENGTH = 0.3
RUB_WIDTH = 0.03  # Gaussian sigma across the band
RUB_DARK = 0.09  # share of the light taken away along the middle of the band
RUB_GLARE = math.radians(60.0)  # kept this far off the lamp axis, whose highlight would swallow it


def render_borderline(seed: int, size: int = 384) -> DemoImage:
    """The demo part for `seed` with a faint rub mark on its hub (defect "faint_rub", mask where it shows)."""
    return render_marked(seed, BORDERLINE_TYPE, _faint_rub, _STREAM, size)


def _faint_rub(scene, rng: np.random.Generator, level: float) -> Window:
    """Darken a short arc of the hub face by a few percent; `level` is not used (the rub is always faint)."""
    pose = scene.pose
    lx, ly = scene.look.light
    # Either side of the part, at least RUB_GLARE away from the lamp axis.
    side = math.pi * int(rng.integers(2))
    angle = math.atan2(ly, lx) + side + RUB_GLARE + rng.uniform(0.0, math.pi - 2 * RUB_GLARE)
    radius = pose.radius * rng.uniform(*RUB_RADIUS)
    x, y = pose.cx + radius * math.cos(angle), pose.cy + radius * math.sin(angle)
    half, width = 0.5 * RUB_LENGTH * pose.radius, RUB_WIDTH * pose.radius
    reach = half + 4.0 * width
    rows = slice(max(0, int(y - reach)), min(scene.size, int(y + reach) + 1))
    cols = slice(max(0, int(x - reach)), min(scene.size, int(x + reach) + 1))
    ys, xs = np.mgrid[rows, cols].astype(np.float32)
    dx, dy = xs - np.float32(pose.cx), ys - np.float32(pose.cy)
    across = np.hypot(dx, dy) - np.float32(radius)
    along = np.angle(np.exp(1j * (np.arctan2(dy, dx) - angle))) * radius  # arc length from the middle
    band = np.exp(-0.5 * (across / width) ** 2) * np.clip((half - np.abs(along)) / width + 0.5, 0.0, 1.0)
    scene.shade[rows, cols] *= (1.0 - RUB_DARK * band).astype(np.float32)
    return rows, cols
