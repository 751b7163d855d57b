"""Image checks of the camera screen on frames whose answers are known by construction."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hmi.camera.quality import (clipped_shares, focus_score, frame_mean, grey, histogram, measure,
                                uniformity_grid)


def test_quality_histogram_counts_every_pixel_at_its_grey_level():
    img = np.zeros((10, 20), np.uint8)
    img[:, :5] = 7
    img[:2, 5:] = 255
    counts = histogram(img)
    assert counts.shape == (256,) and counts.sum() == 200
    assert (counts[7], counts[255], counts[0]) == (50, 30, 120)


def test_quality_mean_and_clipped_shares_at_both_ends():
    img = np.full((100, 100), 128, np.uint8)
    img[:10] = 0          # 10 % black
    img[-5:] = 255        # 5 % white
    dark, bright = clipped_shares(img)
    assert dark == pytest.approx(10.0) and bright == pytest.approx(5.0)
    assert frame_mean(img) == pytest.approx((85 * 128 + 5 * 255) / 100)
    q = measure(img)
    assert q.clipped_pct == pytest.approx(15.0) and q.mean == pytest.approx(frame_mean(img))


def test_quality_rgb_frames_are_measured_as_grey():
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 1] = 200
    assert grey(rgb).shape == (8, 8)
    assert frame_mean(rgb) == pytest.approx(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).mean())
    with pytest.raises(ValueError, match="8-bit"):
        grey(np.zeros((4, 4), np.uint16))


def test_quality_focus_score_falls_as_the_image_blurs():
    rng = np.random.default_rng(1)
    sharp = np.kron(rng.integers(0, 2, (24, 24)) * 200 + 20, np.ones((8, 8))).astype(np.uint8)
    scores = [focus_score(sharp)] + [focus_score(cv2.GaussianBlur(sharp, (0, 0), s)) for s in (1.0, 2.0, 4.0)]
    assert scores == sorted(scores, reverse=True) and scores[-1] < scores[0] / 20
    assert focus_score(np.full((50, 50), 90, np.uint8)) == 0.0      # a flat frame has no edges at all


def test_quality_uniformity_grid_against_the_centre_cell():
    img = np.full((500, 500), 100, np.uint8)
    img[:100, :100] = 50           # top-left cell at half the centre's brightness
    img[400:, 400:] = 120          # bottom-right 20 % brighter
    grid = uniformity_grid(img, 5)
    assert grid.shape == (5, 5) and grid[2, 2] == pytest.approx(1.0)
    assert grid[0, 0] == pytest.approx(0.5) and grid[4, 4] == pytest.approx(1.2)
    assert measure(img).worst_cell_pct == pytest.approx(-50.0)
    with pytest.raises(ValueError, match="odd"):
        uniformity_grid(img, 4)


def test_quality_uniformity_of_a_vignetted_frame_falls_towards_the_corners():
    yy, xx = np.mgrid[0:300, 0:400]
    r2 = ((xx - 200) / 200) ** 2 + ((yy - 150) / 150) ** 2
    img = (180 * (1 - 0.3 * r2)).clip(0, 255).astype(np.uint8)
    grid = uniformity_grid(img)
    assert grid[0, 0] < grid[1, 1] < grid[2, 2]
    assert np.allclose(grid, grid[::-1, ::-1], atol=0.02)   # symmetric light, symmetric map
