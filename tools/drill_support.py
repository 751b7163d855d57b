"""What the station drills share (tools/sigkill_drill.py, tools/disk_full_drill.py).

A simulated PLC in its own process (`python -m hmi.plc.simulator`), as a real PLC would be; the station's
command line against it; the checks after each kill (the records file is sound, no part number twice, the
audit chain verifies); and the final check that every result the PLC received is in the records with the
same verdict.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

PY = sys.executable
ENV = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # headless: never open the touchscreen


class PlcProcess:
    """The simulated PLC in a process of its own; `stop()` returns the results it took from the ring."""

    def __init__(self, record: Path) -> None:
        self.record = record
        self.proc = subprocess.Popen([PY, "-m", "hmi.plc.simulator", "--port", "0", "--record", str(record)],
                                     stdout=subprocess.PIPE, text=True, env=ENV)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        found = re.search(r":(\d+)", line)
        if found is None:
            self.proc.kill()
            raise RuntimeError(f"the simulated PLC did not start: {line!r}")
        self.port = int(found.group(1))

    def stop(self) -> list[dict]:
        """Stop the PLC (as its program ends); the results it received: seq, verdict name, flags."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.communicate(timeout=30)
        return json.loads(self.record.read_text(encoding="utf-8"))["results"]


def station_command(data: Path, plc_port: int, *settings: str, extra: tuple[str, ...] = ()) -> list[str]:
    """`hmi run --headless` on `data` against the PLC at `plc_port`, with `--set` for each of `settings`."""
    cmd = [PY, "-m", "hmi", "run", "--headless", *extra, "--data-dir", str(data), "--set", "plc.mode=s7",
           "--set", "plc.host=127.0.0.1", "--set", f"plc.port={plc_port}"]
    for setting in settings:
        cmd += ["--set", setting]
    return cmd


def records_problems(data: Path) -> tuple[list[str], int]:
    """After a kill: what is wrong with the records (integrity, a seq twice, the audit chain); parts recorded."""
    db = data / "hmi.db"
    if not db.exists():
        return [], 0
    problems = []
    try:
        with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
            twice = conn.execute("SELECT count(*) - count(DISTINCT seq) FROM inspections").fetchone()[0]
            parts = conn.execute("SELECT count(*) FROM inspections").fetchone()[0]
    except sqlite3.Error as exc:
        return [f"the records cannot be read ({exc})"], 0
    if ok != "ok":
        problems.append(f"integrity_check says {ok}")
    if twice:
        problems.append(f"{twice} sequence numbers recorded twice")
    audit = subprocess.run([PY, "-m", "hmi", "audit", "verify", "--data-dir", str(data)], capture_output=True,
                           text=True, env=ENV)
    if audit.returncode != 0:
        problems.append(f"audit verify failed: {(audit.stdout + audit.stderr).strip()[-300:]}")
    return problems, parts


def plc_against_records(results: list[dict], db: Path) -> tuple[list[str], dict[int, tuple]]:
    """Every result the PLC received must be in the records with the same verdict, each part once.

    Returns the problems found and the records by seq: (auto_verdict, reason, plc_status, captured_at).
    """
    with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
        rows = {seq: rest for seq, *rest in conn.execute(
            "SELECT seq, auto_verdict, reason, plc_status, captured_at FROM inspections")}
    problems = []
    missing = [r for r in results if r["seq"] not in rows]
    differ = [r for r in results if r["seq"] in rows and rows[r["seq"]][0] != r["verdict"]]
    seqs = [r["seq"] for r in results]
    if missing:
        problems.append(f"{len(missing)} results the PLC received are not in the records, e.g. {missing[:3]}")
    if differ:
        problems.append(f"{len(differ)} results the PLC received differ from the records, e.g. {differ[:3]}")
    if len(seqs) != len(set(seqs)):
        problems.append("the PLC received a sequence number twice")
    return problems, {seq: tuple(rest) for seq, rest in rows.items()}


def verdict(failures: list[str]) -> int:
    """Print each failure and the PASS/FAIL line; the exit code (0 pass, 1 fail)."""
    for failure in failures:
        print("FAIL:", failure)
    print("PASS" if not failures else f"FAIL ({len(failures)} problems)")
    return 0 if not failures else 1
