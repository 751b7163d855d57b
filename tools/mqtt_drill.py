"""MQTT must-show: 1,000 parts from a station on the demo reach a subscriber across a broker restart mid-run.

Usage: .venv/bin/python tools/mqtt_drill.py [--parts 1000] [--rate 20] [--outage-at 300] [--outage-s 8]

A station on the demo (pylon's emulated camera with the demo images, the demo model and recipe, PLC off, records in
a temporary folder) judges --parts parts with [mqtt] pointed at an amqtt broker in another process
(tests/support/mqtt_broker.py). A paho subscriber with a persistent session (the plant) keeps every result. Once
it has --outage-at results, the broker is killed (SIGKILL, a crash), kept down --outage-s seconds and started again
on the same port. Reported: parts judged and recorded, messages received, distinct seqs, duplicates, missing (must
be 0), and the delay from the part's decision to its arrival at the subscriber (p50/p99) for the parts decided
outside the outage (from the kill until the station had sent everything it kept). Exit status 1 when a part is
missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("PYLON_CAMEMU", "1")


def _recorded(data: Path) -> set[int]:
    conn = sqlite3.connect(f"file:{data / 'hmi.db'}?mode=ro", uri=True)
    try:
        return {seq for (seq,) in conn.execute("SELECT seq FROM inspections")}
    finally:
        conn.close()


def _wait(cond, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def main() -> int:
    """Run the drill and print the report; 1 when any part is missing at the subscriber."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=20.0, help="the camera's trigger rate, parts per second")
    ap.add_argument("--outage-at", type=int, default=300, help="results received before the broker is killed")
    ap.add_argument("--outage-s", type=float, default=8.0, help="how long the broker stays down")
    ap.add_argument("--keep", action="store_true", help="keep the station's data and the broker's logs")
    args = ap.parse_args()

    from hmi.config.loader import load_station
    from hmi.core.alarm_catalogue import MQTT_LINK
    from hmi.station import build_station
    from tests.support.mqtt_broker import MqttBroker, PartsSubscriber

    work = Path(tempfile.mkdtemp(prefix="hmi-mqtt-drill-"))
    data = work / "data"
    broker = MqttBroker(work / "broker").start()
    plant = PartsSubscriber(broker, topic="drill/#", client_id="plant-drill", username="plant", persistent=True)
    cfg = load_station(data, ["plc.mode=off", f"camera.rate_hz={args.rate}", f"mqtt.url={broker.url}",
                              "mqtt.topic_prefix=drill", "plant.station_id=DRILL-1"])
    station = build_station(cfg, data, max_parts=args.parts)
    link_alarms: list[bool] = []  # MQTT_LINK going active (True) and clearing (False)

    def note(alarm) -> None:
        if alarm.code == MQTT_LINK.code and (not link_alarms or link_alarms[-1] != alarm.active):
            link_alarms.append(alarm.active)

    station.alarms.subscribe(note)
    output = station.outputs[0]
    print(f"station on the demo: {args.parts} parts at {args.rate:g}/s, MQTT to {broker.url}", flush=True)
    t0 = time.monotonic()
    station.start()
    try:
        if not _wait(lambda: len(set(plant.seqs())) >= args.outage_at, 300):
            print("FAILED: the first results did not arrive")
            return 1
        kept_before = len(set(plant.seqs()))
        t_down = time.time()
        broker.stop()
        print(f"broker killed (SIGKILL) after {kept_before} results; down for {args.outage_s:g} s", flush=True)
        time.sleep(args.outage_s)  # the outage itself (a drill, not a test)
        judged_while_down = station.outlet.counts().total
        buffered_at_restart = output.counts().buffered
        broker.start()
        t_up = time.time()
        _wait(lambda: output.counts().connected and output.counts().buffered == 0, 120)
        t_drained = time.time()
        print(f"broker back after {t_up - t_down:.1f} s with {buffered_at_restart} results kept at the station; "
              f"the station reconnected (it retries every 5 s at most) and had sent them all {t_drained - t_up:.1f} s "
              "later", flush=True)
        _wait(lambda: station.outlet.counts().total >= args.parts, 600)
        _wait(lambda: len(_recorded(data)) >= args.parts, 60)
        recorded = _recorded(data)
        _wait(lambda: set(plant.seqs()) >= recorded, 60)
        time.sleep(1.0)  # late duplicates, if any, are counted too
    finally:
        station.stop()
        plant.close()
        broker.stop()
    wall = time.monotonic() - t0
    counts = output.counts()
    results = plant.on("/result")
    seqs = [m.payload["seq"] for m in results]
    distinct = set(seqs)
    missing = sorted(recorded - distinct)
    first: dict[int, tuple[float, float]] = {}
    for m in results:
        if m.payload["seq"] not in first:
            decided = datetime.fromisoformat(m.payload["decided_at"].replace("Z", "+00:00")).timestamp()
            first[m.payload["seq"]] = (decided, m.at)
    outside = [(at - decided) * 1000 for decided, at in first.values() if not t_down <= decided <= t_drained]
    inside = [(at - decided) * 1000 for decided, at in first.values() if t_down <= decided <= t_drained]
    print(f"parts judged            {station.outlet.counts().total}")
    print(f"parts recorded          {len(recorded)}")
    print(f"messages received       {len(seqs)}")
    print(f"distinct seqs           {len(distinct)}")
    print(f"duplicates              {len(seqs) - len(distinct)}  (results the station sent again after the restart: "
          f"{counts.replayed})")
    print(f"missing                 {len(missing)}{'  ' + str(missing[:20]) if missing else ''}")
    print(f"not recorded, received  {len(distinct - recorded)}")
    print(f"dropped at the station  {counts.dropped}  (buffer limit {cfg.mqtt.buffer_limit})")
    print(f"MQTT_LINK               raised {link_alarms.count(True)}, cleared {link_alarms.count(False)} time(s); "
          f"station logins {counts.connections}")
    print(f"parts decided during the outage (kill until all kept were sent): {len(inside)}; parts judged when the "
          f"broker came back: {judged_while_down}")
    print(f"delay decision -> subscriber, outside the outage ({len(outside)} parts): "
          f"p50 {_percentile(outside, .5):.1f} ms, p99 {_percentile(outside, .99):.1f} ms, "
          f"max {max(outside, default=float('nan')):.1f} ms")
    if inside:
        print(f"delay for parts decided during the outage: p50 {_percentile(inside, .5):.0f} ms, "
              f"max {max(inside):.0f} ms")
    print(f"wall time {wall:.1f} s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
