"""SIGKILL at any moment: every verdict the PLC acted on is in the database, and no number is used twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing

import pytest

from hmi.store.audit import verify
from hmi.store.queries import integrity_check
from hmi.store.sequence import SequenceAllocator

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

# The station in miniature: a camera numbering parts, the store thread, and a PLC thread that
# prints each verdict it receives -- the moment the PLC "acts" on it.
STATION = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path
    from hmi.config.schema import StoreConfig
    from hmi.core.alarms import AlarmBoard
    from hmi.core.part import CameraSettings, Decision, DefectRegion, Inspection, Part, utc_now
    from hmi.core.verdict import Verdict
    from hmi.pipeline.queues import BoundedQueue
    from hmi.store.sequence import SequenceAllocator
    from hmi.store.writer import RecordWriter

    db = Path(sys.argv[1])
    numbers = SequenceAllocator(db, block=100)
    parts, committed = BoundedQueue("parts", 256), BoundedQueue("committed", 256)
    writer = RecordWriter(db, parts, committed, AlarmBoard(), StoreConfig())
    writer.start()

    def plc():
        while True:
            part = committed.take(1.0)
            if part is not None:
                sys.stdout.write(f"{part.seq}\\n")
                sys.stdout.flush()

    threading.Thread(target=plc, daemon=True).start()
    region = (DefectRegion(1, 2, 3, 4, 12, 0.9),)
    print("ready", flush=True)
    while True:
        now, mono = utc_now(), time.monotonic()
        part = Part(numbers.next(), now, mono, CameraSettings("emulated", 5000.0, 0.0), "demo")
        part = part.inspected(Inspection(0.7, region, "cpu", "m", "ab" * 32, 1.0))
        part = part.decided(Decision(Verdict.NG, "score 0.700", 1, now, mono))
        parts.put(part, timeout=1.0)
        time.sleep(0.0003)  # the line's pace in the child (kept: not a wait for the system under test)
""")

NUMBERS_ONLY = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from hmi.store.sequence import SequenceAllocator
    numbers = SequenceAllocator(Path(sys.argv[1]), block=1000)
    for _ in range(3):
        print(numbers.next(), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def _run_until_killed(db_path, lines_wanted: int) -> list[int]:
    child = subprocess.Popen([sys.executable, "-c", STATION, str(db_path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    acted: list[int] = []
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        deadline = time.monotonic() + 20
        while len(acted) < lines_wanted and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acted.append(int(line))
    finally:
        os.kill(child.pid, signal.SIGKILL)  # no clean shutdown of any kind
        rest, _ = child.communicate(timeout=10)
    acted += [int(x) for x in rest.split() if x.strip()]
    assert child.returncode == -signal.SIGKILL
    return acted


def test_every_verdict_the_plc_acted_on_survives_a_kill(tmp_path):
    db_path = tmp_path / "hmi.db"
    acted = _run_until_killed(db_path, 400)
    assert len(acted) >= 400
    with closing(sqlite3.connect(db_path)) as conn:
        stored = {r[0] for r in conn.execute("SELECT seq FROM inspections")}
        regions = {r[0] for r in conn.execute("SELECT seq FROM regions")}
    assert set(acted) <= stored, f"acted on but not recorded: {sorted(set(acted) - stored)[:10]}"
    assert set(acted) <= regions
    assert integrity_check(db_path) == "ok"
    assert verify(db_path).ok
    # A second run after the kill continues numbering above everything used before.
    acted_again = _run_until_killed(db_path, 50)
    assert min(acted_again) > max(stored)
    assert integrity_check(db_path) == "ok"


def test_sequence_numbers_are_never_reused_after_a_kill(tmp_path):
    db_path = tmp_path / "hmi.db"
    handed_out: list[int] = []
    for _ in range(3):
        run = subprocess.run([sys.executable, "-c", NUMBERS_ONLY, str(db_path)], capture_output=True, text=True,
                             timeout=60)
        assert run.returncode == -signal.SIGKILL, run.stderr
        numbers = [int(x) for x in run.stdout.split()]
        assert len(numbers) == 3 and min(numbers) > max(handed_out, default=0)
        handed_out += numbers
    survivor = SequenceAllocator(db_path)
    assert survivor.next() > max(handed_out)
    survivor.close()
    assert len(set(handed_out)) == len(handed_out) == 9
