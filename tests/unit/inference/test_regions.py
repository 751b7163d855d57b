"""Defect regions from a frame-sized anomaly map: labelled only around the hot pixels, in frame coordinates."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hmi.inference.geometry import Geometry, map_to_frame, plan, prepare
from hmi.inference.inspector import cool
from hmi.inference.processing import find_regions


def _whole_frame_regions(frame_map: np.ndarray, threshold: float, mask: np.ndarray | None, min_area: int):
    """Boxes, areas and peaks of the hot components labelled over the whole frame (the reference)."""
    hot = (frame_map >= threshold).astype(np.uint8)
    if mask is not None:
        hot &= (mask > 0).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(hot, connectivity=8)
    out = []
    for i in sorted(range(1, n), key=lambda i: stats[i, cv2.CC_STAT_AREA], reverse=True)[:32]:
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < min_area:
            break
        out.append((x, y, w, h, area, float(frame_map[labels == i].max())))
    return out


def test_regions_far_apart_are_found_where_they_lie_in_the_frame():
    frame_map = np.zeros((2048, 2448), np.float32)
    frame_map[10:30, 2400:2440] = 5.0      # top right corner
    frame_map[2000:2040, 5:15] = 7.0       # bottom left corner
    frame_map[1000:1003, 1200:1203] = 9.0  # a small one in the middle
    regions = find_regions(frame_map, 1.0, None, min_area_px=4)
    assert [(r.x, r.y, r.w, r.h, r.area_px, r.peak_score) for r in regions] == [
        (2400, 10, 40, 20, 800, 5.0), (5, 2000, 10, 40, 400, 7.0), (1200, 1000, 3, 3, 9, 9.0)]
    for r in regions:  # outlines in frame coordinates, on the region's box
        xs, ys = [p[0] for p in r.contour], [p[1] for p in r.contour]
        assert (min(xs), min(ys), max(xs), max(ys)) == (r.x, r.y, r.x + r.w - 1, r.y + r.h - 1)


@pytest.mark.parametrize("seed", range(6))
def test_regions_labelled_around_the_hot_pixels_are_those_of_the_whole_frame(seed):
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(60, 400, 2))
    cells = rng.normal(10.0, 3.0, (h // 8 + 1, w // 8 + 1)).astype(np.float32)
    frame_map = cv2.resize(cells, (w, h), interpolation=cv2.INTER_LINEAR)
    mask = None if seed % 2 else (rng.random((h, w)) > 0.2).astype(np.uint8) * 255
    threshold = float(np.percentile(frame_map, 95))
    got = [(r.x, r.y, r.w, r.h, r.area_px, r.peak_score) for r in find_regions(frame_map, threshold, mask, 3)]
    assert got == _whole_frame_regions(frame_map, threshold, mask, 3)
    assert got  # the 95th percentile leaves hot pixels in every map


def test_no_hot_pixel_inside_the_roi_gives_no_region():
    frame_map = np.zeros((100, 120), np.float32)
    frame_map[10:20, 10:20] = 3.0
    mask = np.zeros((100, 120), np.uint8)
    mask[50:, :] = 255
    assert find_regions(frame_map, 1.0, mask) == ()
    assert find_regions(frame_map, 4.0) == ()


def test_a_grey_frame_is_scaled_before_it_becomes_rgb_with_the_same_pixels():
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (2048, 2448), dtype=np.uint8)
    geometry = Geometry(scale=0.25, tile=512, overlap=32)
    tile_plan = plan(geometry, frame.shape)
    reference = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB), tile_plan.scaled[::-1], interpolation=cv2.INTER_AREA)
    got = prepare(frame, geometry, tile_plan)
    assert got.shape == (*tile_plan.padded, 3)
    sh, sw = tile_plan.scaled
    assert np.array_equal(got[:sh, :sw], reference)


@pytest.mark.parametrize("scale", [1.0, 0.25, 0.37])
def test_a_map_called_cool_has_no_pixel_at_the_threshold_at_frame_size(scale):
    rng = np.random.default_rng(int(scale * 100))
    geometry = Geometry(scale=scale, tile=512, overlap=32)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(100, 2100, 2))
        sh, sw = geometry.scaled_shape((h, w))
        cells = rng.gamma(2.0, 3.0, (-(-sh // 8), -(-sw // 8))).astype(np.float32)
        frame_map = map_to_frame(cells, geometry, (h, w))
        peak = float(cells.max())
        assert float(frame_map.max()) <= peak * (1 + 1e-6)  # bilinear upsampling never passes the cells' peak
        for threshold in (peak * (1 + 2e-5), peak + 0.01, peak * 2):
            assert cool(cells, threshold)
            assert find_regions(frame_map, threshold) == ()
        assert not cool(cells, peak)  # the peak cell itself reaches it: the frame-sized map is made and searched
