"""Fixtures for the records tests: a database path in tmp_path and a factory of decided parts."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from hmi.core.part import CameraSettings, Decision, DefectRegion, Inspection, Part, utc_now
from hmi.core.verdict import Verdict

PartFactory = Callable[..., Part]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the records database of one test lives."""
    return tmp_path / "data" / "hmi.db"


def build_part(seq: int, verdict: Verdict = Verdict.OK, *, regions: int = 2, score: float = 0.25,
               image: np.ndarray | None = None, anomaly_map: np.ndarray | None = None,
               captured_at: datetime | None = None, recipe: str = "demo", decided: bool = True,
               confidence: float | None = None) -> Part:
    """A part as the decision stage hands it to the store."""
    now = captured_at or utc_now()
    mono = time.monotonic()
    found = tuple(DefectRegion(10 * i, 20 * i, 5 + i, 6 + i, 30 + i, np.float32(0.9 - 0.1 * i))
                  for i in range(regions))
    part = Part(seq, now, mono - 0.004, CameraSettings("emulated:0815", np.float64(5000.0), 1.5, 64, 48), recipe,
                image=image, part_id=f"P{seq}", lot_id="LOT-7")
    part = part.inspected(Inspection(np.float32(score), found, "onnxruntime-cpu", "demo-model", "ab" * 32, 4.2,
                                     anomaly_map=anomaly_map))
    if decided:
        part = part.decided(Decision(verdict, f"score {score:.3f}", 3, now, mono, confidence))
    return part


@pytest.fixture
def make_part() -> PartFactory:
    """Factory of decided parts with regions (see build_part)."""
    return build_part


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """wait_until(condition, timeout=5, what=...): poll until it holds, fail the test on timeout."""
    return _wait_until
