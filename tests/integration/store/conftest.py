"""Fixtures for the records integration tests: decided parts like the decision stage hands them over."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest

from hmi.core.part import CameraSettings, Decision, DefectRegion, Inspection, Part, utc_now
from hmi.core.verdict import Verdict


def _part(seq: int, verdict: Verdict = Verdict.OK, *, regions: int = 3, image: np.ndarray | None = None,
          anomaly_map: np.ndarray | None = None) -> Part:
    mono = time.monotonic()  # decided now, captured 3 ms ago
    now = utc_now()
    found = tuple(DefectRegion(8 * i, 4 * i, 12, 9, 80 + i, 0.7 + 0.01 * i) for i in range(regions))
    return (Part(seq, now, mono - 0.003, CameraSettings("emulated:0815", 5000.0, 0.0, 640, 480), "demo", image=image)
            .inspected(Inspection(0.42, found, "onnxruntime-cpu", "demo-model", "cd" * 32, 6.0, anomaly_map))
            .decided(Decision(verdict, "score 0.420", 1, now, mono)))


@pytest.fixture
def decided_part() -> Callable[..., Part]:
    """decided_part(seq, verdict=OK, regions=3, image=None, anomaly_map=None) -> Part."""
    return _part
