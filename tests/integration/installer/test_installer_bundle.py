"""The frozen station (dist/hmi, built by installer/build.sh) passes installer/smoke.sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BUNDLE = ROOT / "dist" / "hmi"


@pytest.mark.slow
@pytest.mark.skipif(not (BUNDLE / "hmi").exists(), reason="no bundle: run installer/build.sh (CI runs smoke.sh after it)")
def test_the_frozen_station_passes_the_smoke_test():
    run = subprocess.run(["bash", str(ROOT / "installer" / "smoke.sh"), str(BUNDLE)], capture_output=True, text=True,
                         timeout=280)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "smoke: passed" in run.stdout and "20 records" in run.stdout
