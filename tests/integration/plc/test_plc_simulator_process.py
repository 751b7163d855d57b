"""A simulated PLC in its own process (`python -m hmi.plc.simulator`), as a PLC that is not the station's own."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

from hmi.core.messages import DeliveryStatus
from hmi.core.verdict import Verdict



def test_separate_process_simulator_receives_exactly_the_parts_sent(make_line, fast_config):
    proc = subprocess.Popen([sys.executable, "-m", "hmi.plc.simulator", "--port", "0", "--db", "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = proc.stdout.readline()
        match = re.fullmatch(r"ready on 127\.0\.0\.1:(\d+)\n", ready)
        assert match, f"simulator did not start: {ready!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        line = make_line(fast_config("127.0.0.1", int(match.group(1))))
        n = 57
        for seq in range(1, n + 1):
            line.send(seq, Verdict.NG if seq % 5 == 0 else Verdict.OK)
        reports = line.collect(n)
        assert [r.status for r in reports] == [DeliveryStatus.DELIVERED] * n
        line.signaller.stop()
        assert line.signaller.join(2.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out.strip() == f"received {n} results (seq 1..{n}), {n} distinct, {n // 5} rejects, 0 releases"
