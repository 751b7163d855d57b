"""Kill the station with SIGKILL at random moments, many times, and check nothing the PLC saw was lost.

Usage: .venv/bin/python tools/sigkill_drill.py --rounds 200 [--data-dir DIR]

A simulated PLC runs in its own process for the whole drill (as a real PLC would). Each round starts
`hmi run --headless` against it, kills it with SIGKILL after a random delay, then checks the records:
`PRAGMA integrity_check` is ok, the audit chain verifies, and no sequence number was used twice.
At the end every result the PLC received must be in the database with the same verdict.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from drill_support import ENV, PY, PlcProcess, plc_against_records, records_problems, station_command, verdict


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
    plc = PlcProcess(data.parent / (data.name + "-plc.json"))
    cmd = station_command(data, plc.port, "camera.rate_hz=0")
    failures: list[str] = []
    t_start = time.monotonic()
    for r in range(1, args.rounds + 1):
        delay = rng.uniform(0.2, args.max_delay)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
        time.sleep(delay)
        if proc.poll() is not None:
            failures.append(f"round {r}: station exited by itself with {proc.returncode}: {proc.stderr.read()[-500:]}")
            continue
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        problems, n = records_problems(data)
        failures += [f"round {r}: {p}" for p in problems]
        if r % 10 == 0 or r == args.rounds:
            print(f"round {r}/{args.rounds}: killed after {delay:.1f} s; {n} parts recorded so far; "
                  f"{len(failures)} failures", flush=True)
    seen = plc.stop()
    problems, rows = plc_against_records(seen, data / "hmi.db")
    failures += problems
    missing = sum(1 for s in seen if s["seq"] not in rows)
    final = subprocess.run([PY, "-m", "hmi", "run", "--headless", "--max-parts", "5", "--data-dir", str(data),
                            "--set", "plc.mode=simulated"], capture_output=True, text=True, env=ENV)
    if final.returncode != 0:
        failures.append(f"station did not restart cleanly: {final.stderr[-500:]}")
    print(f"{args.rounds} SIGKILLs in {time.monotonic() - t_start:.0f} s: the PLC received {len(seen)} results, "
          f"all {len(seen) - missing} found in the database with the same verdict; {len(rows)} parts recorded; "
          f"clean restart: {'yes' if final.returncode == 0 else 'NO'}")
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
