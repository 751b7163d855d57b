"""The status zone's Inference tile names the device; the whole backend stays on the part screen and in records."""

from __future__ import annotations

import pytest

from hmi.ui.health import Level
from hmi.ui.status_zone import StatusZone
from hmi.ui.touch import TouchSize


@pytest.mark.parametrize("backend, shown", [("cpu-clusters", "CPU"), ("cpu", "CPU"), ("tensorrt-fp16", "TENSORRT"),
                                            ("cuda", "CUDA"), ("none", "NONE")])
def test_inference_tile_shows_the_device_alone(qtbot, backend: str, shown: str) -> None:
    zone = StatusZone(TouchSize(panel_dpi=96.0, min_mm=10.0), "Station 1")
    qtbot.addWidget(zone)
    zone.show_status((Level.OK, "RUNNING"), "demo", backend, [], [])
    assert zone.backend.value.text() == shown
    assert zone.backend.level is (Level.FAULT if backend == "none" else Level.OK)
