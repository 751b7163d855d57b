"""High-resolution frames: overlapping model-size tiles, run in batches, anomaly maps stitched by maximum.

Resizing a 2448x2048 frame to a 384-pixel model input shrinks a 10-pixel scratch to under two pixels;
tiling keeps the camera's resolution. Overlapping parts of the map take the maximum of the tiles that
see them, so a defect on a tile border is never diluted, and the image score is the stitched map's peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from hmi.core.errors import ModelError
from hmi.inference.backend import Session
from hmi.inference.package import InputSpec
from hmi.inference.processing import to_model_input

TILE_FROM = 1.5  # tile only frames at least this many times the model input along one side
# Tiles per model run. On the CPU, 4 to 8 tiles a run judge a 2448x2048 frame (48 tiles of 384 px) fastest;
# larger batches are slower, as the [tiles x patches, bank] distance matrix no longer fits the caches.
DEFAULT_BATCH = 8


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Start positions along one side: stride tile - overlap, the last tile flush with the far edge."""
    if length <= tile:
        return [0]
    stride = max(tile - overlap, 1)
    n = math.ceil((length - tile) / stride) + 1
    starts = [min(i * stride, length - tile) for i in range(n)]
    return sorted(set(starts))


@dataclass(frozen=True)
class TileGrid:
    """Where the tiles of one frame size lie: (y, x) origins of tile_h x tile_w windows."""

    frame_h: int
    frame_w: int
    tile_h: int
    tile_w: int
    origins: tuple[tuple[int, int], ...]

    @classmethod
    def plan(cls, frame_shape: tuple[int, int], tile_shape: tuple[int, int], overlap: int) -> "TileGrid":
        """The grid for a frame; every frame pixel lies in at least one tile."""
        (h, w), (th, tw) = frame_shape, tile_shape
        if h < th or w < tw:
            raise ModelError(f"a {w}x{h} frame is smaller than the {tw}x{th} model input and cannot be tiled",
                             "turn tiling off for this camera, or use a model with a smaller input")
        ys, xs = tile_origins(h, th, overlap), tile_origins(w, tw, overlap)
        return cls(h, w, th, tw, tuple((y, x) for y in ys for x in xs))


def stitch_max(maps: np.ndarray, grid: TileGrid) -> np.ndarray:
    """One frame-covering map at the tiles' map resolution; overlaps take the maximum."""
    n, mh, mw = maps.shape
    sy, sx = grid.tile_h / mh, grid.tile_w / mw
    out_h, out_w = math.ceil(grid.frame_h / sy), math.ceil(grid.frame_w / sx)
    out = np.full((out_h, out_w), -np.inf, np.float32)
    for (y, x), tile_map in zip(grid.origins, maps):
        # Rounding up keeps the tile flush with the far edge flush in the map too (off by under one cell
        # only when the frame side is not a whole number of cells).
        my, mx = min(math.ceil(y / sy - 1e-9), out_h - mh), min(math.ceil(x / sx - 1e-9), out_w - mw)
        view = out[my:my + mh, mx:mx + mw]
        np.maximum(view, tile_map, out=view)
    out[np.isinf(out)] = float(maps.min())  # cannot happen for a covering grid; keeps the map finite anyway
    return out


class TiledAnomalyRunner:
    """Runs an anomaly scoring graph with a dynamic batch dimension over the tiles of large frames."""

    def __init__(self, session: Session, spec: InputSpec, score_output: str, map_output: str,
                 overlap: int | None = None, batch: int = DEFAULT_BATCH) -> None:
        self.session = session
        self.spec = spec
        self.outputs = [score_output, map_output]
        # An eighth of the input keeps the stride a whole number of 8-pixel map cells for the usual sizes.
        self.overlap = spec.width // 8 if overlap is None else overlap
        self.batch = max(1, batch)
        self._grids: dict[tuple[int, int], TileGrid] = {}
        # Counted, not derived, so the bench shows how the tiles really went through the model.
        self.frames_run = 0
        self.model_runs = 0
        self.tiles_run = 0

    def wants(self, frame_shape: tuple[int, int]) -> bool:
        """True when a frame is large enough that tiling beats resizing it down."""
        h, w = frame_shape
        return (h >= self.spec.height and w >= self.spec.width and
                (h >= TILE_FROM * self.spec.height or w >= TILE_FROM * self.spec.width))

    def grid_for(self, frame_shape: tuple[int, int]) -> TileGrid:
        """The (cached) tile grid for a frame size."""
        if frame_shape not in self._grids:
            self._grids[frame_shape] = TileGrid.plan(frame_shape, (self.spec.height, self.spec.width), self.overlap)
        return self._grids[frame_shape]

    def run(self, frame: np.ndarray) -> tuple[float, np.ndarray]:
        """(score, stitched anomaly map) of a whole frame; score = the stitched map's peak."""
        if frame.ndim == 2 and self.spec.color != "GRAY":
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)  # once for the frame, not once per tile
        grid = self.grid_for(frame.shape[:2])
        th, tw = grid.tile_h, grid.tile_w
        maps: list[np.ndarray] = []
        for start in range(0, len(grid.origins), self.batch):
            chunk = grid.origins[start:start + self.batch]
            x = np.concatenate([to_model_input(frame[y:y + th, x0:x0 + tw], self.spec) for y, x0 in chunk])
            out = self.session.run({self.spec.name: x}, self.outputs)
            amap = np.asarray(out[self.outputs[1]], np.float32)
            if amap.ndim == 4:
                amap = amap[:, 0]
            if amap.ndim != 3 or amap.shape[0] != len(chunk):
                raise ModelError(f"the anomaly model returned a map of shape {amap.shape} for {len(chunk)} tiles",
                                 "tiling needs a scoring graph with a batch dimension; rebuild it with 'hmi teach'")
            maps.append(amap)
            self.model_runs += 1
            self.tiles_run += len(chunk)
        stitched = stitch_max(np.concatenate(maps), grid)
        self.frames_run += 1
        return float(stitched.max()), stitched

    def describe(self, frame_shape: tuple[int, int]) -> str:
        """The tile plan for a frame size in words, e.g. for the bench's figures."""
        grid = self.grid_for(frame_shape)
        runs = math.ceil(len(grid.origins) / self.batch)
        return (f"{len(grid.origins)} tiles of {grid.tile_w}x{grid.tile_h} (overlap {self.overlap} px) "
                f"in {runs} model runs of up to {self.batch}")
