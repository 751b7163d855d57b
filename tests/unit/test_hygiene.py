"""The suite-wide check itself (tests/support/hygiene.py): what it reports a test left behind."""

from __future__ import annotations

import logging
import threading

import pytest

from tests.support import hygiene


def test_a_thread_left_running_is_reported_by_name(monkeypatch):
    monkeypatch.setattr(hygiene, "THREAD_GRACE_S", 0.05)
    before, release = hygiene.Snapshot(), threading.Event()
    left = threading.Thread(target=release.wait, name="forgotten", daemon=True)
    left.start()
    try:
        assert before.problems([]) == ["thread left running: forgotten (daemon)"]
    finally:
        release.set()
        left.join()
    assert before.problems([]) == []


def test_a_thread_that_is_ending_is_waited_for():
    before, release = hygiene.Snapshot(), threading.Event()
    ending = threading.Thread(target=release.wait, name="ending")
    ending.start()
    threading.Timer(0.05, release.set).start()
    assert before.problems([]) == []


@pytest.mark.expected_errors("^expected: part 7 refused$")
def test_logged_errors_are_reported_unless_expected():
    before = hygiene.Snapshot()
    logging.getLogger("hmi.test").error("expected: part 7 refused")
    assert before.problems(["^expected: part 7 refused$"]) == []
    assert before.problems(["part 8"]) == ["logged ERROR hmi.test: expected: part 7 refused"]
    logging.getLogger("hmi.test").warning("a warning is not an error")
    assert len(before.problems([])) == 1
