"""The demo product, its data-set writers and the shipped demo frames."""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from hmi.config.paths import resources_dir
from hmi.demo.dataset import (
    DEMO_FRAME_COUNT,
    demo_frames_dir,
    part_seeds,
    demo_truth_file,
    read_ground_truth,
    write_dataset,
    write_demo_frames,
)
from hmi.demo.product import DEFECT_TYPES, DemoImage, part_pose, render_part
from hmi.demo.textures import TEXTURE_DEFECT_TYPES, TEXTURES, texture_sample, write_texture_dataset

SEEDS = (3, 41, 977)


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(array.tobytes()).hexdigest()


# -- the part ---------------------------------------------------------------------------------


@pytest.mark.parametrize("defect", (None, *DEFECT_TYPES))
def test_same_seed_renders_identical_bytes(defect: str | None) -> None:
    first, second = render_part(123, defect), render_part(123, defect)
    assert _digest(first.image) == _digest(second.image)
    assert _digest(first.mask) == _digest(second.mask)
    assert _digest(render_part(124, defect).image) != _digest(first.image)


@pytest.mark.parametrize("size", (128, 384))
def test_frame_is_contiguous_mono8_of_the_requested_size(size: int) -> None:
    demo = render_part(5, "dent", size)
    assert isinstance(demo, DemoImage)
    assert (demo.defect, demo.seed) == ("dent", 5)
    for array in (demo.image, demo.mask):
        assert array.shape == (size, size)
        assert array.dtype == np.uint8
        assert array.flags.c_contiguous
    assert set(np.unique(demo.mask)) <= {0, 255}


def test_good_part_has_an_empty_mask_and_looks_like_a_part_on_a_belt() -> None:
    demo = render_part(8)
    pose = part_pose(8)
    assert demo.defect is None and not demo.mask.any()
    ys, xs = np.mgrid[0:384, 0:384]
    r = np.hypot(xs - pose.cx, ys - pose.cy)
    metal = np.median(demo.image[(r > 0.6 * pose.radius) & (r < 0.7 * pose.radius)])
    belt = np.median(demo.image[r > 1.25 * pose.radius])
    bore = np.median(demo.image[r < 0.1 * pose.radius])
    assert metal > belt + 50 > bore + 50  # bright metal, grey belt, dark through-bore
    assert 0.5 < np.std(demo.image[r > 1.25 * pose.radius]) < 12  # grain and noise, not flat, not noise


@pytest.mark.parametrize("defect", DEFECT_TYPES)
def test_defect_mask_is_non_empty_and_lies_on_the_part(defect: str) -> None:
    for seed in SEEDS:
        demo = render_part(seed, defect)
        pose = part_pose(seed)
        ys, xs = np.nonzero(demo.mask)
        assert ys.size >= 20, f"{defect} seed {seed}: mask has {ys.size} pixels"
        assert np.hypot(xs - pose.cx, ys - pose.cy).max() <= pose.radius + 1.0
        assert ys.size < 0.05 * demo.mask.size  # a local defect, not a different part


@pytest.mark.parametrize("defect", DEFECT_TYPES)
def test_defect_changes_the_frame_only_under_its_mask(defect: str) -> None:
    for seed in SEEDS:
        good = render_part(seed).image.astype(np.int16)
        bad = render_part(seed, defect)
        diff = np.abs(bad.image.astype(np.int16) - good)
        inside = bad.mask > 0
        assert diff[inside].mean() > 8.0, f"{defect} seed {seed} is invisible"
        assert diff[~inside].max() <= 5  # mask threshold (4 grey levels) plus rounding


def test_severity_scales_how_visible_a_defect_is() -> None:
    diffs = []
    good = render_part(17).image.astype(np.int16)
    for severity in (0.0, 1.0):
        bad = render_part(17, "contamination", severity=severity)
        diffs.append(np.abs(bad.image.astype(np.int16) - good).sum())
    assert diffs[1] > 1.5 * diffs[0] > 0


def test_pose_jitter_and_rotation_stay_within_a_few_percent() -> None:
    poses = [part_pose(s) for s in range(40)]
    cx = np.array([p.cx for p in poses])
    assert np.abs(cx - 192).max() <= 0.03 * 384 + 1e-6
    assert np.ptp(cx) > 0.02 * 384  # it does move
    assert max(abs(p.rotation) for p in poses) <= math.radians(8.0) + 1e-9


def test_unknown_defect_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown defect type 'rust'"):
        render_part(1, "rust")


def test_rendering_is_fast_enough_for_a_live_demo() -> None:
    render_part(0)  # warm the cached grids
    times = []
    for seed in range(10):
        start = cv2.getTickCount()
        render_part(seed, DEFECT_TYPES[seed % len(DEFECT_TYPES)] if seed % 2 else None)
        times.append((cv2.getTickCount() - start) / cv2.getTickFrequency())
    assert float(np.median(times)) < 0.040  # budget 20 ms; slack for a shared CI machine


# -- data sets --------------------------------------------------------------------------------


def test_dataset_writer_layout_and_ground_truth(tmp_path: Path) -> None:
    out = write_dataset(tmp_path / "set", good=3, defective=6, seed=4, size=128)
    rows = read_ground_truth(out / "ground_truth.csv")
    assert [r.label for r in rows] == ["good"] * 3 + ["defect"] * 6
    assert [r.defect_type for r in rows[3:]] == [*DEFECT_TYPES, DEFECT_TYPES[0]]
    assert all(r.defect_type == "" for r in rows[:3])
    assert sorted(p.name for p in (out / "good").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    assert len(list((out / "defect").glob("*.png"))) == 6
    for row in rows:
        image = cv2.imread(str(out / row.file), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(out / "masks" / Path(row.file).name), cv2.IMREAD_UNCHANGED)
        assert image.shape == mask.shape == (128, 128) and image.dtype == np.uint8
        assert mask.any() == (row.label == "defect")
    with (out / "ground_truth.csv").open(newline="") as f:
        assert next(csv.reader(f)) == ["file", "label", "defect_type"]


def test_dataset_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = write_dataset(tmp_path / "a", good=2, defective=2, seed=9, size=96)
    b = write_dataset(tmp_path / "b", good=2, defective=2, seed=9, size=96)
    c = write_dataset(tmp_path / "c", good=2, defective=2, seed=10, size=96)
    for name in ("good/00000.png", "defect/00003.png", "masks/00003.png", "ground_truth.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "good/00000.png").read_bytes() != (c / "good/00000.png").read_bytes()
    assert len(set(part_seeds(9, 500))) == 500


def test_shipped_demo_frames_match_the_generator(tmp_path: Path) -> None:
    shipped = demo_frames_dir()
    assert shipped == resources_dir() / "demo" / "frames"
    rows = read_ground_truth(demo_truth_file(shipped))
    assert len(rows) == DEMO_FRAME_COUNT
    assert {p.suffix for p in shipped.iterdir()} == {".png"}  # the pylon emulator replays every file there
    defects = [r.defect_type for r in rows if r.label == "defect"]
    assert set(defects) == set(DEFECT_TYPES)
    assert 5 <= len(defects) <= 8  # roughly one part in eight
    total = sum(p.stat().st_size for p in shipped.iterdir())
    assert total < 3 * 1024 * 1024
    fresh = write_demo_frames(tmp_path / "frames")
    assert demo_truth_file(fresh).read_text() == demo_truth_file(shipped).read_text()
    for row in rows:
        ours = cv2.imread(str(shipped.parent / row.file), cv2.IMREAD_UNCHANGED)
        new = cv2.imread(str(fresh.parent / row.file), cv2.IMREAD_UNCHANGED)
        assert ours.shape == (384, 384) and ours.dtype == np.uint8
        # Identical on this machine; a different CPU's float rounding may move a grey level here and there.
        assert np.mean(ours != new) < 0.001, f"{row.file} is stale: run python -m hmi.demo.dataset"


# -- texture set ------------------------------------------------------------------------------


def test_texture_photos_are_bundled_and_samples_carry_defects() -> None:
    assert set(TEXTURES) == {"brick", "grass", "gravel"}
    for texture in TEXTURES:
        good = texture_sample(texture, 2)
        assert good.image.shape == (256, 256) and good.image.dtype == np.uint8 and not good.mask.any()
        assert good.image.std() > 10  # a real texture, not a flat fill
        for defect in TEXTURE_DEFECT_TYPES:
            bad = texture_sample(texture, 2, defect)
            inside = bad.mask > 0
            assert inside.sum() >= 20
            diff = np.abs(bad.image.astype(np.int16) - good.image.astype(np.int16))
            assert diff[inside].mean() > 8.0, f"{texture}/{defect} is invisible"


def test_texture_dataset_layout_offline(tmp_path: Path) -> None:
    out = write_texture_dataset(tmp_path / "gravel", "gravel", good_train=3, good_test=2, defective_test=4, seed=1, size=64)
    assert len(list((out / "train" / "good").glob("*.png"))) == 3
    rows = read_ground_truth(out / "ground_truth.csv")
    assert [r.label for r in rows] == ["good", "good", "defect", "defect", "defect", "defect"]
    assert [r.defect_type for r in rows if r.defect_type] == list(TEXTURE_DEFECT_TYPES)
    for row in rows:
        assert row.file.startswith("test/")
        image = cv2.imread(str(out / row.file), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(out / "test" / "masks" / Path(row.file).name), cv2.IMREAD_UNCHANGED)
        assert image.shape == mask.shape == (64, 64)
        assert mask.any() == (row.label == "defect")
    again = write_texture_dataset(tmp_path / "again", "gravel", 3, 2, 4, seed=1, size=64)
    assert (again / "test/defect/00002.png").read_bytes() == (out / "test/defect/00002.png").read_bytes()


def test_unknown_texture_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown texture 'moon'"):
        texture_sample("moon", 1)
