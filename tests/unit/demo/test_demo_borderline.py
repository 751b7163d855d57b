"""The demo's borderline parts: the faint rub mark, the line's plan and the camera that slips them in."""

from __future__ import annotations

import hashlib
import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from hmi.camera.source import FrameSource, Grab
from hmi.config.loader import load_station
from hmi.config.paths import shipped_models_dir
from hmi.core.part import CameraSettings, utc_now
from hmi.decision.policy import ThresholdSet, decide
from hmi.camera.demo_borderline import WithBorderlineParts
from hmi.demo.faint import BORDERLINE_TYPE, render_borderline
from hmi.demo.product import part_pose, render_part
from hmi.demo.stream import (
    BORDERLINE_GAP,
    DEMO_LINE_SEED,
    FIRST_BORDERLINE,
    borderline_parts,
    borderline_seed,
)

SIZE = 384


class _Belt(FrameSource):
    """A stand-in camera: the same flat frame every grab, a missed trigger every 50th."""

    name = "belt"

    def __init__(self, size: int = SIZE) -> None:
        self.frame = np.full((size, size), 90, np.uint8)
        self.grabs = 0
        self.exposure = 5000.0

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def grab(self, timeout_s: float) -> Grab | None:
        self.grabs += 1
        if self.grabs % 50 == 0:
            return None
        return Grab(utc_now(), float(self.grabs), self.settings(), image=self.frame, frame_id=self.grabs)

    def settings(self) -> CameraSettings:
        return CameraSettings(self.name, self.exposure, 0.0, self.frame.shape[1], self.frame.shape[0])

    def set_exposure(self, exposure_us: float) -> float:
        self.exposure = exposure_us
        return exposure_us


def _run(camera: WithBorderlineParts, grabs: int) -> list[tuple[int, Grab]]:
    """(part index, grab) of every replaced frame in `grabs` grabs."""
    replaced, part = [], 0
    for _ in range(grabs):
        grab = camera.grab(1.0)
        if grab is None:
            continue
        if grab.image is not camera.inner.frame:
            replaced.append((part, grab))
        part += 1
    return replaced


# -- the mark ---------------------------------------------------------------------------------


def test_faint_rub_is_seeded_and_changes_the_part_only_a_little_under_its_mask() -> None:
    for seed in (3, 41, 977):
        rub = render_borderline(seed)
        assert rub.defect == BORDERLINE_TYPE and rub.seed == seed
        assert hashlib.sha256(render_borderline(seed).image.tobytes()).digest() == \
            hashlib.sha256(rub.image.tobytes()).digest()
        diff = np.abs(rub.image.astype(np.int16) - render_part(seed).image.astype(np.int16))
        inside = rub.mask > 0
        assert 30 <= inside.sum() < 0.01 * inside.size  # small
        assert diff[~inside].max() <= 5  # the good part of the seed everywhere else
        assert 4.0 < diff[inside].mean() < 14.0  # faint: a few grey levels on metal at ~150
        pose = part_pose(seed)
        ys, xs = np.nonzero(inside)
        r = np.hypot(xs - pose.cx, ys - pose.cy) / pose.radius
        assert 0.25 < r.min() and r.max() < 0.55  # on the hub face


# -- the plan ---------------------------------------------------------------------------------


def test_plan_gives_one_borderline_part_every_two_to_three_minutes_at_the_demo_speed(tmp_path: Path) -> None:
    rate_hz = load_station(tmp_path / "data").camera.rate_hz  # the shipped station file: the demo's speed
    assert rate_hz == 10.0
    parts = list(itertools.takewhile(lambda i: i < 100_000, borderline_parts()))
    assert parts[0] == FIRST_BORDERLINE and FIRST_BORDERLINE / rate_hz < 2.0  # seen in a short demo
    gaps_s = np.diff(parts) / rate_hz
    assert gaps_s.min() >= 120.0 and gaps_s.max() <= 180.0
    assert 140.0 < gaps_s.mean() < 160.0
    assert 1 + 99_990 // BORDERLINE_GAP[1] <= len(parts) <= 1 + 99_990 // BORDERLINE_GAP[0]


def test_plan_and_part_seeds_are_fixed_by_the_line_seed() -> None:
    first = list(itertools.islice(borderline_parts(DEMO_LINE_SEED), 20))
    assert first == list(itertools.islice(borderline_parts(DEMO_LINE_SEED), 20))
    assert first != list(itertools.islice(borderline_parts(DEMO_LINE_SEED + 1), 20))
    seeds = [borderline_seed(DEMO_LINE_SEED, k) for k in range(200)]
    assert len(set(seeds)) == 200 and seeds == [borderline_seed(DEMO_LINE_SEED, k) for k in range(200)]


# -- the camera -------------------------------------------------------------------------------


def test_camera_stream_carries_borderline_parts_at_the_planned_rate() -> None:
    camera = WithBorderlineParts(_Belt())
    replaced = _run(camera, 25_000)  # 24 500 parts: 41 minutes at 10 parts/s
    planned = list(itertools.takewhile(lambda i: i < camera.parts, borderline_parts(DEMO_LINE_SEED)))
    assert [part for part, _ in replaced] == planned
    assert 1 + (camera.parts - FIRST_BORDERLINE) // BORDERLINE_GAP[1] <= len(replaced) \
        <= 1 + (camera.parts - FIRST_BORDERLINE) // BORDERLINE_GAP[0]
    assert camera.borderline == len(replaced) >= 14
    for k, (_, grab) in enumerate(replaced[:3]):
        assert grab.image.shape == (SIZE, SIZE) and grab.image.dtype == np.uint8
        np.testing.assert_array_equal(grab.image, render_borderline(borderline_seed(DEMO_LINE_SEED, k)).image)
    again = _run(WithBorderlineParts(_Belt()), FIRST_BORDERLINE + 1)
    np.testing.assert_array_equal(again[0][1].image, replaced[0][1].image)


def test_camera_keeps_the_grab_and_passes_everything_else_through() -> None:
    belt = _Belt(size=200)
    camera = WithBorderlineParts(belt)
    (part, grab), = _run(camera, FIRST_BORDERLINE + 1)
    assert part == FIRST_BORDERLINE
    assert grab.frame_id == FIRST_BORDERLINE + 1 and grab.settings == belt.settings()
    assert grab.image.shape == (200, 200)
    assert camera.name == "belt" and camera.set_exposure(800.0) == 800.0 and belt.exposure == 800.0


# -- the shipped model ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def judge():
    """The shipped demo model with its manifest's thresholds: part image -> verdict name."""
    from hmi.inference.inspector import Inspector
    from hmi.inference.package import ModelPackage

    package = ModelPackage.load(shipped_models_dir() / "demo-part")
    t = package.manifest.thresholds
    thresholds = ThresholdSet(0, t.score, t.hold_below, t.hold_above, t.min_defect_area_px)
    inspector = Inspector(package, provider="cpu", threads=1)
    return lambda image: decide(inspector.inspect(image), thresholds)[0].name


def test_the_demo_lines_faint_rubs_are_mostly_held_by_the_shipped_model(judge) -> None:
    verdicts = [judge(render_borderline(borderline_seed(DEMO_LINE_SEED, k)).image) for k in range(12)]
    # The first ones are what a short demo (and the screenshots) show.
    assert verdicts[:3] == ["HOLD"] * 3, verdicts
    assert verdicts.count("HOLD") >= math.ceil(0.5 * len(verdicts)), verdicts
