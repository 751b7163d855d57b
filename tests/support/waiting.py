"""Waiting on a condition in tests: never a fixed sleep, never an elapsed-time assertion."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 60.0) -> None:
    """Return once `condition()` is true; fail the test naming `what` if it is not true within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)
