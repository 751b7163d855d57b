"""A simulated PLC in its own process, as the line's PLC is: `python -m hmi.plc.simulator --commands`.

The test steers it line by line (inspection on/off, PUT/GET on/off, hang the next result writes) and reads
what it holds (`state()`: results taken, ring, header, its own bytes, connections, held writes that landed).
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPLY_S = 30.0


class PlcProcess:
    """One simulated PLC process serving DB `db` on a free loopback port; `stop()` ends it (a fixture does)."""

    def __init__(self, folder: Path, db: int = 100) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.record = folder / "plc.json"
        self._err = (folder / "plc.err").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hmi.plc.simulator", "--port", "0", "--db", str(db), "--commands",
             "--record", str(self.record)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, text=True)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="plc-process-stdout", daemon=True)
        self._reader.start()
        ready = self._next_line()
        match = re.fullmatch(r"ready on 127\.0\.0\.1:(\d+)\n", ready or "")
        if not match:
            self.stop()
            pytest.fail(f"the simulated PLC did not start: {ready!r}")
        self.port = int(match.group(1))
        self.summary = ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _next_line(self) -> str | None:
        try:
            return self._lines.get(timeout=REPLY_S)
        except queue.Empty:
            return None

    def command(self, line: str) -> dict:
        """Send one command; its JSON answer (the test fails on a refused command or no answer)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        raw = self._next_line()
        if raw is None:
            pytest.fail(f"the simulated PLC gave no answer to {line!r}")
        reply = json.loads(raw)
        assert reply.get("ok"), reply
        return reply

    def state(self) -> dict:
        """What the PLC holds and saw now."""
        return self.command("state")

    def stop(self) -> str:
        """End the process (SIGTERM, as a service manager would); returns its last line ('received ...')."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=REPLY_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self._reader.join(REPLY_S)
        while (line := self._lines.get_nowait() if not self._lines.empty() else None) is not None:
            if line.startswith("received "):
                self.summary = line.strip()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._err.close()
        return self.summary


@pytest.fixture
def plc_process(tmp_path) -> Iterator:
    """`start(db=100)` starts a simulated PLC in its own process; every one started is stopped after the test."""
    started: list[PlcProcess] = []

    def start(db: int = 100) -> PlcProcess:
        plc = PlcProcess(tmp_path / f"plc{len(started)}", db)
        started.append(plc)
        return plc

    yield start
    for plc in started:
        plc.stop()
