"""An uncaught exception anywhere leaves a crash report and shows on a real S7 PLC as station state 2 (fault)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hmi.core.logs import EXIT_CRASHED
from hmi.plc.layout import StationState
from hmi.plc.simulator import SimulatedPlc

SCRIPT = Path(__file__).with_name("crash_station.py")
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
@pytest.mark.parametrize("where, thread_name", [("main", "MainThread"), ("thread", "label-printer")])
def test_a_crash_writes_a_report_and_the_plc_sees_a_fault(tmp_path, where, thread_name):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    with SimulatedPlc(port=0) as plc:
        run = subprocess.run([sys.executable, str(SCRIPT), str(data), str(plc.port), where], cwd=ROOT,
                             capture_output=True, text=True, timeout=120, env=env)
        header = plc.read_header()
    assert "running:" in run.stdout, run.stderr
    assert run.returncode == (EXIT_CRASHED if where == "main" else 0), run.stderr
    assert header.state is StationState.FAULT
    reports = sorted((data / "crash").glob("crash-*.txt"))
    assert len(reports) == 1
    text = reports[0].read_text(encoding="utf-8")
    assert f"in thread '{thread_name}'" in text and "hmi 0." in text
    assert ("RuntimeError: deliberate crash" if where == "main" else "ZeroDivisionError") in text
    assert f"plc.port = {plc.port}" in text  # the configuration summary
    assert "the station stopped on an unexpected error" in run.stderr
    log = (data / "logs" / "hmi.log").read_text(encoding="utf-8")
    assert "CRITICAL hmi.crash: unhandled" in log and reports[0].name in log
