"""Measure the OPC UA output: every part of a run as a ResultReady event, the delay from verdict to event, and the
state machine through a PLC-link loss and back.

Usage: flock /tmp/cpu.lock .venv/bin/python tools/opcua_results.py [--parts 1000] [--rate-hz 25]
       [--security basic256sha256|none] [--outage-at 300] [--outage-s 5] [--data-dir DIR]

A station on the demo (demo model, demo frames replayed by a hardware-triggered camera at --rate-hz) is built
in this process by the station's own builder, with [opcua] enabled and a simulated PLC in another process.
An asyncua client runs in a third process (so that it does not share this one's interpreter): it logs in
(basic256sha256: as a station user made for the run), subscribes to ResultReady on the VisionSystem and to
its state machine's CurrentState, and writes what arrives with the time it arrived. The camera starts once
the client has subscribed. After --outage-at parts the PLC process is killed; --outage-s after the station
shows Error it is started again on the same port. Delay = arrival at the client - the part's CreationTime
(the moment its verdict was decided), both from this computer's clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hmi.demo.dataset import demo_frames_dir  # noqa: E402
from hmi.plant.opcua.model import NAMESPACE  # noqa: E402
from tests.support.cameras import HeldCamera  # noqa: E402

PY = sys.executable
PUBLISHING_MS = 20  # the client's subscription publishing interval


# --- the client process ------------------------------------------------------------------------
async def run_client(url: str, out: Path, user: str, pin: str, cert_file: str) -> None:
    """Subscribe and write one JSON line per event / state change until stdin closes."""
    from asyncua import Client, ua
    from asyncua.crypto import cert_gen
    from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
    from asyncua.crypto.uacrypto import CertProperties
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    lines = out.open("w", encoding="utf-8")

    class Handler:
        def event_notification(self, event) -> None:
            arrived = time.time()
            lines.write(json.dumps({"result": event.ResultId, "verdict": event.Verdict, "arrived": arrived,
                                    "created": event.CreationTime.replace(tzinfo=timezone.utc).timestamp()}) + "\n")

        def datachange_notification(self, node, value, data) -> None:
            lines.write(json.dumps({"state": value.Text, "arrived": time.time()}) + "\n")

        def status_change_notification(self, status) -> None:
            lines.write(json.dumps({"status": str(status.Status), "arrived": time.time()}) + "\n")

    client = Client(url)
    if cert_file:
        uri = "urn:opcua-results:client"
        key = cert_gen.generate_private_key()
        cert = cert_gen.generate_self_signed_app_certificate(
            key, "opcua_results client", {}, [x509.UniformResourceIdentifier(uri), x509.DNSName(socket.gethostname())],
            extended=[ExtendedKeyUsageOID.CLIENT_AUTH])
        client.application_uri = uri
        await client.set_security(SecurityPolicyBasic256Sha256,
                                  CertProperties(cert.public_bytes(serialization.Encoding.DER), "der"),
                                  CertProperties(cert_gen.dump_private_key_as_pem(key), "pem"),
                                  server_certificate=CertProperties(Path(cert_file).read_bytes(), "der"),
                                  mode=ua.MessageSecurityMode.SignAndEncrypt)
        client.set_user(user)
        client.set_password(pin)
    await client.connect()
    ns = await client.get_namespace_index(NAMESPACE)
    vs = await client.nodes.objects.get_child(f"{ns}:VisionSystem")
    subscription = await client.create_subscription(PUBLISHING_MS, Handler())
    await subscription.subscribe_events(vs, await client.nodes.base_event_type.get_child(
        f"{ns}:ResultReadyEventType"), queuesize=10_000)
    await subscription.subscribe_data_change(await vs.get_child([f"{ns}:VisionStateMachine", "0:CurrentState"]),
                                             queuesize=100)
    print("subscribed", flush=True)
    # The run ends with the station (and its server) stopping under this client: asyncua's client logs that
    # at length. What the run measures is in `out`.
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    await asyncio.to_thread(sys.stdin.read)  # until the tool closes our stdin (after the station stopped)
    lines.close()
    try:
        await client.disconnect()
    except Exception:  # noqa: BLE001
        pass


# --- the station process -----------------------------------------------------------------------
def start_plc(port: int) -> tuple[subprocess.Popen, int]:
    """The simulated PLC in its own process; its port."""
    proc = subprocess.Popen([PY, "-m", "hmi.plc.simulator", "--port", str(port)], stdout=subprocess.PIPE, text=True)
    ready = proc.stdout.readline()
    match = re.search(r":(\d+)$", ready.strip())
    if not match:
        raise SystemExit(f"the PLC simulator did not start: {ready!r}")
    return proc, int(match.group(1))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, what: str, timeout_s: float) -> None:
    """Wait for `condition()`; end the run naming `what` if it does not come within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q`-th percentile of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def measure(args: argparse.Namespace) -> int:
    """Run the station, the PLC outage and the client; print the report."""
    from hmi.config.loader import load_station
    from hmi.pipeline.outputs import StationState
    from hmi.station import build_station
    from hmi.store.database import database_path, open_database
    from hmi.store.users import Role, UserDirectory

    data = args.data_dir or Path(tempfile.mkdtemp(prefix="hmi-opcua-"))
    opcua_port = free_port()
    plc, plc_port = start_plc(0)
    user, pin = "admin", secrets.token_hex(8)
    if args.security == "basic256sha256":
        open_database(database_path(data)).close()
        users = UserDirectory(database_path(data))
        if users.get(user) is None:
            users.add(user, Role.ADMIN, pin, None)
        else:
            users.reset(user, pin, users.get(user), "opcua_results run")
        users.close()
    cfg = load_station(data, ["station.mode=production", "camera.kind=replay", "camera.trigger=hardware",
                              f"camera.rate_hz={args.rate_hz}", "plc.mode=s7", "plc.host=127.0.0.1",
                              f"plc.port={plc_port}", "plc.reconnect_max_s=1", "opcua.enabled=true",
                              "opcua.host=127.0.0.1", f"opcua.port={opcua_port}", f"opcua.security={args.security}"])
    camera = HeldCamera(demo_frames_dir(), args.rate_hz)
    station = build_station(cfg, data, source=camera, max_parts=args.parts)
    judged: list[tuple[int, float]] = []  # (seq, decided at)
    station.outlet.subscribe(lambda p: judged.append((p.seq, p.decision.decided_at.timestamp())) if p.seq else None)
    trace: list[tuple[float, str]] = []
    station.state.subscribe(lambda s: trace.append((time.time(), s.value)))
    events_file = data / "opcua-client.jsonl"
    client = None
    t0 = time.time()
    outage: dict[str, float] = {}
    try:
        station.start()
        output = station.outputs[0]
        wait_until(lambda: output.endpoint, "the OPC UA server", 60)
        cert = str(data / "opcua" / "server_cert.der") if args.security == "basic256sha256" else ""
        client = subprocess.Popen([PY, __file__, "--client", output.endpoint, "--out", str(events_file),
                                   "--user", user, "--pin", pin, "--cert", cert],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if client.stdout.readline().strip() != "subscribed":
            raise SystemExit("the OPC UA client did not subscribe")
        t0 = time.time()
        camera.line_runs.set()
        wait_until(lambda: len(judged) >= args.outage_at, f"{args.outage_at} parts", 600)
        plc.send_signal(signal.SIGKILL)
        plc.wait(10)
        outage["killed"] = time.time()
        wait_until(lambda: station.state.state() is StationState.ERROR, "the station in Error", 60)
        outage["error"] = time.time()
        time.sleep(args.outage_s)
        plc, _ = start_plc(plc_port)
        outage["restarted"] = time.time()
        wait_until(lambda: station.state.state() is StationState.OPERATIONAL, "the station Operational again", 60)
        outage["operational"] = time.time()
        if not station.wait_done(1200):
            raise SystemExit("the run did not finish")
    finally:
        station.stop()
        if client is not None:
            client.stdin.close()
            client.wait(30)
        plc.send_signal(signal.SIGTERM)
        plc.wait(30)
    report(args, station, judged, events_file, trace, outage, t0)
    if args.data_dir is None:
        shutil.rmtree(data, ignore_errors=True)
    return 0


def report(args, station, judged, events_file: Path, trace, outage: dict[str, float], t0: float) -> None:
    """Print what the client received against what the station judged."""
    lines = [json.loads(line) for line in events_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    events = [e for e in lines if "result" in e]
    states = [e for e in lines if "state" in e]
    received = [int(e["result"]) for e in events]
    seqs = [seq for seq, _ in judged]
    missing = sorted(set(seqs) - set(received))
    duplicates = len(received) - len(set(received))
    delays = [(e["arrived"] - e["created"]) * 1000.0 for e in events]
    counts = station.outlet.counts()
    refused = station.outputs[0].refused
    print(f"OPC UA results, security {args.security}, camera {args.rate_hz:g} Hz, client publishing "
          f"interval {PUBLISHING_MS} ms, run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"parts judged:          {len(seqs)} (OK {counts.ok}, NG {counts.ng}, HOLD {counts.hold}, "
          f"NOT_INSPECTED {counts.not_inspected})")
    print(f"events received:       {len(events)}")
    print(f"missing ResultIds:     {len(missing)}{' ' + str(missing[:20]) if missing else ''}")
    print(f"duplicate ResultIds:   {duplicates}")
    arrived = set(received)
    print(f"in verdict order:      {received == [seq for seq in seqs if seq in arrived]}")
    print(f"refused by the queue:  {refused}")
    if delays:
        print(f"delay verdict->event:  p50 {percentile(delays, 50):.1f} ms, p95 {percentile(delays, 95):.1f} ms, "
              f"p99 {percentile(delays, 99):.1f} ms, max {max(delays):.1f} ms, mean {statistics.fmean(delays):.1f} ms")
    print("state machine as the client read it (CurrentState):")
    for s in states:
        print(f"  {s['arrived'] - t0:8.2f} s  {s['state']}")
    print("PLC outage: killed at {:.2f} s, station Error after {:.2f} s, PLC restarted at {:.2f} s, "
          "Operational {:.2f} s after the restart".format(
              outage["killed"] - t0, outage["error"] - outage["killed"], outage["restarted"] - t0,
              outage["operational"] - outage["restarted"]))
    print("station state as the station set it: " + " -> ".join(f"{s} ({t - t0:.2f} s)" for t, s in trace))


def main() -> int:
    """Run the measurement (or, with --client, the client process)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", type=int, default=1000)
    ap.add_argument("--rate-hz", type=float, default=25.0, help="camera rate (parts per second)")
    ap.add_argument("--security", choices=["basic256sha256", "none"], default="basic256sha256")
    ap.add_argument("--outage-at", type=int, default=300, help="kill the PLC after this many parts")
    ap.add_argument("--outage-s", type=float, default=5.0, help="seconds in Error before the PLC comes back")
    ap.add_argument("--data-dir", type=Path, default=None, help="keep the run's data here (default: a temporary folder)")
    ap.add_argument("--client", default="", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--user", default="", help=argparse.SUPPRESS)
    ap.add_argument("--pin", default="", help=argparse.SUPPRESS)
    ap.add_argument("--cert", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        asyncio.run(run_client(args.client, args.out, args.user, args.pin, args.cert))
        return 0
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
