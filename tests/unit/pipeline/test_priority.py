"""Thread priority is lowered in one place (hmi.pipeline.priority), for the calling thread only, never raised."""

from __future__ import annotations

import os
import re
import sys
import threading
from pathlib import Path

import pytest

import hmi
from hmi.pipeline.priority import NORMAL, lower_this_thread
from hmi.pipeline.worker import Worker

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads are lowered one by one on Linux only")


def _on_a_thread(fn):
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn()), name="priority-test")
    t.start()
    t.join(10)
    return out[0]


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@linux
def test_the_calling_thread_alone_is_lowered_and_the_words_say_how():
    mine = _nice()
    words, nice = _on_a_thread(lambda: (lower_this_thread(max(mine, 12)), _nice()))
    assert nice == max(mine, 12) and words == f"nice {nice}"
    assert _nice() == mine


@linux
def test_a_priority_is_never_raised():
    mine = _nice()
    words, nice = _on_a_thread(lambda: (lower_this_thread(17), lower_this_thread(5), _nice())[1:])
    assert nice == max(mine, 17) and words == f"nice {nice}"


@linux
@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="no SCHED_IDLE here")
def test_idle_also_puts_the_thread_under_sched_idle():
    words, policy = _on_a_thread(lambda: (lower_this_thread(19, idle=True), os.sched_getscheduler(0)))
    assert policy == os.SCHED_IDLE and words == "nice 19, SCHED_IDLE"
    assert os.sched_getscheduler(0) != os.SCHED_IDLE


def test_nothing_asked_is_normal_priority():
    assert _on_a_thread(lambda: lower_this_thread(0)) == NORMAL


@linux
def test_a_worker_lowers_its_own_thread_as_it_starts():
    class Low(Worker):
        role = "low-test"
        nice = 11

        def run(self) -> None:
            self.seen = _nice()

    w = Low()
    w.start()
    assert w.join(10)
    assert w.seen == max(_nice(), 11) and w.priority == f"nice {w.seen}"


def test_only_the_priority_module_sets_a_priority():
    root = Path(hmi.__file__).parent
    setters = re.compile(r"\bos\.(setpriority|sched_setscheduler|nice)\(|\bos\.SCHED_IDLE\b")
    found = []
    for path in root.rglob("*.py"):
        if path == root / "pipeline" / "priority.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if setters.search(code) and "preexec_fn" not in code:  # a child process's own nice is its business
                found.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert found == []
