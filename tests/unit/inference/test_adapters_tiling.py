"""Tiling of high-resolution frames on the tiny anomaly model (64-pixel input, 8-pixel map cells, dynamic batch)."""

from __future__ import annotations

import numpy as np
import pytest

from hmi.core.errors import ModelError
from hmi.inference.inspector import Inspector
from hmi.inference.package import ModelPackage
from hmi.inference.tiling import TileGrid, stitch_max, tile_origins


def test_tile_origins_cover_the_side_with_the_last_tile_flush():
    assert tile_origins(2448, 384, 48) == [0, 336, 672, 1008, 1344, 1680, 2016, 2064]
    assert tile_origins(2048, 384, 48) == [0, 336, 672, 1008, 1344, 1664]
    assert tile_origins(384, 384, 48) == [0]


def test_grid_covers_every_pixel():
    grid = TileGrid.plan((300, 400), (64, 64), 8)
    covered = np.zeros((300, 400), int)
    for y, x in grid.origins:
        covered[y:y + 64, x:x + 64] += 1
    assert covered.min() >= 1 and covered.max() <= 4


def test_grid_refuses_a_frame_smaller_than_the_tile():
    with pytest.raises(ModelError, match="smaller than the 64x64 model input"):
        TileGrid.plan((40, 400), (64, 64), 8)


def test_stitch_takes_the_maximum_where_tiles_overlap():
    grid = TileGrid(16, 24, 16, 16, ((0, 0), (0, 8)))
    maps = np.zeros((2, 2, 2), np.float32)  # 8-pixel cells: the tiles share the middle column of cells
    maps[0, 0, 1] = 0.3
    maps[1, 0, 0] = 0.9
    maps[1, 1, 1] = 0.5
    out = stitch_max(maps, grid)
    assert out.shape == (2, 3)
    assert out.tolist() == [[0.0, pytest.approx(0.9), 0.0], [0.0, 0.0, pytest.approx(0.5)]]


def _frame(h: int, w: int, spot: tuple[int, int, int, int]) -> np.ndarray:
    img = np.full((h, w), 128, np.uint8)
    x, y, sw, sh = spot
    img[y:y + sh, x:x + sw] = 255
    return img


def test_small_defect_is_found_at_its_place_in_the_stitched_map(tiny_model):
    frame = _frame(300, 400, (248, 168, 16, 16))
    tiled = Inspector(ModelPackage.load(tiny_model), provider="cpu", tile=True).inspect(frame)
    plain = Inspector(ModelPackage.load(tiny_model), provider="cpu").inspect(frame)
    assert tiled.anomaly_map.shape == (38, 50)  # frame-covering map of 8-pixel cells
    cy, cx = np.unravel_index(int(tiled.anomaly_map.argmax()), tiled.anomaly_map.shape)
    assert (cy * 8, cx * 8) in {(168, 248), (176, 256), (168, 256), (176, 248)}
    r = tiled.regions[0]
    assert abs(r.x - 248) <= 8 and abs(r.y - 168) <= 8 and r.area_px >= 100
    assert tiled.score > 0.3 > plain.score  # resizing 400 -> 64 px washes the 16-pixel spot out


def test_defect_in_a_tile_overlap_is_kept_at_full_strength(tiny_model):
    # tiles start every 56 px (64 - 8 overlap): x 56-64 is seen by two tiles
    frame = _frame(128, 240, (56, 40, 8, 8))
    result = Inspector(ModelPackage.load(tiny_model), provider="cpu", tile=True).inspect(frame)
    assert result.score == pytest.approx(127 / 128, abs=1e-3)
    assert result.anomaly_map[5, 7] == pytest.approx(result.score)


def test_tiled_batch_matches_tile_by_tile_runs(tiny_model):
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (200, 264, 3), dtype=np.uint8)
    ins = Inspector(ModelPackage.load(tiny_model), provider="cpu", tile=True)
    score, stitched = ins._tiler.run(frame)
    grid = ins._tiler.grid_for((200, 264))
    expected = np.full_like(stitched, -np.inf)
    for y, x in grid.origins:
        _, m = ins.run_model(frame[y:y + 64, x:x + 64])
        view = expected[y // 8:y // 8 + 8, x // 8:x // 8 + 8]
        np.maximum(view, m, out=view)
    np.testing.assert_allclose(stitched, expected, atol=1e-5)
    assert score == pytest.approx(float(expected.max()))


def test_last_tile_fills_the_far_edge_of_the_map_when_the_frame_is_not_whole_cells(tiny_model):
    rng = np.random.default_rng(2)
    frame = rng.integers(0, 256, (64, 260, 3), dtype=np.uint8)  # last tile starts at x 196, half a cell
    ins = Inspector(ModelPackage.load(tiny_model), provider="cpu", tile=True)
    _, stitched = ins._tiler.run(frame)
    _, last = ins.run_model(frame[:, 196:260])
    assert stitched.shape == (8, 33)
    np.testing.assert_allclose(stitched[:, -1], last[:, -1], atol=1e-5)


def test_frame_near_the_model_size_is_not_tiled(tiny_model):
    ins = Inspector(ModelPackage.load(tiny_model), provider="cpu", tile=True)
    result = ins.inspect(_frame(80, 80, (30, 30, 20, 20)))
    assert result.anomaly_map.shape == (8, 8)  # resized as before: the tiling threshold is 1.5 x the input
