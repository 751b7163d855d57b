"""Waiting on a condition in tests: never a fixed sleep, never an elapsed-time assertion."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, timeout_s: float = 60.0) -> T:
    """Return `condition()`'s first true value; fail the test naming `what` if none comes within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)
    return value
