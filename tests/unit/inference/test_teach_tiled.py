"""Parts judged at the scale they were taught at: long strips and tall parts keep their pixels and their shape."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from hmi.inference.geometry import plan
from hmi.inference.inspector import Inspector
from hmi.inference.package import ModelPackage
from hmi.inference.teach import teach


def texture(seed: int, shape: tuple[int, int]) -> np.ndarray:
    """A woven-looking grey texture: fine stripes both ways plus blurred noise, the same law everywhere."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, 2)
    img = 128 + 25 * np.sin(xx / 2.5 + phase[0]) * np.sin(yy / 3.0 + phase[1])
    img += cv2.GaussianBlur(rng.normal(0, 12, shape).astype(np.float32), (0, 0), 1.5)
    return np.clip(img, 0, 255).astype(np.uint8)


def with_spot(img: np.ndarray, y: int, x: int, size: int = 7) -> np.ndarray:
    """The image with a small dark flaw of `size` pixels centred at (y, x)."""
    out = img.copy()
    cv2.circle(out, (x, y), size // 2, 20, -1)
    return out


@pytest.fixture(scope="module")
def strip_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model taught on 12 strips of 256 x 1024: scale 1, judged in 512-pixel tiles."""
    root = tmp_path_factory.mktemp("strips")
    good = root / "good"
    good.mkdir()
    for i in range(12):
        cv2.imwrite(str(good / f"strip_{i:02d}.png"), texture(i, (256, 1024)))
    teach(sorted(good.glob("*.png")), root / "model", name="strips", input_size=256, threads=1)
    return root / "model"


def test_teach_records_the_geometry(strip_model: Path) -> None:
    m = ModelPackage.load(strip_model).manifest
    assert m.geometry is not None
    assert m.geometry.scale == 1.0 and m.geometry.teach_size == 256
    assert m.input.width == m.geometry.tile


def test_small_flaw_in_a_far_tile_is_found_where_it_is(strip_model: Path) -> None:
    inspector = Inspector(ModelPackage.load(strip_model), provider="cpu", threads=1)
    good = texture(100, (256, 4096))
    flawed = with_spot(good, 60, 3700)
    ok, bad = inspector.inspect(good), inspector.inspect(flawed)
    assert inspector.tiled is not None and inspector.tiled.tiles_run >= 2 * 9  # both strips went through tiles
    frame_map = inspector.frame_map(bad, flawed.shape[:2])
    assert frame_map.shape == flawed.shape[:2]
    y, x = np.unravel_index(int(frame_map.argmax()), frame_map.shape)
    assert abs(int(y) - 60) <= 16 and abs(int(x) - 3700) <= 16, f"peak at {(y, x)}, flaw at (60, 3700)"
    assert bad.score > ok.score
    assert bad.regions and any(r.x <= 3700 <= r.x + r.w and r.y <= 60 <= r.y + r.h for r in bad.regions)


def test_flaw_on_a_tile_border_is_found_as_in_the_middle_of_a_tile(strip_model: Path) -> None:
    # The taught overlap is the least that keeps this (measured: with none, good parts score higher next to
    # tile edges; 16 and 32 pixels judge a flaw on a border as one inside a tile; docs/performance.md).
    inspector = Inspector(ModelPackage.load(strip_model), provider="cpu", threads=1)
    assert inspector.tiled is not None and inspector.tiled.geometry.overlap == 32
    base = texture(100, (256, 4096))
    p = plan(inspector.tiled.geometry, base.shape)
    start, ((_, _), (xa, xb)) = p.origins[1][1], p.spans[1]
    good = inspector.inspect(base).score
    centre = inspector.inspect(with_spot(base, 128, (xa + xb) // 2)).score
    for x in (start, xa):  # where the second tile begins, and where the stitching hands over to it
        flawed = inspector.inspect(with_spot(base, 128, x))
        assert flawed.score > 0.85 * centre and flawed.score > good + 0.6 * (centre - good), (x, flawed.score, centre)
        assert any(r.x <= x <= r.x + r.w for r in flawed.regions)


def test_only_the_roi_is_judged_and_its_flaw_still_found(strip_model: Path) -> None:
    package = ModelPackage.load(strip_model)
    flawed = with_spot(texture(100, (256, 4096)), 128, 2000)
    whole = Inspector(package, provider="cpu", threads=1)
    roi = Inspector(package, provider="cpu", threads=1, roi_rectangles=[(1700, 0, 600, 256)])
    a, b = whole.inspect(flawed), roi.inspect(flawed)
    assert roi.tiled is not None and whole.tiled is not None
    assert roi.tiled.tiles_run <= 3 < whole.tiled.tiles_run  # the frame was cropped to the ROI before tiling
    assert b.score == pytest.approx(a.score, rel=0.08)  # the flaw sits elsewhere in its tile: a few % apart
    assert b.regions and all(1700 <= r.x and r.x + r.w <= 2300 for r in b.regions)
    assert any(r.x <= 2000 <= r.x + r.w for r in b.regions)


def test_inspect_writes_maps_of_each_images_own_size(strip_model: Path, tmp_path: Path) -> None:
    images = tmp_path / "images"
    (images / "good").mkdir(parents=True)
    (images / "defect").mkdir()
    cv2.imwrite(str(images / "good" / "part.png"), texture(200, (256, 4096)))
    cv2.imwrite(str(images / "defect" / "part.png"), with_spot(texture(201, (1250, 500)), 1100, 90))
    maps = tmp_path / "maps"
    # Two folders with the same file name: each map keeps its folder, neither overwrites the other.
    done = subprocess.run([sys.executable, "-m", "hmi", "inspect", str(images / "good"), str(images / "defect"),
                           "--model", str(strip_model),
                           "--csv", str(tmp_path / "out.csv"), "--maps", str(maps), "--data-dir", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    fabric, commutator = np.load(maps / "good" / "part.npy"), np.load(maps / "defect" / "part.npy")
    assert fabric.shape == (256, 4096) and commutator.shape == (1250, 500)
    y, x = np.unravel_index(int(commutator.argmax()), commutator.shape)
    assert abs(int(y) - 1100) <= 16 and abs(int(x) - 90) <= 16


def test_augmented_views_are_the_turned_and_mirrored_part() -> None:
    from hmi.inference.teach import augmented

    img = texture(7, (40, 64))
    views = augmented(img)
    assert len(views) == 6
    assert [v.shape[:2] for v in views] == [(40, 64), (64, 40), (40, 64), (64, 40), (40, 64), (40, 64)]
    np.testing.assert_array_equal(views[2], img[::-1, ::-1])  # turned half way round
    np.testing.assert_array_equal(views[4], img[:, ::-1])
    assert all(v.flags["C_CONTIGUOUS"] for v in views)
