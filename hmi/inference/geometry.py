"""Part geometry: how a frame is brought to the scale a model was taught at and cut into model-size tiles.

A part image keeps its aspect ratio. Teach fixes one scale factor per model (the taught images' shorter side
brought to the teach size, never enlarged) and the station applies that same factor to every frame, so a
1 mm crack covers the same number of map cells on the line as in the taught images. A scaled frame that
fits one tile runs whole; a larger one is cut into overlapping tiles batched through the model.

Tiles overlap by `overlap` pixels and each map cell is taken from the tile in which it lies farthest from a
tile edge (the overlap is split down its middle). A cell near an inner tile edge, where the network sees
its own zero padding instead of the part, is therefore never used, and a defect on a tile border is judged
by the tile that sees it whole. Teach and inspection run the same code, so the memory bank holds exactly
the features the line computes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from hmi.core.errors import ModelError

if TYPE_CHECKING:
    from hmi.inference.backend import Session

CELL = 8      # input pixels per anomaly-map cell (the backbone's stride-8 grid)
ALIGN = 16    # the backbone needs sides that are multiples of 16
MIN_SIDE = 48  # the smallest padded side: the stride-16 map and the blurred map need a few cells to mirror
MIN_TILE = 64
BATCHES = (1, 2, 4)  # tiles a model run that TiledSession.tune_batch chooses from


@dataclass(frozen=True)
class Geometry:
    """Scale factor, tile side and overlap (pixels at model scale) a model was taught with."""

    scale: float
    tile: int = 512
    overlap: int = 64
    batch: int = 4

    def __post_init__(self) -> None:
        if not (0.0 < self.scale <= 1.0) or not math.isfinite(self.scale):
            raise ModelError(f"model scale {self.scale} is not between 0 and 1",
                             "teach the model again; a part is never enlarged beyond what teach saw")
        if self.tile < MIN_TILE or self.tile % ALIGN:
            raise ModelError(f"model tile size {self.tile} is not a multiple of {ALIGN} from {MIN_TILE} up",
                             "teach the model again")
        if self.overlap < 0 or self.overlap % ALIGN or self.overlap >= self.tile // 2:
            raise ModelError(f"tile overlap {self.overlap} must be a multiple of {ALIGN} below half the tile",
                             "teach the model again")

    def scaled_shape(self, frame_shape: tuple[int, int]) -> tuple[int, int]:
        """(height, width) of a frame at the model's scale."""
        h, w = frame_shape
        if self.scale == 1.0:
            return h, w
        return max(1, round(h * self.scale)), max(1, round(w * self.scale))


def scale_for(short_sides: list[int], teach_size: int) -> float:
    """Scale that brings the median shorter side of the taught images to `teach_size` pixels, never above 1."""
    if not short_sides:
        return 1.0
    return float(min(1.0, teach_size / float(np.median(short_sides))))


def _tile_side(length: int, tile: int, overlap: int) -> int:
    """The tile side along one side: as many tiles as `tile` would need, shrunk (to a multiple of ALIGN) until
    they just cover `length`, so the tiles judge few pixels twice (2048 px in 512 px tiles overlapping 64:
    five of 464, not five of 512)."""
    if length <= tile:
        return length
    n = math.ceil((length - overlap) / (tile - overlap))
    side = math.ceil((length + (n - 1) * overlap) / n)
    return min(tile, -(-side // ALIGN) * ALIGN)


def _origins(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one side (multiples of ALIGN for aligned lengths), the last flush with the far edge."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    n = math.ceil((length - tile) / stride) + 1
    return sorted({min(i * stride, length - tile) for i in range(n)})


def _owned(origins: list[int], tile: int, length: int) -> list[tuple[int, int]]:
    """For each tile, the [start, end) pixel span it contributes: the overlaps are split at their middle."""
    bounds = [0]
    for prev, nxt in zip(origins, origins[1:]):
        mid = (nxt + prev + tile) // 2
        bounds.append(mid - mid % CELL)
    bounds.append(length)
    return list(zip(bounds[:-1], bounds[1:]))


@dataclass(frozen=True)
class TilePlan:
    """How one frame size is cut: padded size, tile size, origins and the cells each tile contributes."""

    scaled: tuple[int, int]
    padded: tuple[int, int]
    tile: tuple[int, int]
    origins: tuple[tuple[int, int], ...]
    spans: tuple[tuple[tuple[int, int], tuple[int, int]], ...]

    @property
    def cells(self) -> tuple[int, int]:
        """Anomaly-map cells covering the scaled frame (before the padding is cropped off)."""
        return math.ceil(self.scaled[0] / CELL), math.ceil(self.scaled[1] / CELL)


def plan(geometry: Geometry, frame_shape: tuple[int, int]) -> TilePlan:
    """The tile plan for a frame of `frame_shape` (height, width) under `geometry`."""
    sh, sw = geometry.scaled_shape(frame_shape)
    ph, pw = max(MIN_SIDE, -(-sh // ALIGN) * ALIGN), max(MIN_SIDE, -(-sw // ALIGN) * ALIGN)
    th, tw = _tile_side(ph, geometry.tile, geometry.overlap), _tile_side(pw, geometry.tile, geometry.overlap)
    ys, xs = _origins(ph, th, geometry.overlap), _origins(pw, tw, geometry.overlap)
    y_spans, x_spans = _owned(ys, th, ph), _owned(xs, tw, pw)
    origins = tuple((y, x) for y in ys for x in xs)
    spans = tuple((ysp, xsp) for ysp in y_spans for xsp in x_spans)
    return TilePlan((sh, sw), (ph, pw), (th, tw), origins, spans)


def prepare(frame: np.ndarray, geometry: Geometry, tile_plan: TilePlan) -> np.ndarray:
    """The frame as RGB uint8 at the model's scale, padded by reflection to the plan's aligned size."""
    if frame.ndim == 3 and frame.shape[2] == 4:
        frame = np.ascontiguousarray(frame[:, :, :3])
    sh, sw = tile_plan.scaled
    if (sh, sw) != frame.shape[:2]:  # before the grey frame becomes RGB: a third of the pixels to scale
        frame = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    ph, pw = tile_plan.padded
    if (ph, pw) != (sh, sw):
        border = cv2.BORDER_REFLECT_101 if min(sh, sw) > 1 else cv2.BORDER_REPLICATE
        frame = cv2.copyMakeBorder(frame, 0, ph - sh, 0, pw - sw, border)
    return np.ascontiguousarray(frame)


TileFunction = Callable[[np.ndarray], np.ndarray]


def _cached_plan(plans: dict | None, key: tuple, geometry: Geometry, shape: tuple[int, int]) -> TilePlan:
    tile_plan = plans.get(key) if plans is not None else None
    if tile_plan is None:
        tile_plan = plan(geometry, shape)
        if plans is not None:
            plans[key] = tile_plan
    return tile_plan


def area_box(area: np.ndarray, margin: int, padded: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) pixels at model scale around the inspection area's cells (`area`, bool
    [cells_h, cells_w]) with `margin` pixels of context, aligned outward to ALIGN and clipped to `padded`;
    None when the area holds no cell."""
    rows, cols = np.flatnonzero(area.any(1)), np.flatnonzero(area.any(0))
    if not rows.size:
        return None

    def side(first: int, last: int, limit: int) -> tuple[int, int]:
        a = max(0, (first * CELL - margin) // ALIGN * ALIGN)
        b = min(limit, -(-((last + 1) * CELL + margin) // ALIGN) * ALIGN)
        if b - a < MIN_SIDE:  # the backbone's smallest side (the padded frame is never smaller)
            b = min(limit, a + MIN_SIDE)
            a = b - MIN_SIDE
        return a, b

    return (*side(int(rows[0]), int(rows[-1]), padded[0]), *side(int(cols[0]), int(cols[-1]), padded[1]))


def _stitch(image: np.ndarray, tile_plan: TilePlan, geometry: Geometry, model: TileFunction,
            keep: list[bool] | None = None) -> np.ndarray | None:
    """Run `model` over the plan's tiles of the prepared `image` (those `keep` marks) and stitch the output;
    the cells of skipped tiles are 0. None when no tile is kept."""
    th, tw = tile_plan.tile
    chosen = [i for i in range(len(tile_plan.origins)) if keep is None or keep[i]]
    out: np.ndarray | None = None
    for start in range(0, len(chosen), geometry.batch):
        chunk = chosen[start:start + geometry.batch]
        x = np.stack([image[y:y + th, x0:x0 + tw] for y, x0 in (tile_plan.origins[i] for i in chunk)])
        maps = np.asarray(model(x))
        if maps.shape[0] != len(chunk) or maps.shape[1:3] != (th // CELL, tw // CELL):
            raise ModelError(f"the model returned output of shape {maps.shape} for {len(chunk)} tiles of {tw}x{th}",
                             "the model does not fit this station version; teach it again")
        if out is None:
            cells = (tile_plan.padded[0] // CELL, tile_plan.padded[1] // CELL, *maps.shape[3:])
            out = np.empty(cells, maps.dtype) if keep is None else np.zeros(cells, maps.dtype)
        for i, m in zip(chunk, maps):
            (y, x0), ((ya, yb), (xa, xb)) = tile_plan.origins[i], tile_plan.spans[i]
            out[ya // CELL:yb // CELL, xa // CELL:xb // CELL] = m[(ya - y) // CELL:(yb - y) // CELL,
                                                                  (xa - x0) // CELL:(xb - x0) // CELL]
    return out


@dataclass(frozen=True)
class PreparedFrame:
    """A frame brought to the model's scale and padded, with the tiles to run: what `run_prepared` needs."""

    image: np.ndarray       # the prepared (cropped) frame, RGB uint8
    plan: TilePlan          # the tiles over `image`
    keep: list[bool] | None  # which tiles run (None: all)
    cells: tuple[int, int]  # the scaled frame's cells: the output's size
    padded_cells: tuple[int, int]
    offset: tuple[int, int] | None  # the crop's first cell in the frame's cell grid (None: no crop)
    empty: bool = False     # no cell of the frame lies in the inspection area: nothing runs


def prepare_tiled(frame: np.ndarray, geometry: Geometry, plans: dict[tuple, TilePlan] | None = None,
                  area: np.ndarray | None = None) -> PreparedFrame:
    """The model-free first half of `run_tiled`: scale, pad and (with `area`) crop the frame, choose the tiles."""
    shape = frame.shape[:2]
    tile_plan = _cached_plan(plans, shape, geometry, shape)
    image = prepare(frame, geometry, tile_plan)
    ch, cw = tile_plan.cells
    padded_cells = (tile_plan.padded[0] // CELL, tile_plan.padded[1] // CELL)
    if area is None:
        return PreparedFrame(image, tile_plan, None, (ch, cw), padded_cells, None)
    if area.shape != (ch, cw):
        raise ModelError(f"the inspection area covers {area.shape[1]}x{area.shape[0]} cells, the frame {cw}x{ch}",
                         "report this: the area is made from the recipe's ROI for every frame size")
    box = area_box(area, geometry.overlap // 2, tile_plan.padded)
    if box is None:  # nothing of the frame lies in the area: no cell is judged
        return PreparedFrame(image, tile_plan, None, (ch, cw), padded_cells, None, empty=True)
    y0, y1, x0, x1 = box
    inner = replace(geometry, scale=1.0)
    sub_plan = _cached_plan(plans, (shape, y0, y1, x0, x1), inner, (y1 - y0, x1 - x0))
    cells = np.zeros(padded_cells, bool)
    cells[:ch, :cw] = area
    cells = cells[y0 // CELL:y1 // CELL, x0 // CELL:x1 // CELL]
    keep = [bool(cells[ya // CELL:yb // CELL, xa // CELL:xb // CELL].any())
            for (ya, yb), (xa, xb) in sub_plan.spans]
    return PreparedFrame(np.ascontiguousarray(image[y0:y1, x0:x1]), sub_plan, keep, (ch, cw), padded_cells,
                         (y0 // CELL, x0 // CELL), empty=not any(keep))


def run_prepared(prepared: PreparedFrame, geometry: Geometry, model: TileFunction) -> np.ndarray:
    """The model half of `run_tiled`: run the prepared frame's tiles and stitch their output into the frame's cells."""
    ch, cw = prepared.cells
    if prepared.empty:
        return np.zeros((ch, cw), np.float32)
    out = _stitch(prepared.image, prepared.plan, geometry, model, prepared.keep)
    assert out is not None  # a prepared frame with no tile to run is `empty`
    if prepared.offset is None:
        return out[:ch, :cw]
    full = np.zeros((*prepared.padded_cells, *out.shape[2:]), out.dtype)
    cy, cx = prepared.offset
    full[cy:cy + out.shape[0], cx:cx + out.shape[1]] = out
    return full[:ch, :cw]


def run_tiled(frame: np.ndarray, geometry: Geometry, model: TileFunction,
              plans: dict[tuple, TilePlan] | None = None, area: np.ndarray | None = None) -> np.ndarray:
    """Run `model` (uint8 [n, th, tw, 3] -> [n, th/8, tw/8, ...]) over the frame's tiles and stitch its output.

    Returns the stitched output cropped to the scaled frame: [ceil(h/8), ceil(w/8), ...] cells. With `area`
    (bool [ceil(h/8), ceil(w/8)]: the cells of the recipe's inspection area at model scale) the scaled frame
    is first cropped to the area with half an overlap of context around it, tiles wholly outside the area
    are not run, and every cell they or the crop leave out is 0 (not judged). The two halves,
    `prepare_tiled` and `run_prepared`, may run on different threads (the inference stages).
    """
    return run_prepared(prepare_tiled(frame, geometry, plans, area), geometry, model)


def area_cells(mask: np.ndarray, geometry: Geometry) -> np.ndarray:
    """A frame-sized ROI mask (non-zero inside) as the cells it touches at model scale, bool [ceil(h/8), ceil(w/8)]."""
    sh, sw = geometry.scaled_shape(mask.shape[:2])
    scaled = mask if (sh, sw) == mask.shape[:2] else cv2.resize(mask, (sw, sh), interpolation=cv2.INTER_AREA)
    ch, cw = -(-sh // CELL), -(-sw // CELL)
    padded = np.zeros((ch * CELL, cw * CELL), bool)
    padded[:sh, :sw] = scaled > 0
    return padded.reshape(ch, CELL, cw, CELL).any(axis=(1, 3))


def map_to_frame(cell_map: np.ndarray, geometry: Geometry, frame_shape: tuple[int, int]) -> np.ndarray:
    """A stitched cell map as float32 at the frame's own height x width (bilinear, cell centres aligned)."""
    h, w = frame_shape
    sh, sw = geometry.scaled_shape(frame_shape)
    ch, cw = cell_map.shape[:2]
    scaled = cv2.resize(cell_map.astype(np.float32, copy=False), (cw * CELL, ch * CELL),
                        interpolation=cv2.INTER_LINEAR)[:sh, :sw]
    if (sh, sw) == (h, w):
        return np.ascontiguousarray(scaled)
    return cv2.resize(scaled, (w, h), interpolation=cv2.INTER_LINEAR)


class TiledSession:
    """A model session run through a geometry: frames in, stitched cell maps (or feature maps) out."""

    def __init__(self, session: "Session", geometry: Geometry, input_name: str, output: str) -> None:
        self.session = session
        self.geometry = geometry
        self.input_name = input_name
        self.output = output
        self._plans: dict[tuple, TilePlan] = {}
        # Counted, not derived, so the bench shows how the tiles really went through the model.
        self.frames_run = 0
        self.tiles_run = 0
        self.model_runs = 0

    def _run(self, x: np.ndarray) -> np.ndarray:
        self.model_runs += 1
        self.tiles_run += len(x)
        return self.session.run({self.input_name: x}, [self.output])[self.output]

    def __call__(self, frame: np.ndarray, area: np.ndarray | None = None) -> np.ndarray:
        """The stitched output for one frame, [ceil(h/8), ceil(w/8), ...] cells at model scale; only the
        inspection `area` judged when given (run_tiled)."""
        return self.run(self.prepare(frame, area))

    def prepare(self, frame: np.ndarray, area: np.ndarray | None = None) -> PreparedFrame:
        """The frame scaled, padded and cut to the tiles to run (no model call: any thread)."""
        return prepare_tiled(frame, self.geometry, self._plans, area)

    def run(self, prepared: PreparedFrame) -> np.ndarray:
        """The model over a prepared frame's tiles, stitched (the model's own thread)."""
        self.frames_run += 1
        return run_prepared(prepared, self.geometry, self._run)

    def tune_batch(self, rounds: int = 3) -> int:
        """Keep the tiles a model run that judge a tile fastest on this machine, of BATCHES, and return it.

        Each batch size runs max(BATCHES) blank tiles of the taught tile side, the sizes in turn, `rounds` times
        after one run each to plan; each size keeps its fastest round. On 2 CPU cores four 464 px tiles ran in
        about 23 ms a run at a time or two at a time, against 26 ms four at a time (INT8 backbone; float: 38
        against 47 ms): larger runs leave the caches. A GPU may well prefer four."""
        tiles = np.full((max(BATCHES), self.geometry.tile, self.geometry.tile, 3), 128, np.uint8)
        best = dict.fromkeys(BATCHES, math.inf)
        for r in range(rounds + 1):
            for batch in BATCHES:
                started = time.perf_counter()
                for first in range(0, len(tiles), batch):
                    self.session.run({self.input_name: tiles[first:first + batch]}, [self.output])
                if r:  # the first round plans each shape
                    best[batch] = min(best[batch], time.perf_counter() - started)
        chosen = min(BATCHES, key=lambda b: best[b])
        self.geometry = replace(self.geometry, batch=chosen)
        return chosen

    def has_planned(self, frame_shape: tuple[int, int]) -> bool:
        """True once a frame of this (height, width) has been cut into tiles (warm-up included)."""
        return frame_shape in self._plans

    def reset_counts(self) -> None:
        """Start counting frames, tiles and model runs afresh (the bench leaves out its warm-up)."""
        self.frames_run = self.tiles_run = self.model_runs = 0

    def describe(self, frame_shape: tuple[int, int]) -> str:
        """The tile plan for a frame size in words, e.g. for the bench's figures."""
        p = self._plans.get(frame_shape) or plan(self.geometry, frame_shape)
        runs = math.ceil(len(p.origins) / self.geometry.batch)
        return (f"scale {self.geometry.scale:.3f}: {len(p.origins)} tiles of {p.tile[1]}x{p.tile[0]} "
                f"(overlap {self.geometry.overlap} px) in {runs} model runs of up to {self.geometry.batch}")
