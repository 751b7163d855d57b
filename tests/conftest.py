"""Suite-wide settings: Qt offscreen, pylon camera emulation, no stray threads."""

from __future__ import annotations

import os
import threading

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYLON_CAMEMU", "1")


@pytest.fixture(autouse=True)
def no_leaked_workers():
    """Fail a test that leaves one of the station's worker threads running."""
    before = {t.ident for t in threading.enumerate()}
    yield
    roles = {"capture", "inference", "store", "images", "plc", "holds", "supervisor"}
    deadline = __import__("time").monotonic() + 5
    while True:
        leaked = [t.name for t in threading.enumerate() if t.ident not in before and t.name in roles and t.is_alive()]
        if not leaked or __import__("time").monotonic() > deadline:
            break
        __import__("time").sleep(0.05)
    assert not leaked, f"worker threads left running: {leaked}"


@pytest.fixture
def tiny_model(tmp_path):
    """A real ONNX anomaly package (grey-level deviation) that runs in microseconds."""
    from tests.support.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path / "tiny")
