"""Plant drill: three demo stations replicate into one PostgreSQL, which is stopped for a while mid-run.

Usage: .venv/bin/python tools/plant_drill.py [--minutes 10] [--outage-s 60] [--stations 3] [--rate-hz 10] [--folder DIR]
Quick check: .venv/bin/python tools/plant_drill.py --minutes 2 --outage-s 20

Each station is its own `hmi run --headless` process on the demo product (simulated PLC, camera.rate_hz,
its own data folder) with [plant] pointed at one local PostgreSQL 16 (hmi.plant.local_server). Halfway
through, the server is stopped for --outage-s seconds and started again with the same data. Printed:

- each station's line throughput before, during and after the outage (parts per second by captured_at,
  from its own records): the line must not notice the plant;
- the catch-up time: from the server's return until the plant holds every part each station had
  recorded by then (it includes each station's reconnect back-off, up to plant.retry_max_s, shown
  per station as when its PLANT_DB alarm cleared);
- afterwards, from each station's SQLite: every part is in PostgreSQL exactly once and as recorded
  (verdict, PLC status), the station saw PLANT_DB raised and cleared, and every audit chain verifies
  from PostgreSQL alone.

Exit 1 when a check fails.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

from hmi.plant.local_server import LocalPostgres
from hmi.plant.verify import verify_plant
from hmi.store.database import iso_utc

PY = sys.executable


def _local(data: Path, sql: str, args: tuple = ()) -> list[tuple]:
    path = data / "hmi.db"
    if not path.exists():
        return []
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)) as conn:
        return conn.execute(sql, args).fetchall()


def _rate(data: Path, start: float, end: float) -> float:
    """Parts per second captured in [start, end) (Unix times), from the station's records."""
    a, b = (iso_utc(datetime.fromtimestamp(t, timezone.utc)) for t in (start, end))
    (n,) = _local(data, "SELECT count(*) FROM inspections WHERE captured_at >= ? AND captured_at < ?", (a, b))[0]
    return n / max(1e-9, end - start)


def _caught_up(server: LocalPostgres, stations: dict[str, Path], high: dict[str, int]) -> bool:
    """True when the plant holds every part each station had recorded up to `high`."""
    with server.admin("plant") as conn:
        for sid, data in stations.items():
            (here,) = _local(data, "SELECT count(*) FROM inspections WHERE seq <= ?", (high[sid],))[0]
            there = conn.execute("SELECT count(*) FROM parts WHERE station_id = %s AND seq <= %s",
                                 (sid, high[sid])).fetchone()[0]
            if there < here:
                return False
    return True


def _check_station(server: LocalPostgres, sid: str, data: Path) -> list[str]:
    """Every recorded part in the plant exactly once and as recorded; PLANT_DB raised and cleared."""
    problems = []
    here = {r[0]: r[1:] for r in _local(data, "SELECT seq, verdict, plc_status FROM inspections")}
    with server.admin("plant") as conn:
        rows = conn.execute("SELECT seq, verdict, plc_status FROM parts WHERE station_id = %s", (sid,)).fetchall()
    there = {r[0]: r[1:] for r in rows}
    if len(rows) != len(there):
        problems.append(f"{sid}: {len(rows) - len(there)} parts are in the plant more than once")
    missing = sorted(set(here) - set(there))
    if missing:
        problems.append(f"{sid}: {len(missing)} recorded parts are not in the plant (first {missing[:5]})")
    differ = sorted(s for s in set(here) & set(there) if here[s] != there[s])
    if differ:
        problems.append(f"{sid}: {len(differ)} parts differ from the records (first {differ[:5]}: "
                        f"{here[differ[0]]} here, {there[differ[0]]} in the plant)")
    extra = sorted(set(there) - set(here))
    if extra:
        problems.append(f"{sid}: {len(extra)} parts in the plant are not in the records")
    events = {e for (e,) in _local(data, "SELECT event FROM alarm_events WHERE code = 'PLANT_DB'")}
    if not {"raised", "cleared"} <= events:
        problems.append(f"{sid}: PLANT_DB events recorded: {sorted(events) or 'none'} (expected raised and cleared)")
    return problems


def main() -> int:
    """Run the drill; exit 1 when any check fails."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long the stations run")
    ap.add_argument("--outage-s", type=float, default=60.0, help="how long the PostgreSQL server is stopped, mid-run")
    ap.add_argument("--stations", type=int, default=3)
    ap.add_argument("--rate-hz", type=float, default=10.0, help="each station's camera rate")
    ap.add_argument("--folder", type=Path, default=None, help="where the server and stations keep their data")
    args = ap.parse_args()
    run_s = args.minutes * 60.0
    if args.outage_s >= run_s - 20:
        ap.error("the outage must leave at least 20 s of running around it")
    folder = args.folder or Path(tempfile.mkdtemp(prefix="hmi-plant-drill-"))
    password = secrets.token_urlsafe(16)
    server = LocalPostgres(folder / "postgres")
    server.start()
    server.create_role("hmi", password)
    server.create_database("plant", "hmi")
    print(f"PostgreSQL 16 at {server.url()} (data in {server.folder})", flush=True)

    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"} | {"HMI_PLANT_PASSWORD": password}
    stations = {f"DRILL-S{i}": folder / f"station{i}" for i in range(1, args.stations + 1)}
    procs = []
    for i, (sid, data) in enumerate(stations.items(), 1):
        cmd = [PY, "-m", "hmi", "run", "--headless", "--quit-after", str(run_s), "--data-dir", str(data)]
        for setting in ("plc.mode=simulated", f"camera.rate_hz={args.rate_hz}", f"plant.database={server.url()}",
                        f"plant.station_id={sid}", f"station.name=Drill station {i}", f"station.line=Line {1 + i % 2}"):
            cmd += ["--set", setting]
        log = open(folder / f"{sid}.out", "w")  # noqa: SIM115 - closed with the process below
        procs.append((sid, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
    started = time.time()
    print(f"{len(stations)} stations started at {args.rate_hz:g} parts/s each, for {args.minutes:g} min; "
          f"outage of {args.outage_s:g} s in the middle", flush=True)

    down_at = started + (run_s - args.outage_s) / 2
    time.sleep(max(0.0, down_at - time.time()))
    down_at = time.time()
    server.stop()
    print(f"t+{down_at - started:5.1f} s  PostgreSQL stopped", flush=True)
    time.sleep(max(0.0, down_at + args.outage_s - time.time()))
    server.start()
    up_at = time.time()
    print(f"t+{up_at - started:5.1f} s  PostgreSQL started again (same data, same port)", flush=True)
    high = {sid: (_local(data, "SELECT coalesce(max(seq), 0) FROM inspections")[0][0]) for sid, data in stations.items()}
    caught_up_at = None
    while time.time() < started + run_s:
        if _caught_up(server, stations, high):
            caught_up_at = time.time()
            break
        time.sleep(0.25)
    if caught_up_at:
        print(f"t+{caught_up_at - started:5.1f} s  the plant holds every part recorded before the server came back "
              f"(catch-up {caught_up_at - up_at:.1f} s; {sum(high.values())} parts by then)", flush=True)
    else:
        print("the plant did NOT catch up before the stations stopped", flush=True)

    failures = []
    for sid, proc, log in procs:
        try:
            rc = proc.wait(timeout=run_s + 120 - (time.time() - started))
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        log.close()
        if rc != 0:
            failures.append(f"{sid}: `hmi run` ended with {rc} (see {folder / (sid + '.out')})")
    ended = time.time()

    print()
    print(f"{'station':<10} {'parts':>6} {'before':>8} {'during':>8} {'after':>8}   (parts/s by captured_at)"
          "   PLANT_DB cleared (s after the server's return: the reconnect back-off)")
    for sid, data in stations.items():
        first = _local(data, "SELECT min(captured_at) FROM inspections")[0][0]
        t0 = datetime.fromisoformat(first).timestamp() if first else started
        (parts,) = _local(data, "SELECT count(*) FROM inspections")[0]
        last = _local(data, "SELECT max(captured_at) FROM inspections")[0][0]
        t_end = datetime.fromisoformat(last).timestamp() if last else ended
        cleared = _local(data, "SELECT min(at) FROM alarm_events WHERE code = 'PLANT_DB' AND event = 'cleared'")[0][0]
        back = f"{datetime.fromisoformat(cleared).timestamp() - up_at:.1f}" if cleared else "never"
        print(f"{sid:<10} {parts:>6} {_rate(data, t0, down_at):>8.2f} {_rate(data, down_at, up_at):>8.2f} "
              f"{_rate(data, up_at, t_end):>8.2f}   {back:>8}")
        failures += _check_station(server, sid, data)

    with server.admin("plant") as conn:
        checks = verify_plant(conn)
        total, distinct = conn.execute("SELECT count(*), count(DISTINCT (station_id, seq)) FROM parts").fetchone()
    print()
    print(f"plant database: {total} parts ({distinct} distinct station+seq) from {len(checks)} stations")
    for check in checks:
        print(f"  audit {check.line()}")
        if not check.ok:
            failures.append(f"{check.station_id}: audit chain broken in the plant")
    status = subprocess.run([PY, "-m", "hmi", "plant", "status", "--data-dir", str(stations["DRILL-S1"]),
                             "--set", f"plant.database={server.url()}", "--set", "plant.station_id=DRILL-S1"],
                            capture_output=True, text=True, env=env, timeout=120)
    print()
    print("$ hmi plant status (on DRILL-S1)")
    print(status.stdout.rstrip() or status.stderr.rstrip())
    server.stop()
    print()
    if failures:
        print("DRILL FAILED:")
        for f in failures:
            print(f"  {f}")
        return 1
    print(f"DRILL PASSED: every part of every station is in PostgreSQL exactly once, as recorded "
          f"(data in {folder})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
