"""Kill the station with SIGKILL at random moments, many times, and check nothing the PLC saw was lost.

Usage: .venv/bin/python tools/sigkill_drill.py --rounds 200 [--data-dir DIR]

A simulated PLC runs in its own process for the whole drill (as a real PLC would). Each round starts
`hmi run --headless` against it, kills it with SIGKILL after a random delay, then checks the records:
`PRAGMA integrity_check` is ok, the audit chain verifies, and no sequence number was used twice.
At the end every result the PLC received must be in the database with the same verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable


def main() -> int:
    """Run the drill; exit 1 when any check fails."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--max-delay", type=float, default=4.0, help="longest run before the kill, seconds")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="hmi-kill-"))
    record = data.parent / (data.name + "-plc.json")
    plc = subprocess.Popen([PY, "-m", "hmi.plc.simulator", "--port", "0", "--record", str(record)],
                           stdout=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+)", plc.stdout.readline()).group(1))
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    cmd = [PY, "-m", "hmi", "run", "--headless", "--data-dir", str(data), "--set", "plc.mode=s7",
           "--set", "plc.host=127.0.0.1", "--set", f"plc.port={port}", "--set", "camera.rate_hz=0"]
    failures: list[str] = []
    t_start = time.monotonic()
    for r in range(1, args.rounds + 1):
        delay = rng.uniform(0.2, args.max_delay)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(delay)
        if proc.poll() is not None:
            failures.append(f"round {r}: station exited by itself with {proc.returncode}: {proc.stderr.read()[-500:]}")
            continue
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        db = data / "hmi.db"
        if db.exists():
            conn = sqlite3.connect(db)
            try:
                ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
                dup = conn.execute("SELECT count(*) - count(DISTINCT seq) FROM inspections").fetchone()[0]
                n = conn.execute("SELECT count(*) FROM inspections").fetchone()[0]
            finally:
                conn.close()
            if ok != "ok":
                failures.append(f"round {r}: integrity_check says {ok}")
            if dup:
                failures.append(f"round {r}: {dup} sequence numbers repeated")
        else:
            n = 0
        audit = subprocess.run([PY, "-m", "hmi", "audit", "verify", "--data-dir", str(data)], capture_output=True, text=True)
        if db.exists() and audit.returncode != 0:
            failures.append(f"round {r}: audit verify failed: {audit.stdout.strip()}")
        if r % 10 == 0 or r == args.rounds:
            print(f"round {r}/{args.rounds}: killed after {delay:.1f} s; {n} parts recorded so far; "
                  f"{len(failures)} failures", flush=True)
    plc.send_signal(signal.SIGTERM)
    plc.wait(timeout=30)
    seen = json.loads(record.read_text())["results"]
    conn = sqlite3.connect(data / "hmi.db")
    rows = dict(conn.execute("SELECT seq, auto_verdict FROM inspections").fetchall())
    total = conn.execute("SELECT count(*) FROM inspections").fetchone()[0]
    conn.close()
    missing = [s for s in seen if s["seq"] not in rows]
    mismatched = [s for s in seen if s["seq"] in rows and rows[s["seq"]] != s["verdict"]]
    plc_seqs = [s["seq"] for s in seen]
    if missing:
        failures.append(f"{len(missing)} results the PLC received are not in the database, e.g. {missing[:3]}")
    if mismatched:
        failures.append(f"{len(mismatched)} results differ from the database, e.g. {mismatched[:3]}")
    if len(plc_seqs) != len(set(plc_seqs)):
        failures.append("the PLC received a sequence number twice")
    final = subprocess.run([PY, "-m", "hmi", "run", "--headless", "--max-parts", "5", "--data-dir", str(data),
                            "--set", "plc.mode=simulated"], capture_output=True, text=True, env=env)
    if final.returncode != 0:
        failures.append(f"station did not restart cleanly: {final.stderr[-500:]}")
    print(f"{args.rounds} SIGKILLs in {time.monotonic() - t_start:.0f} s: the PLC received {len(seen)} results, "
          f"all {len(seen) - len(missing)} found in the database with the same verdict; {total} parts recorded; "
          f"clean restart: {'yes' if final.returncode == 0 else 'NO'}")
    for f in failures:
        print("FAIL:", f)
    print("PASS" if not failures else f"{len(failures)} FAILURES")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
