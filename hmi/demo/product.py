"""The station's built-in demo product: a turned steel flange as a Mono8 line camera sees it.

Every frame is a pure function of its seed: position, rotation, lighting, surface finish and
sensor noise are drawn from one random stream, the defect from a second one, so a defective
part differs from the good part of the same seed only where its mask says.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from hmi.demo import marks

DEFECT_TYPES: tuple[str, ...] = ("scratch", "dent", "crack", "contamination", "missing_material")

# Flange drawing, in fractions of the outer radius.
_RADIUS = 0.37  # outer radius as a fraction of the frame size
_OUTER_CHAMFER = 0.035
_GROOVE = 0.55  # relief groove between the raised hub and the flange face
_GROOVE_W = 0.022
_BORE = 0.21
_BORE_CHAMFER = 0.045
_KEY_HALF_WIDTH = 0.045
_KEY_DEPTH = 0.285
_PITCH = 0.765  # bolt-hole pitch circle
_HOLE = 0.075
_HOLE_CHAMFER = 0.03
_HOLES = 6
_HOLE_STEP = 2.0 * math.pi / _HOLES
_HOLE_PHASE = _HOLE_STEP / 2.0  # holes sit between the keyway and its neighbours

_LUT_STEPS = 4  # radial look-up resolution: samples per pixel
_MASK_MIN_CHANGE = 4.0  # grey levels: a defect pixel differs from the good part by more (noise sigma ~1)


@dataclass(frozen=True, eq=False)
class DemoImage:
    """One rendered demo part: the Mono8 frame, its defect mask (255 = defect) and how it was made."""

    image: np.ndarray
    mask: np.ndarray
    defect: str | None
    seed: int


@dataclass(frozen=True)
class PartPose:
    """Where the flange lies in the frame: centre and outer radius in pixels, rotation in radians."""

    cx: float
    cy: float
    radius: float
    rotation: float


@dataclass(frozen=True)
class _Look:
    """Lighting and finish drawn for one part (the random choices that are not geometry)."""

    light: tuple[float, float]  # unit vector pointing towards the lamp, image coordinates
    gain: float
    gradient: tuple[float, float]
    face_level: float
    belt_level: float
    belt_shift: int


def part_pose(seed: int, size: int = 384) -> PartPose:
    """Pose of the part rendered for `seed` (the same for its good and defective renderings)."""
    pose, _look, _rng = _draw(seed, size)
    return pose


def render_part(seed: int, defect: str | None = None, size: int = 384, *, severity: float | None = None) -> DemoImage:
    """Render the demo part for `seed`, good or with one defect of the given type.

    `severity` (0 = barely visible .. 1 = obvious) overrides the severity drawn from the seed.
    """
    if defect is not None and defect not in DEFECT_TYPES:
        raise ValueError(f"unknown defect type {defect!r}; expected one of {', '.join(DEFECT_TYPES)}")
    if defect is None:
        return render_marked(seed, None, None, 0, size)
    return render_marked(seed, defect, _DEFECTS[defect], 1 + DEFECT_TYPES.index(defect), size, severity=severity)


def render_marked(seed: int, name: str | None, draw: Drawer | None, stream: int, size: int = 384, *,
                  severity: float | None = None) -> DemoImage:
    """Render the part for `seed` with the mark `draw` makes (none when None), recorded as `name`.

    The mark's random choices come from stream `stream` of the seed, so every kind of mark keeps
    its own stream and the part under it stays the good part of that seed.
    """
    if size < 64:
        raise ValueError(f"demo frames must be at least 64 pixels wide, got {size}")
    if seed < 0:
        raise ValueError(f"seeds are non-negative integers, got {seed}")
    pose, look, rng = _draw(seed, size)
    scene = _Scene(pose, look, size, rng)
    mask = np.zeros((size, size), np.uint8)
    if draw is not None:
        drng = np.random.default_rng([seed, stream])
        level = float(np.clip(severity, 0.0, 1.0)) if severity is not None else float(drng.beta(2.0, 1.2))
        good_shade, good_solid = scene.shade.copy(), scene.solid
        rows, cols = draw(scene, drng, level)
        before = scene.exposure(rows, cols, good_shade[rows, cols], good_solid[rows, cols], np.float32(0.0))
        after = scene.exposure(rows, cols)
        # The mask is where the defect visibly changed the frame, not where it was aimed.
        changed = (np.abs(after - before) > _MASK_MIN_CHANGE).astype(np.uint8)
        mask[rows, cols] = 255 * cv2.morphologyEx(changed, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    image = scene.expose(rng)
    return DemoImage(image=image, mask=mask, defect=name, seed=seed)


def _draw(seed: int, size: int) -> tuple[PartPose, _Look, np.random.Generator]:
    rng = np.random.default_rng([seed, 0])
    jitter = rng.uniform(-0.03, 0.03, 2) * size
    radius = _RADIUS * size * rng.uniform(0.992, 1.008)  # small height variation on the belt
    pose = PartPose(
        cx=size / 2.0 + float(jitter[0]),
        cy=size / 2.0 + float(jitter[1]),
        radius=float(radius),
        rotation=float(np.deg2rad(rng.uniform(-8.0, 8.0))),
    )
    light_angle = np.deg2rad(225.0 + rng.uniform(-6.0, 6.0))  # lamp above-left of the camera
    look = _Look(
        light=(float(np.cos(light_angle)), float(np.sin(light_angle))),
        gain=float(rng.uniform(0.94, 1.06)),
        gradient=(float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.05, 0.05))),
        face_level=float(rng.uniform(146.0, 154.0)),
        belt_level=float(rng.uniform(66.0, 72.0)),
        belt_shift=int(rng.integers(0, size)),
    )
    return pose, look, rng


@lru_cache(maxsize=4)
def _grids(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel x and y coordinates and the lens fall-off for one frame size (read-only, cached)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    rel = np.hypot(xs - size / 2.0, ys - size / 2.0) / size
    vignette = (1.0 - 0.35 * rel**2).astype(np.float32)
    for a in (xs, ys, vignette):
        a.flags.writeable = False
    return xs, ys, vignette


@lru_cache(maxsize=4)
def _belt_texture(size: int) -> np.ndarray:
    """Rubber conveyor belt grain, twice the frame wide: fine speckle plus streaks along the travel direction."""
    rng = np.random.default_rng(20240601)
    shape = (size, 2 * size)
    speckle = cv2.GaussianBlur(rng.normal(0.0, 1.0, shape).astype(np.float32), (0, 0), 0.8)
    streaks = cv2.blur(rng.normal(0.0, 1.0, shape).astype(np.float32), (41, 1))
    blotch = cv2.GaussianBlur(rng.normal(0.0, 1.0, shape).astype(np.float32), (0, 0), 9.0)
    tex = 0.8 * speckle / speckle.std() + 0.7 * streaks / streaks.std() + 2.5 * blotch / blotch.std()
    tex.flags.writeable = False
    return tex


_ALL = slice(None)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    return np.clip(x + 0.5, 0.0, 1.0)


class _Scene:
    """The flange on the belt before exposure: coverage, surface brightness and background."""

    def __init__(self, pose: PartPose, look: _Look, size: int, rng: np.random.Generator) -> None:
        self.pose = pose
        self.look = look
        self.size = size
        xs, ys, _ = _grids(size)
        self.dx = xs - np.float32(pose.cx)
        self.dy = ys - np.float32(pose.cy)
        self.r, theta = cv2.cartToPolar(self.dx, self.dy)
        self.hole_present = np.ones(_HOLES, bool)
        self._hole_geometry(theta)
        self._turned = self._turned_surface(rng)
        self.shade = self._turned.copy()
        self._holes_into(self.shade)
        self.solid = self._solid()
        # Coverage taken away by chipped material; 0 = part intact.
        self.removed = np.zeros((size, size), np.float32)

    # -- geometry ---------------------------------------------------------------------------

    def hole_centre(self, k: int) -> tuple[float, float]:
        """Image coordinates of bolt hole `k`."""
        a = self.pose.rotation + _HOLE_PHASE + k * _HOLE_STEP
        rp = _PITCH * self.pose.radius
        return self.pose.cx + rp * math.cos(a), self.pose.cy + rp * math.sin(a)

    def _hole_geometry(self, theta: np.ndarray) -> None:
        local = theta - np.float32(self.pose.rotation + _HOLE_PHASE)
        k = np.rint(local / np.float32(_HOLE_STEP)).astype(np.int32) % _HOLES
        centres = np.array([self.hole_centre(i) for i in range(_HOLES)], np.float32)
        self.hole_k = k
        self.hx = (self.dx + np.float32(self.pose.cx)) - centres[k, 0]
        self.hy = (self.dy + np.float32(self.pose.cy)) - centres[k, 1]
        self.hd = cv2.magnitude(self.hx, self.hy)

    def _bore_depth(self, rows: slice, cols: slice) -> np.ndarray:
        """Signed distance into the bore and keyway (positive inside the opening), pixels."""
        R = self.pose.radius
        dx, dy = self.dx[rows, cols], self.dy[rows, cols]
        c, s = np.float32(math.cos(self.pose.rotation)), np.float32(math.sin(self.pose.rotation))
        u = dx * c + dy * s
        v = np.abs(dy * c - dx * s)
        key = np.minimum(np.float32(_KEY_HALF_WIDTH * R) - v, np.float32(_KEY_DEPTH * R) - u)
        key = np.minimum(key, u)
        return np.maximum(np.float32(_BORE * R) - self.r[rows, cols], key)

    # -- surface ----------------------------------------------------------------------------

    def _turned_surface(self, rng: np.random.Generator) -> np.ndarray:
        """Brightness of the turned faces and chamfers (before lighting gain), everywhere in the frame."""
        ring, chamfer, spec = _radial_luts(self.pose.radius, self.look.face_level, rng)
        idx = np.minimum((self.r * _LUT_STEPS).astype(np.int32), ring.size - 1)
        lx, ly = self.look.light
        inv_r = 1.0 / (self.r + np.float32(1e-3))
        facing = (self.dx * np.float32(lx) + self.dy * np.float32(ly)) * inv_r
        across = (self.dy * np.float32(lx) - self.dx * np.float32(ly)) * inv_r
        # Turning grooves scatter light in the radial plane: a bright "bow tie" along the lamp axis.
        bowtie = np.exp(-(across * across) * np.float32(1.0 / 0.045))
        return ring[idx] + chamfer[idx] * facing + spec[idx] * bowtie

    def _holes_into(self, shade: np.ndarray, rows: slice = _ALL, cols: slice = _ALL) -> None:
        """Shade the bolt-hole chamfers in a window (tilted inwards: bright on the side away from the lamp)."""
        R = self.pose.radius
        rh, rc = _HOLE * R, (_HOLE + _HOLE_CHAMFER) * R
        lx, ly = self.look.light
        hd_all = self.hd[rows, cols]
        near = (hd_all < rc + 2.0) & self.hole_present[self.hole_k[rows, cols]]
        hd = hd_all[near]
        tilt = -(self.hx[rows, cols][near] * lx + self.hy[rows, cols][near] * ly) / (hd + 1e-3)
        band = np.clip(rc - hd + 0.5, 0.0, 1.0) * np.clip(hd - rh + 0.5, 0.0, 1.0)
        level = np.float32(self.look.face_level * 0.86) + 38.0 * tilt
        view = shade[rows, cols]
        view[near] += band * (level - view[near])

    def fill_hole(self, k: int, rows: slice, cols: slice) -> None:
        """Leave bolt hole `k` (lying inside the window) undrilled: the turned face continues over it."""
        self.hole_present[k] = False
        self.shade[rows, cols] = self._turned[rows, cols]
        self._holes_into(self.shade, rows, cols)
        self.solid = self.solid.copy()  # the good part's coverage stays as it was
        self.solid[rows, cols] = self._solid(rows, cols)

    def _solid(self, rows: slice = _ALL, cols: slice = _ALL) -> np.ndarray:
        """Fraction of each pixel covered by metal as drawn (anti-aliased edges), before chipping."""
        R = self.pose.radius
        r, hd = self.r[rows, cols], self.hd[rows, cols]
        solid = _smoothstep(R - r)
        solid *= 1.0 - _smoothstep(self._bore_depth(rows, cols))
        solid *= 1.0 - _smoothstep(_HOLE * R - hd) * self.hole_present[self.hole_k[rows, cols]]
        return solid

    def on_face(self, x: float, y: float, margin: float) -> bool:
        """True when (x, y) lies on flat metal at least `margin` pixels from every edge and hole."""
        R = self.pose.radius
        r = math.hypot(x - self.pose.cx, y - self.pose.cy)
        if not (_BORE + _BORE_CHAMFER) * R + margin < r < (1 - _OUTER_CHAMFER) * R - margin:
            return False
        if abs(r - _GROOVE * R) < _GROOVE_W * R + margin:
            return False
        u = (x - self.pose.cx) * math.cos(self.pose.rotation) + (y - self.pose.cy) * math.sin(self.pose.rotation)
        if r < (_KEY_DEPTH + 0.02) * R + margin and u > 0:
            return False
        for k in range(_HOLES):
            hx, hy = self.hole_centre(k)
            if math.hypot(x - hx, y - hy) < (_HOLE + _HOLE_CHAMFER) * R + margin:
                return False
        return True

    def face_point(self, rng: np.random.Generator, margin: float) -> tuple[float, float]:
        """A random point on flat metal, `margin` pixels clear of edges and holes."""
        R = self.pose.radius
        for _ in range(200):
            r = R * math.sqrt(rng.uniform(0.06, 0.9))
            a = rng.uniform(0.0, 2.0 * math.pi)
            x, y = self.pose.cx + r * math.cos(a), self.pose.cy + r * math.sin(a)
            if self.on_face(x, y, margin):
                return x, y
        return self.pose.cx + 0.66 * R, self.pose.cy  # on the flange face between two holes

    # -- exposure ---------------------------------------------------------------------------

    def exposure(
        self,
        rows: slice = _ALL,
        cols: slice = _ALL,
        shade: np.ndarray | None = None,
        solid: np.ndarray | None = None,
        removed: np.ndarray | np.float32 | None = None,
    ) -> np.ndarray:
        """Noise-free grey levels in a window: part composited on the lit belt, lens and lamp applied.

        `shade`, `solid` and `removed` replace the scene's own (window-sized) to expose another state.
        """
        size, look, R = self.size, self.look, self.pose.radius
        shade = self.shade[rows, cols] if shade is None else shade
        solid = self.solid[rows, cols] if solid is None else solid
        removed = self.removed[rows, cols] if removed is None else removed
        xs, ys, vignette = (g[rows, cols] for g in _grids(size))
        dx, dy, r = self.dx[rows, cols], self.dy[rows, cols], self.r[rows, cols]
        belt = _belt_texture(size)[:, look.belt_shift : look.belt_shift + size][rows, cols] + np.float32(look.belt_level)
        # Soft shadow of the part, cast away from the lamp.
        lx, ly = look.light
        off = 0.035 * R
        shadow_r = cv2.magnitude(dx + np.float32(lx * off), dy + np.float32(ly * off))
        belt *= 1.0 - 0.5 * np.clip((1.03 * R - shadow_r) / (0.09 * R) + 0.5, 0.0, 1.0)
        # Looking down a through-hole: the belt below lies in the part's own shadow.
        belt *= 1.0 - 0.45 * (_smoothstep(R - r) - solid)
        img = belt + solid * (1.0 - removed) * (shade - belt)
        gx, gy = look.gradient
        tilt = 1.0 + np.float32(gx) * (xs / size - 0.5) + np.float32(gy) * (ys / size - 0.5)
        img *= vignette * np.float32(look.gain) * tilt
        return img

    def expose(self, rng: np.random.Generator) -> np.ndarray:
        """The whole frame as the sensor delivers it: exposure plus shot and read noise, Mono8."""
        img = self.exposure()
        # Shot noise grows with signal; read noise sets the floor (about 1 grey level on the part).
        sigma = np.sqrt(np.float32(0.3) + np.float32(0.004) * np.maximum(img, 0.0))
        img += rng.standard_normal(img.shape, dtype=np.float32) * sigma
        return np.ascontiguousarray(np.clip(img + 0.5, 0.0, 255.0).astype(np.uint8))


def _radial_luts(R: float, face: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brightness along the radius: zones, turning marks, chamfer tilt and highlight weight."""
    n = int((R + 4) * _LUT_STEPS)
    r = np.arange(n, dtype=np.float32) / _LUT_STEPS
    f = r / R
    ring = np.full(n, face, np.float32)
    ring[f < _GROOVE] = face * 1.07  # hub face finished with a finer feed, a touch brighter
    # Turning marks: regular feed grooves plus irregular bands from tool chatter.
    feed_hub, feed_flange = rng.uniform(1.3, 1.6), rng.uniform(1.9, 2.4)
    feed = np.where(f < _GROOVE, feed_hub, feed_flange)
    phase = np.cumsum(1.0 / (feed * _LUT_STEPS))
    marks_fine = np.sin(2 * np.pi * phase + rng.uniform(0, 6.3)).astype(np.float32)
    chatter = np.convolve(rng.normal(0, 1, n + 40), np.ones(41) / 41, mode="valid")[:n]
    chatter = (chatter / (chatter.std() + 1e-6)).astype(np.float32)
    bands = np.convolve(rng.normal(0, 1, n + 8), np.ones(9) / 9, mode="valid")[:n]
    bands = (bands / (bands.std() + 1e-6)).astype(np.float32)
    ring += 1.5 * marks_fine + 4.0 * chatter + 2.5 * bands
    chamfer = np.zeros(n, np.float32)
    spec = np.zeros(n, np.float32)
    face_zone = ((f > _BORE + _BORE_CHAMFER) & (f < 1 - _OUTER_CHAMFER)).astype(np.float32)
    spec[:] = face_zone * 34.0 * (0.7 + 0.3 * np.clip(1 - f, 0, 1))
    outer = (f >= 1 - _OUTER_CHAMFER) & (f <= 1.0)
    ring[outer] = face * 0.9
    chamfer[outer] = 45.0
    inner = (f >= _BORE) & (f <= _BORE + _BORE_CHAMFER)
    ring[inner] = face * 0.85
    chamfer[inner] = -45.0
    # Relief groove: dark floor with a bright wall on the side facing the lamp.
    groove = np.abs(f - _GROOVE) < _GROOVE_W
    ring[groove] = face * 0.55
    chamfer[groove] = 30.0 * np.sign(f[groove] - _GROOVE)
    spec[groove] = 0.0
    return ring, chamfer, spec


# -- defects ----------------------------------------------------------------------------------
# Each defect changes the scene and returns the window it touched; render_marked derives the mask.

Window = tuple[slice, slice]
Drawer = Callable[[_Scene, np.random.Generator, float], Window]  # scene, mark's stream, severity


def _roi(scene: _Scene, x: float, y: float, half: float) -> tuple[slice, slice, float, float]:
    """A square window around (x, y) clipped to the frame, and (x, y) in window coordinates."""
    x0 = max(0, int(x - half))
    y0 = max(0, int(y - half))
    x1 = min(scene.size, int(x + half) + 1)
    y1 = min(scene.size, int(y + half) + 1)
    return slice(y0, y1), slice(x0, x1), x - x0, y - y0


def _window_grid(rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0 : rows.stop - rows.start, 0 : cols.stop - cols.start].astype(np.float32)


def _scratch(scene: _Scene, rng: np.random.Generator, level: float) -> Window:
    """A tool or handling scratch: a thin, slightly bent line catching the light beside its dark groove."""
    R = scene.pose.radius
    length = R * rng.uniform(0.3, 0.75) * (0.6 + 0.4 * level)
    x, y = scene.face_point(rng, 4.0)
    heading = rng.uniform(0, 2 * math.pi)
    start = (x - 0.5 * length * math.cos(heading), y - 0.5 * length * math.sin(heading))
    rows, cols, _, _ = _roi(scene, x, y, 0.5 * length + 8)
    pts = marks.bent_line(rng, (start[0] - cols.start, start[1] - rows.start), heading, length, bend=0.25)
    canvas = np.zeros((rows.stop - rows.start, cols.stop - cols.start), np.float32)
    weights = 0.3 + 0.7 * marks.smooth_profile(rng, len(pts) - 1, 3.0)
    marks.stroke(canvas, pts, 2 if level > 0.35 else 1, weights)
    groove = np.zeros_like(canvas)
    marks.stroke(groove, pts - np.array(scene.look.light) * 1.2, 1, weights)
    shade = scene.shade[rows, cols]
    if rng.random() < 0.7:  # the burr catches the lamp
        amp = 38.0 + 52.0 * level
        shade += amp * canvas - 0.35 * amp * groove * (1 - canvas)
    else:  # a dull scuff: darkens whatever it crosses by a share
        shade *= 1.0 - (0.28 + 0.3 * level) * np.maximum(canvas, 0.4 * groove)
    return rows, cols


def _dent(scene: _Scene, rng: np.random.Generator, level: float) -> Window:
    """An impact dent: a shallow crater lit from one side, with a raised rim."""
    R = scene.pose.radius
    rad = R * rng.uniform(0.03, 0.065) * (0.6 + 0.4 * level)
    x, y = scene.face_point(rng, rad * 1.6)
    rows, cols, ox, oy = _roi(scene, x, y, rad * 2.6)
    ys, xs = _window_grid(rows, cols)
    px, py = (xs - ox) / rad, (ys - oy) / rad
    d2 = px * px + py * py
    bowl = np.exp(-d2)
    lx, ly = scene.look.light
    toward = px * lx + py * ly
    # Crater wall slope along the light: the far wall faces the lamp, the near wall is in shade.
    dist = np.sqrt(d2)
    rim = np.exp(-((dist - 1.3) ** 2) / 0.04) * (0.5 + 0.5 * toward / (dist + 1e-3))
    amp = 25.0 + 50.0 * level
    scene.shade[rows, cols] += amp * (-1.8 * toward * bowl - 0.55 * bowl + 0.35 * rim)
    return rows, cols


def _crack(scene: _Scene, rng: np.random.Generator, level: float) -> Window:
    """A fatigue crack running in from the rim or out from a bolt hole: dark, thin, jagged."""
    R = scene.pose.radius
    cx, cy = scene.pose.cx, scene.pose.cy
    length = R * rng.uniform(0.2, 0.38) * (0.6 + 0.4 * level)
    if rng.random() < 0.55:
        a = rng.uniform(0, 2 * math.pi)
        start = (cx + (R - 1.0) * math.cos(a), cy + (R - 1.0) * math.sin(a))
        heading = a + math.pi + rng.normal(0, 0.3)
    else:
        k = int(rng.integers(0, _HOLES))
        hx, hy = scene.hole_centre(k)
        a = math.atan2(hy - cy, hx - cx) + rng.choice([-1, 1]) * rng.uniform(0.0, 0.6)
        start = (hx + _HOLE * R * math.cos(a), hy + _HOLE * R * math.sin(a))
        heading = a + rng.normal(0, 0.25)
    rows, cols, ox, oy = _roi(scene, start[0], start[1], length + 8)
    canvas = np.zeros((rows.stop - rows.start, cols.stop - cols.start), np.float32)
    path = marks.jagged_path(rng, (ox, oy), heading, length, step_px=2.5, zigzag=0.6, bend=0.35)
    n = len(path) - 1
    marks.stroke(canvas, path, 1, np.linspace(1.0, 0.45, n))  # the crack closes towards its tip
    if rng.random() < 0.5:
        j = int(rng.integers(n // 3, max(n // 3 + 1, n - 2)))
        turn = rng.choice([-1, 1]) * rng.uniform(0.4, 0.9)
        branch = marks.jagged_path(rng, tuple(path[j]), heading + turn, length * rng.uniform(0.2, 0.4), 2.5, 0.6, 0.3)
        marks.stroke(canvas, branch, 1, np.linspace(0.8, 0.3, len(branch) - 1))
    amp = 65.0 + 70.0 * level
    # The open crack also shades the metal right beside it.
    scene.shade[rows, cols] -= amp * (canvas + 0.3 * cv2.GaussianBlur(canvas, (0, 0), 1.2))
    return rows, cols


def _contamination(scene: _Scene, rng: np.random.Generator, level: float) -> Window:
    """An oil or coolant stain, or a few dark particles: darkening that ignores the turning marks."""
    R = scene.pose.radius
    if rng.random() < 0.65:
        rad = R * rng.uniform(0.04, 0.1) * (0.6 + 0.4 * level)
        x, y = scene.face_point(rng, rad * 0.6)
        rows, cols, ox, oy = _roi(scene, x, y, rad * 4.0)
        shape = (rows.stop - rows.start, cols.stop - cols.start)
        cov = marks.soft_blob(rng, shape, (ox, oy), rad, int(rng.integers(2, 6)), edge_px=2.0)
        # Oil dries unevenly, with a darker tide line at its edge.
        mottle = cv2.GaussianBlur(rng.normal(0.0, 1.0, shape).astype(np.float32), (0, 0), 2.0)
        mottle *= 1.0 / (mottle.std() + 1e-6)
        edge = 4.0 * cov * (1.0 - cov)
        dark = (0.16 + 0.38 * level) * cov * (1.0 + 0.18 * mottle) + 0.12 * edge
    else:
        rad = R * 0.05
        x, y = scene.face_point(rng, rad)
        rows, cols, ox, oy = _roi(scene, x, y, rad * 3.0)
        ys, xs = _window_grid(rows, cols)
        cov = np.zeros(xs.shape, np.float32)
        for _ in range(int(rng.integers(1, 5))):
            px, py = ox + rng.normal(0, rad * 0.6), oy + rng.normal(0, rad * 0.6)
            pr = rng.uniform(1.3, 3.0) * (0.7 + 0.5 * level)
            cov = np.maximum(cov, np.clip(pr - np.hypot(xs - px, ys - py) + 0.5, 0.0, 1.0))
        dark = (0.45 + 0.4 * level) * cov
    scene.shade[rows, cols] *= 1.0 - dark
    return rows, cols


def _missing_material(scene: _Scene, rng: np.random.Generator, level: float) -> Window:
    """A chipped rim, or a bolt hole that was never drilled."""
    R = scene.pose.radius
    if rng.random() < 0.3:
        k = int(rng.integers(0, _HOLES))
        hx, hy = scene.hole_centre(k)
        rows, cols, _, _ = _roi(scene, hx, hy, (_HOLE + _HOLE_CHAMFER) * R + 4)
        scene.fill_hole(k, rows, cols)
        return rows, cols
    rad = R * rng.uniform(0.045, 0.11) * (0.55 + 0.45 * level)
    a = rng.uniform(0, 2 * math.pi)
    x = scene.pose.cx + (R + rad * 0.25) * math.cos(a)
    y = scene.pose.cy + (R + rad * 0.25) * math.sin(a)
    rows, cols, ox, oy = _roi(scene, x, y, rad * 2.0)
    ys, xs = _window_grid(rows, cols)
    px, py = xs - ox, ys - oy
    ang = np.arctan2(py, px)
    # Conchoidal fracture: a bite whose outline wanders around its mean radius.
    lobes = rng.normal(0, 1, 4)
    phases = rng.uniform(0, 2 * np.pi, 4)
    wobble = sum(lobes[i] * np.sin((i + 2) * ang + phases[i]) for i in range(4)) * 0.07
    edge = rad * (1.0 + wobble) - np.hypot(px, py)
    bite = np.clip(edge + 0.5, 0.0, 1.0).astype(np.float32)
    scene.removed[rows, cols] = np.maximum(scene.removed[rows, cols], bite)
    lx, ly = scene.look.light
    # The fracture face just outside the bite catches the lamp unevenly.
    lip = np.clip(1.0 - np.abs(edge + 1.5) / 1.5, 0.0, 1.0)
    tilt = -(px * lx + py * ly) / (np.hypot(px, py) + 1e-3)
    scene.shade[rows, cols] += lip * (30.0 * tilt - 10.0)
    return rows, cols


_DEFECTS = {
    "scratch": _scratch,
    "dent": _dent,
    "crack": _crack,
    "contamination": _contamination,
    "missing_material": _missing_material,
}
