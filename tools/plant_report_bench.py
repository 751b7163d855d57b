"""Plant report bench: how long `hmi plant report` takes on a year of a dozen stations, and what it reads.

Usage: .venv/bin/python tools/plant_report_bench.py [--folder DIR] [--stations 12] [--seconds-per-part 60]
Quick check: .venv/bin/python tools/plant_report_bench.py --stations 4 --seconds-per-part 600

A local PostgreSQL 16 (hmi.plant.local_server) in --folder gets the plant schema (hmi.plant.database.migrate),
monthly partitions for a year (ensure_partitions, as the replication makes them) and a year of parts from
--stations stations on 3 lines, generated inside PostgreSQL one month per statement: a verdict mix with
reviewed holds, overrides both ways, NOT INSPECTED parts, a defect type or a region label for rejects,
shift name and start as the stations' calendars give them (06/14/22 UTC), two model versions. The data
stay in the folder; a second run with the same arguments reuses them.

Then it builds the plant report (hmi.plant.reports.build_plant_report, as `hmi plant report` does, in one
read-only snapshot) for windows from one shift to the whole year, for the plant, one line and one station,
and prints the time each takes, the parts counted and the partitions PostgreSQL's plan reads.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from hmi.plant.database import connect, ensure_partitions, migrate
from hmi.plant.local_server import LocalPostgres
from hmi.plant.reports import COMMAND_TIMEOUT_S, build_plant_report, explain_report

YEAR = 2025
ROLE = "hmi"

# One month of one station's parts, made by generate_series; every random draw is one column of `r`.
_FILL = """
INSERT INTO parts (station_id, seq, line, shift, shift_start, captured_at, decided_at, recipe, model_name,
                   model_sha256, threshold_version, backend, score, auto_verdict, verdict, reason, reviewed_by,
                   defect_type, plc_status)
SELECT %(station)s, %(seq0)s + n, %(line)s,
       (ARRAY['Early', 'Late', 'Night'])[1 + floor(extract(hour FROM t - interval '6 hours') / 8)::int],
       date_trunc('day', t - interval '6 hours') + interval '6 hours'
           + floor(extract(hour FROM t - interval '6 hours') / 8) * interval '8 hours',
       t, t + interval '40 milliseconds', %(recipe)s, %(model_name)s,
       CASE WHEN t < %(switch)s THEN %(model_a)s ELSE %(model_b)s END, 1, 'cpu',
       CASE WHEN r.v < 0.005 THEN NULL ELSE 19.5 + r.s * 2 END,
       CASE WHEN r.v < 0.005 THEN 'NOT_INSPECTED' WHEN r.v < 0.060 THEN 'NG' WHEN r.v < 0.080 THEN 'HOLD'
            ELSE 'OK' END,
       CASE WHEN r.v < 0.005 THEN 'NOT_INSPECTED' WHEN r.v < 0.052 THEN 'NG' WHEN r.v < 0.060 THEN 'OK'
            WHEN r.v < 0.072 THEN 'NG' WHEN r.v < 0.0798 THEN 'OK' WHEN r.v < 0.080 THEN 'HOLD'
            WHEN r.v < 0.0803 THEN 'NG' ELSE 'OK' END,
       '',
       CASE WHEN r.v >= 0.052 AND r.v < 0.060 THEN 'anna' WHEN r.v >= 0.060 AND r.v < 0.0798 THEN 'ben'
            WHEN r.v >= 0.080 AND r.v < 0.0803 THEN 'carla' END,
       CASE WHEN r.v >= 0.060 AND r.v < 0.072 THEN (ARRAY['crack', 'dent'])[1 + (n %% 2)]
            WHEN r.v >= 0.080 AND r.v < 0.0803 THEN 'contamination' END,
       'delivered'
FROM generate_series(0, %(count)s - 1) AS n,
     LATERAL (SELECT %(first)s::timestamptz + n * %(step)s * interval '1 second' AS t) AS tt,
     LATERAL (SELECT random() AS v, random() AS s, n AS k) AS r  -- n keeps the draws per row
"""
_REGIONS = """
INSERT INTO regions (station_id, seq, idx, captured_at, x, y, w, h, area_px, label)
SELECT station_id, seq, 0, captured_at, 10, 10, 30, 20, 600,
       (ARRAY['scratch', 'anomaly', 'dent', 'scratch'])[1 + seq %% 4]
FROM parts WHERE verdict = 'NG' AND defect_type IS NULL AND captured_at >= %(first)s AND captured_at < %(end)s
  AND station_id = %(station)s
"""


def _months() -> list[date]:
    return [date(YEAR, m, 1) for m in range(1, 13)]


def _month_end(month: date) -> datetime:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return datetime(following.year, following.month, 1, tzinfo=timezone.utc)


def fill(server: LocalPostgres, db: str, password: str, stations: int, step_s: int) -> None:
    """Schema, partitions and a year of parts (skipped when the database already holds them)."""
    from hmi.config.schema import PlantConfig

    plant = PlantConfig(database=server.url(ROLE, db), station_id="BENCH")
    os.environ["HMI_PLANT_PASSWORD"] = password
    with connect(plant) as conn:
        migrate(conn)
        ensure_partitions(conn, _months())
        with conn.transaction():
            have = conn.execute("SELECT count(*) FROM stations").fetchone()[0]
    if have == stations:
        print(f"reusing the {stations} stations' year already in {server.folder}", flush=True)
        return
    with server.admin(db) as admin:
        started = time.perf_counter()
        per_month = 0
        for i in range(stations):
            station, line = f"L{i % 3 + 1}-S{i // 3 + 1:02d}", f"L{i % 3 + 1}"
            seq0 = 0
            for month in _months():
                first = datetime(month.year, month.month, 1, tzinfo=timezone.utc) + timedelta(seconds=7 * i)
                count = int((_month_end(month) - first).total_seconds() // step_s)
                args = {"station": station, "line": line, "seq0": seq0, "first": first, "step": step_s,
                        "count": count, "recipe": "demo" if i % 3 else "flange-b",
                        "model_name": "demo-part" if i % 3 else "flange-b",
                        "model_a": "a" * 64 if i % 3 else "b" * 64, "model_b": "a2" * 32 if i % 3 else "b2" * 32,
                        "switch": datetime(YEAR, 7, 1, tzinfo=timezone.utc), "end": _month_end(month)}
                admin.execute(_FILL, args)
                admin.execute(_REGIONS, args)
                seq0 += count
                per_month = count
            admin.execute("INSERT INTO stations (station_id, name, line, last_seen, local_high_seq, local_high_at) "
                          "VALUES (%s, %s, %s, now(), %s, %s)", (station, station, line, seq0,
                                                                 _month_end(date(YEAR, 12, 1)) - timedelta(seconds=60)))
            print(f"  {station}: {seq0:,} parts ({per_month:,} in December) after "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
        admin.execute("ANALYZE parts")
        admin.execute("ANALYZE regions")


def measure(server: LocalPostgres, db: str) -> None:
    """Build the report for windows from a shift to a year; print time, parts and partitions read."""
    from hmi.config.schema import PlantConfig

    plant = PlantConfig(database=server.url(ROLE, db), station_id="BENCH")
    utc = timezone.utc
    windows = [
        ("one shift", datetime(YEAR, 11, 12, 6, tzinfo=utc), datetime(YEAR, 11, 12, 14, tzinfo=utc), None, None),
        ("one day", datetime(YEAR, 11, 12, tzinfo=utc), datetime(YEAR, 11, 13, tzinfo=utc), None, None),
        ("one week", datetime(YEAR, 11, 10, tzinfo=utc), datetime(YEAR, 11, 17, tzinfo=utc), None, None),
        ("one week, one line", datetime(YEAR, 11, 10, tzinfo=utc), datetime(YEAR, 11, 17, tzinfo=utc), "L2", None),
        ("one month", datetime(YEAR, 11, 1, tzinfo=utc), datetime(YEAR, 12, 1, tzinfo=utc), None, None),
        ("one month, one station", datetime(YEAR, 11, 1, tzinfo=utc), datetime(YEAR, 12, 1, tzinfo=utc), None,
         "L1-S01"),
        ("a quarter", datetime(YEAR, 10, 1, tzinfo=utc), datetime(YEAR + 1, 1, 1, tzinfo=utc), None, None),
        ("the year", datetime(YEAR, 1, 1, tzinfo=utc), datetime(YEAR + 1, 1, 1, tzinfo=utc), None, None),
    ]
    with connect(plant) as conn:
        total = conn.execute("SELECT count(*) FROM parts").fetchone()[0]
        conn.commit()
        print(f"\nplant database: {total:,} parts of "
              f"{conn.execute('SELECT count(*) FROM stations').fetchone()[0]} stations; "
              f"statement timeout {COMMAND_TIMEOUT_S:.0f} s", flush=True)
        conn.commit()
        print(f"{'window':<24} {'parts':>12} {'seconds':>8}  partitions of parts read")
        for name, start, end, line, station in windows:
            conn.read_only = True
            with conn.transaction():
                conn.execute(f"SET LOCAL statement_timeout = {int(COMMAND_TIMEOUT_S * 1000)}")
                plan = explain_report(conn, start, end, line=line, station=station)
                t0 = time.perf_counter()
                report = build_plant_report(conn, start, end, tz_name="UTC", line=line, station=station)
                took = time.perf_counter() - t0
            read = sorted(set(re.findall(r"\bparts_(\d{4}_\d{2}|default)\b", plan)))
            print(f"{name:<24} {report.parts:>12,} {took:>8.2f}  {', '.join(read)}", flush=True)


def main() -> int:
    """Fill (once) and measure."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, default=Path("/tmp/plant-report-bench"))
    ap.add_argument("--stations", type=int, default=12)
    ap.add_argument("--seconds-per-part", type=int, default=60, help="each station's pace (60: a part a minute)")
    args = ap.parse_args()
    server = LocalPostgres(args.folder / "postgres")
    server.start()
    secret = args.folder / "password"
    if not secret.exists():
        secret.write_text(secrets.token_urlsafe(18), encoding="utf-8")
        secret.chmod(0o600)
    password = secret.read_text(encoding="utf-8").strip()
    db = f"bench_{args.stations}_{args.seconds_per_part}"
    try:
        server.create_role(ROLE, password)
        server.create_database(db, ROLE)
        fill(server, db, password, args.stations, args.seconds_per_part)
        measure(server, db)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
