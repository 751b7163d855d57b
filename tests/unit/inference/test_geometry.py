"""Part geometry: frames keep their aspect ratio, tiles cover every pixel, stitching takes each cell whole."""

from __future__ import annotations

import numpy as np
import pytest

from hmi.core.errors import ModelError
from hmi.inference.geometry import CELL, Geometry, map_to_frame, plan, run_tiled, scale_for


def cell_means(x: np.ndarray) -> np.ndarray:
    """A stand-in model: the mean of each 8x8 cell of each tile, [n, h/8, w/8]; position-independent."""
    n, h, w, c = x.shape
    return x.astype(np.float32).reshape(n, h // CELL, CELL, w // CELL, CELL, c).mean(axis=(2, 4, 5))


@pytest.mark.parametrize("shape", [(256, 4096), (1250, 500), (90, 400), (300, 300), (2048, 2448), (17, 33)])
def test_stitched_tiles_equal_the_whole_frame(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    geometry = Geometry(scale=1.0, tile=256, overlap=64)
    stitched = run_tiled(frame, geometry, cell_means)
    cells = (-(-shape[0] // CELL), -(-shape[1] // CELL))
    assert stitched.shape == cells
    padded = plan(geometry, shape).padded
    reflected = np.pad(frame, ((0, padded[0] - shape[0]), (0, padded[1] - shape[1]), (0, 0)), mode="reflect")
    whole = cell_means(reflected[None])[0][:cells[0], :cells[1]]
    # Every cell of the frame comes from exactly one tile that saw it: the same value as the whole frame.
    np.testing.assert_allclose(stitched, whole, rtol=0, atol=1e-4)


def test_no_cell_is_taken_from_next_to_an_inner_tile_edge() -> None:
    frame_shape = (256, 4096)
    geometry = Geometry(scale=1.0, tile=512, overlap=64)
    p = plan(geometry, frame_shape)
    assert len(p.origins) > 1
    for (y, x), ((ya, yb), (xa, xb)) in zip(p.origins, p.spans):
        inner_left = x > 0
        inner_right = x + p.tile[1] < p.padded[1]
        if inner_left:
            assert xa - x >= geometry.overlap // 2 - CELL
        if inner_right:
            assert x + p.tile[1] - xb >= geometry.overlap // 2 - CELL
    covered = sum((yb - ya) * (xb - xa) for (ya, yb), (xa, xb) in p.spans)
    assert covered == p.padded[0] * p.padded[1]  # the spans tile the frame exactly once


def test_scale_keeps_the_aspect_ratio_and_never_enlarges() -> None:
    assert scale_for([900, 900, 900], 256) == pytest.approx(256 / 900)
    assert scale_for([90, 120, 200], 256) == 1.0
    geometry = Geometry(scale=0.5)
    assert geometry.scaled_shape((1250, 500)) == (625, 250)
    amap = run_tiled(np.zeros((1250, 500), np.uint8), geometry, cell_means)
    assert amap.shape == (-(-625 // CELL), -(-250 // CELL))
    assert map_to_frame(amap, geometry, (1250, 500)).shape == (1250, 500)


@pytest.mark.parametrize("kwargs", [{"scale": 0.0}, {"scale": 1.5}, {"scale": 1.0, "tile": 100},
                                    {"scale": 1.0, "tile": 256, "overlap": 200}])
def test_invalid_geometry_is_refused_in_plain_words(kwargs: dict) -> None:
    with pytest.raises(ModelError):
        Geometry(**kwargs)


class CountingModel:
    """cell_means that counts the tiles it is given."""

    def __init__(self) -> None:
        self.tiles = 0
        self.pixels = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.tiles += len(x)
        self.pixels += x.shape[0] * x.shape[1] * x.shape[2]
        return cell_means(x)


def test_tiles_shrink_to_cover_the_frame_with_little_judged_twice() -> None:
    p = plan(Geometry(scale=1.0, tile=512, overlap=64), (2048, 2448))
    assert p.tile == (464, 464) and len(p.origins) == 30  # was 30 tiles of 512: 30 % more pixels judged
    assert max(y + p.tile[0] for y, _ in p.origins) == 2048 and max(x + p.tile[1] for _, x in p.origins) == 2448


def test_only_the_inspection_area_is_judged() -> None:
    shape = (1024, 1536)
    frame = np.random.default_rng(1).integers(0, 256, (*shape, 3), dtype=np.uint8)
    geometry = Geometry(scale=1.0, tile=256, overlap=64)
    area = np.zeros((shape[0] // CELL, shape[1] // CELL), bool)
    area[10:30, 12:40] = True     # a rectangle near the top left
    area[100:104, 150:160] = True  # and a small patch near the bottom right
    whole_model, area_model = CountingModel(), CountingModel()
    whole = run_tiled(frame, geometry, whole_model)
    judged = run_tiled(frame, geometry, area_model, area=area)
    assert judged.shape == whole.shape
    # Cells in the area are judged as in the whole frame; the rest is 0 (not judged).
    np.testing.assert_allclose(judged[area], whole[area], rtol=0, atol=1e-4)
    assert np.all(judged[40:90, 50:140] == 0) and np.all(judged[:, 180:] == 0)
    assert area_model.tiles < whole_model.tiles / 3 and area_model.pixels < whole_model.pixels / 4
    empty = run_tiled(frame, geometry, CountingModel(), area=np.zeros_like(area))
    assert empty.shape == whole.shape and not empty.any()
