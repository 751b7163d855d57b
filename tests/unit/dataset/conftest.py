"""Real records for the export tests: parts written by the store thread, frames saved by the image store."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from hmi.config.loader import load_station
from hmi.config.schema import StoreConfig
from hmi.core.alarms import AlarmBoard
from hmi.core.messages import OperatorReview
from hmi.core.part import CameraSettings, Decision, DefectRegion, Inspection, Part
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.pipeline.worker import WorkerState
from hmi.store.database import database_path
from hmi.store.images import ImageWriter
from hmi.store.writer import RecordWriter

FRAME_W, FRAME_H = 160, 120  # not square, so a swapped width and height shows
START = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class PartPlan:
    """One part to record: automatic verdict, regions (x, y, w, h, label), and the review it gets, if any."""

    seq: int
    auto: Verdict
    regions: tuple[tuple[int, int, int, int, str], ...] = ()
    reviewer: str | None = None
    verdict: Verdict | None = None
    defect_type: str | None = None
    recipe: str = "demo"
    timed_out: bool = False

    @property
    def captured_at(self) -> datetime:
        """One part an hour from START."""
        return START + timedelta(hours=self.seq)


@dataclass
class Records:
    """A data directory holding the recorded plans; `frames[seq]` is the image each part was photographed with."""

    data_dir: Path
    frames: dict[int, np.ndarray] = field(default_factory=dict)


def _frame(seq: int, regions) -> np.ndarray:
    rng = np.random.default_rng(seq)
    img = rng.integers(90, 110, (FRAME_H, FRAME_W), dtype=np.uint8)
    for x, y, w, h, _ in regions:
        img[y:y + h, x:x + w] = 250
    return img


def _part(plan: PartPlan, image: np.ndarray) -> Part:
    mono = time.monotonic()
    found = tuple(DefectRegion(x, y, w, h, w * h, 0.9, label=label) for x, y, w, h, label in plan.regions)
    camera = CameraSettings("emulated:0815", 5000.0, 0.0, FRAME_W, FRAME_H)
    return (Part(plan.seq, plan.captured_at, mono - 0.005, camera, plan.recipe, image=image)
            .inspected(Inspection(0.9 if found else 0.1, found, "cpu", "demo-part", "ab" * 32, 5.0))
            .decided(Decision(plan.auto, "score", 1, plan.captured_at, mono)))


def _wait(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def record(data_dir: Path, plans: list[PartPlan]) -> Records:
    """Write the plans through the real store thread and image store, then the reviews; the thread is stopped."""
    load_station(data_dir)  # the station file and the shipped recipes
    config = StoreConfig(ok_image_sample=0)  # OK parts keep no image: those are skipped by the export
    q = {name: BoundedQueue(name, 1000) for name in ("parts", "committed", "reviews", "images", "paths")}
    alarms = AlarmBoard()
    writer = RecordWriter(database_path(data_dir), q["parts"], q["committed"], alarms, config,
                          reviews=q["reviews"], images=q["images"], image_paths=q["paths"])
    images = ImageWriter(data_dir, q["images"], q["paths"], alarms, config)
    out = Records(data_dir)
    with_image = sum(plan.auto is not Verdict.OK for plan in plans)  # NG and HOLD frames are always kept
    writer.start()
    images.start()
    try:
        _wait(lambda: writer.state is WorkerState.RUNNING, "the store thread did not start")
        for plan in plans:
            out.frames[plan.seq] = _frame(plan.seq, plan.regions)
            assert q["parts"].offer(_part(plan, out.frames[plan.seq]))
        _wait(lambda: len(q["committed"]) == len(plans), "parts were not committed")
        _wait(lambda: images.saved == with_image, "the images were not saved")
        for plan in plans:
            if plan.reviewer:
                assert q["reviews"].offer(OperatorReview(plan.seq, plan.verdict, plan.reviewer,
                                                         plan.captured_at + timedelta(minutes=5), plan.defect_type,
                                                         automatic=plan.timed_out))
    finally:
        images.stop()
        assert images.join(10), "the image thread did not stop"
        writer.stop()  # takes what is still queued (reviews, image paths) before it ends
        assert writer.join(10), "the store thread did not stop"
    assert images.error is None, images.error_text()
    assert writer.error is None, writer.error_text()
    return out


@pytest.fixture
def recorded(tmp_path):
    """record(plans) into a fresh data directory."""
    return lambda plans: record(tmp_path / "data", plans)
