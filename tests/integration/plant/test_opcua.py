"""The station's OPC UA server (OPC 40100 shape) read by asyncua's own client: a real station on the tiny model,
its camera replaying frames, a simulated PLC in another process where the PLC matters.

The camera is held closed (a hardware-triggered replay that gives no frame) until the client has subscribed,
so "every part" means every part the station judged. A client still connected when the station stops sees the
server go away: asyncua's client logs that at ERROR ("Publish iteration crashed"), which those tests expect.
"""

from __future__ import annotations

import asyncio
import math
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from asyncua import Client, ua
from asyncua.crypto import cert_gen
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.crypto.uacrypto import CertProperties
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from hmi.core.errors import PermissionDenied
from hmi.core.messages import TIMEOUT_REVIEWER
from hmi.core.part import Part
from hmi.core.verdict import Verdict
from hmi.plant.opcua.model import NAMESPACE
from hmi.plant.opcua.security import server_identity
from hmi.station import Station
from tests.support.cameras import HeldCamera
from tests.support.stations import PIN, replay_station, write_frames
from tests.support.waiting import wait_for

CLIENT_GONE = "Publish iteration crashed"  # asyncua's client, when the server it is subscribed to stops
REFUSED = "sending service fault response"   # asyncua's server, each time it refuses a request (a login here)


class Seen:
    """What a client's subscription received: ResultReady events and CurrentState values, in order."""

    def __init__(self) -> None:
        self.events: list = []
        self.states: list[str] = []

    def event_notification(self, event) -> None:
        self.events.append(event)

    def datachange_notification(self, node, value, data) -> None:
        self.states.append(value.Text)

    def status_change_notification(self, status) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(condition: Callable[[], object], what: str, timeout_s: float = 30.0):
    """wait_for on the client's event loop: the condition's first true value, or the test fails naming `what`."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return value


def opcua_station(root: Path, tiny_model: Path, port: int, kinds: list[str], *, security: str = "none",
                  settings: tuple[str, ...] = (), **build) -> Station:
    """A station on the tiny model with [opcua] on 127.0.0.1:`port`, not started."""
    return replay_station(root, tiny_model, kinds, overrides=[
        "opcua.enabled=true", "opcua.host=127.0.0.1", f"opcua.port={port}", f"opcua.security={security}", *settings],
        **build)


async def vision_system(client: Client):
    ns = await client.get_namespace_index(NAMESPACE)
    return ns, await client.nodes.objects.get_child(f"{ns}:VisionSystem")


async def watch(client: Client, seen: Seen, *, events: bool = True):
    """Subscribe `seen` to ResultReady (on the VisionSystem) and to the state machine's CurrentState."""
    ns, vs = await vision_system(client)
    subscription = await client.create_subscription(10, seen)
    if events:
        await subscription.subscribe_events(vs, await client.nodes.base_event_type.get_child(
            f"{ns}:ResultReadyEventType"))
    await subscription.subscribe_data_change(
        await vs.get_child([f"{ns}:VisionStateMachine", "0:CurrentState"]))
    return subscription


def _endpoint(station: Station) -> str:
    return station.outputs[0].endpoint


@pytest.mark.expected_errors(CLIENT_GONE)
def test_every_part_reaches_a_resultready_subscriber_in_order_with_its_fields(tmp_path, tiny_model):
    kinds = ["ok", "ng", "hold", "ok"]
    camera = HeldCamera(write_frames(tmp_path / "frames", kinds), rate_hz=50.0)
    station = opcua_station(tmp_path, tiny_model, free_port(), kinds, settings=(
        "camera.trigger=hardware", "opcua.results_kept=10"), source=camera, max_parts=24)
    judged: list[Part] = []
    station.outlet.subscribe(judged.append)
    station.start()
    try:
        asyncio.run(_every_part(station, camera, judged))
    finally:
        station.stop()
    assert not station.alarms.is_active("OPCUA_INSECURE")


async def _every_part(station: Station, camera: HeldCamera, judged: list[Part]) -> None:
    url = await until(lambda: _endpoint(station), "the OPC UA server to listen")
    assert station.alarms.is_active("OPCUA_INSECURE")  # security none: the warning on every screen
    seen = Seen()
    async with Client(url) as client:
        ns, vs = await vision_system(client)
        names = {(await n.read_browse_name()).Name for n in await vs.get_children()}
        assert names == {"VisionStateMachine", "ResultManagement", "Station"}
        machine = await vs.get_child(f"{ns}:VisionStateMachine")
        current = await machine.get_child("0:CurrentState")
        assert (await current.read_value()).Text == "Operational"
        assert await (await current.get_child("0:Id")).read_value() == (
            await machine.get_child(f"{ns}:Operational")).nodeid
        assert await (await current.get_child("0:Number")).read_value() == 4
        station_node = await vs.get_child(f"{ns}:Station")
        assert await (await station_node.get_child(f"{ns}:Line")).read_value() == station.cfg.station.line
        await watch(client, seen)
        camera.line_runs.set()
        assert station.wait_done(60)
        await until(lambda: len(seen.events) >= 24, "a ResultReady event for each of the 24 parts")

        assert [int(e.ResultId) for e in seen.events] == [p.seq for p in judged]
        assert {e.Verdict for e in seen.events} == {"OK", "NG", "HOLD"}
        for event, part in zip(seen.events, judged):
            assert event.Verdict == part.verdict.name and event.VerdictCode == int(part.verdict)
            assert math.isclose(event.Score, part.inspection.score, rel_tol=1e-6)
            assert event.CreationTime == part.decision.decided_at and event.Time == part.decision.decided_at
            held = part.verdict.name == "HOLD"  # partial (ResultState Processing) until its review
            assert (event.ResultState, event.IsPartial, event.IsSimulated) == ((2, True, True) if held else
                                                                               (1, False, True))
            assert (event.AutoVerdict, event.ReviewedBy, event.ReviewedAutomatically) == (part.verdict.name, "", False)
            assert (event.InternalRecipeId, event.ThresholdVersion) == ("ui-test", part.decision.threshold_version)
            assert (event.ModelName, event.ModelSha256) == ("tiny", part.inspection.model_sha256)
            assert event.SourceName == "VisionSystem" and str(part.seq) in event.Message.Text

        # The result management keeps the newest results_kept (10), each in slot ResultId mod 10.
        results = await vs.get_child([f"{ns}:ResultManagement", f"{ns}:Results"])
        slots = await results.get_children()
        kept = sorted([int(await s.read_value()) for s in slots])
        assert kept == [p.seq for p in judged[-10:]]
        newest = judged[-1]
        slot = await results.get_child(f"{ns}:Result_{newest.seq % 10}")
        assert await (await slot.get_child(f"{ns}:Verdict")).read_value() == newest.verdict.name
        assert (await slot.read_display_name()).Text == f"Result {newest.seq}"
        published = await station_node.get_child(f"{ns}:ResultsPublished")
        deadline = time.monotonic() + 10
        while await published.read_value() < 24:  # brought up to date once a second
            assert time.monotonic() < deadline, "ResultsPublished did not reach 24"
            await asyncio.sleep(0.05)
        assert seen.states == ["Operational"]
        await asyncio.to_thread(station.stop)
    assert seen.states[-1] == "Halted"  # sent before the server closed


@pytest.mark.expected_errors(CLIENT_GONE)
def test_a_hold_part_is_a_partial_result_until_an_operators_review_makes_it_final(tmp_path, tiny_model):
    kinds = ["hold", "ok"]
    camera = HeldCamera(write_frames(tmp_path / "frames", kinds), rate_hz=50.0)
    station = opcua_station(tmp_path, tiny_model, free_port(), kinds, settings=(
        "camera.trigger=hardware", "opcua.results_kept=10"), source=camera, max_parts=2)
    station.start()
    try:
        asyncio.run(_operator_review(station, camera))
    finally:
        station.stop()


async def _operator_review(station: Station, camera: HeldCamera) -> None:
    url = await until(lambda: _endpoint(station), "the OPC UA server to listen")
    seen = Seen()
    async with Client(url) as client:
        await watch(client, seen)
        camera.line_runs.set()
        await until(lambda: len(seen.events) >= 2, "both parts as ResultReady events")
        partial = next(e for e in seen.events if e.Verdict == "HOLD")
        seq = int(partial.ResultId)
        assert (partial.IsPartial, partial.ResultState, partial.ReviewedBy) == (True, 2, "")
        ns, vs = await vision_system(client)
        slot = await vs.get_child([f"{ns}:ResultManagement", f"{ns}:Results", f"{ns}:Result_{seq % 10}"])
        assert await (await slot.get_child(f"{ns}:IsPartial")).read_value() is True

        await until(lambda: station.holds.pending(), "the HOLD part on the review list")
        olga = await asyncio.to_thread(station.users.authenticate, "olga", PIN["olga"])
        review = await asyncio.to_thread(station.review, seq, Verdict.OK, olga)
        await until(lambda: len(seen.events) >= 3, "the final result as a third ResultReady event")
        final = seen.events[2]
        assert (final.ResultId, final.IsPartial, final.ResultState) == (str(seq), False, 1)
        assert (final.Verdict, final.VerdictCode, final.AutoVerdict) == ("OK", 1, "HOLD")
        assert (final.ReviewedBy, final.ReviewedAutomatically, final.Reason) == ("olga", False, "reviewed by olga")
        assert final.CreationTime == review.reviewed_at and final.Time == review.reviewed_at
        assert (final.Score, final.CaptureTime, final.InternalRecipeId) == (
            partial.Score, partial.CaptureTime, partial.InternalRecipeId)
        assert final.Message.Text == f"part {seq}: OK (reviewed by olga)"
        # The result management shows the final result under the same ResultId.
        assert await slot.read_value() == str(seq)
        fields = {name: await (await slot.get_child(f"{ns}:{name}")).read_value()
                  for name in ("Verdict", "IsPartial", "ResultState", "AutoVerdict", "ReviewedBy")}
        assert fields == {"Verdict": "OK", "IsPartial": False, "ResultState": 1, "AutoVerdict": "HOLD",
                          "ReviewedBy": "olga"}
        await asyncio.to_thread(station.stop)


@pytest.mark.expected_errors(CLIENT_GONE)
def test_a_hold_whose_review_time_runs_out_is_final_with_the_recipes_default(tmp_path, tiny_model):
    kinds = ["hold", "ok", "ok"]
    camera = HeldCamera(write_frames(tmp_path / "frames", kinds), rate_hz=50.0)
    station = opcua_station(tmp_path, tiny_model, free_port(), kinds, settings=(
        "camera.trigger=hardware", "opcua.results_kept=2"), source=camera, max_parts=3, hold_timeout_s=5)
    station.start()
    try:
        asyncio.run(_review_time_out(station, camera))
    finally:
        station.stop()


async def _review_time_out(station: Station, camera: HeldCamera) -> None:
    url = await until(lambda: _endpoint(station), "the OPC UA server to listen")
    seen = Seen()
    async with Client(url) as client:
        await watch(client, seen)
        camera.line_runs.set()
        await until(lambda: len(seen.events) >= 3, "the three parts as ResultReady events")
        partial = seen.events[0]
        seq = int(partial.ResultId)
        assert partial.Verdict == "HOLD" and partial.IsPartial
        final = await until(lambda: next((e for e in seen.events[3:] if e.ResultId == str(seq)), None),
                            "the recipe's default once the review time (5 s) ran out")
        assert (final.IsPartial, final.ResultState, final.Verdict, final.AutoVerdict) == (False, 1, "NG", "HOLD")
        assert (final.ReviewedBy, final.ReviewedAutomatically) == (TIMEOUT_REVIEWER, True)
        assert "not reviewed within 5 s" in final.Reason and final.Severity == 500
        assert final.Message.Text == f"part {seq}: NG (not reviewed in time, the recipe's default)"
        # Still every field of the part, although results_kept (2) let its slot go to a newer part meanwhile.
        assert (final.Score, final.CaptureTime, final.ModelSha256) == (
            partial.Score, partial.CaptureTime, partial.ModelSha256)
        ns, vs = await vision_system(client)
        slot = await vs.get_child([f"{ns}:ResultManagement", f"{ns}:Results", f"{ns}:Result_{seq % 2}"])
        assert await slot.read_value() == str(seq + 2)
        assert await (await slot.get_child(f"{ns}:Verdict")).read_value() == "OK"
        await asyncio.to_thread(station.stop)


@pytest.mark.expected_errors("^PLC link lost: ", CLIENT_GONE)
def test_the_state_machine_is_error_while_the_plc_link_is_lost_and_operational_when_it_is_back(tmp_path, tiny_model):
    plc, plc_port = _simulated_plc()
    station = opcua_station(tmp_path, tiny_model, free_port(), ["ok", "ng"], rate_hz=20.0, settings=(
        "plc.mode=s7", "plc.host=127.0.0.1", f"plc.port={plc_port}", "plc.plc_silent_ms=600",
        "plc.reconnect_max_s=1"))
    station.start()
    try:
        plc = asyncio.run(_plc_outage(station, plc, plc_port))
    finally:
        station.stop()
        plc.kill()
        plc.wait(10)


def _simulated_plc(port: int = 0) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "hmi.plc.simulator", "--port", str(port)],
                            stdout=subprocess.PIPE, text=True)
    ready = proc.stdout.readline()
    match = re.search(r":(\d+)$", ready.strip())
    assert match, f"the PLC simulator did not start: {ready!r}"
    return proc, int(match.group(1))


async def _plc_outage(station: Station, plc: subprocess.Popen, plc_port: int) -> subprocess.Popen:
    url = await until(lambda: _endpoint(station), "the OPC UA server to listen")
    seen = Seen()
    async with Client(url) as client:
        await watch(client, seen)
        await until(lambda: seen.states[-1:] == ["Operational"] and len(seen.events) >= 5, "Operational, parts")
        plc.send_signal(signal.SIGKILL)  # the PLC is gone: cable pulled, power off
        plc.wait(10)
        await until(lambda: seen.states[-1:] == ["Error"], "the state machine in Error", timeout_s=40)
        assert station.alarms.is_active("PLC_LINK")
        during = len(seen.events)
        await until(lambda: len(seen.events) >= during + 5, "results while in Error (parts rejected, still judged)")
        plc, _ = _simulated_plc(plc_port)
        await until(lambda: seen.states[-1:] == ["Operational"], "Operational again with the PLC back", timeout_s=40)
        assert not station.alarms.is_active("PLC_LINK")
        await asyncio.to_thread(station.stop)
    assert seen.states[-1] == "Halted"
    ids = [int(e.ResultId) for e in seen.events]
    assert ids == sorted(set(ids))  # in order, none twice
    return plc


def test_a_port_in_use_raises_opcua_the_station_judges_on_and_the_server_comes_when_the_port_is_free(
        tmp_path, tiny_model):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    station = opcua_station(tmp_path, tiny_model, port, ["ok", "ng"], rate_hz=50.0)
    station.start()
    try:
        asyncio.run(_port_in_use(station, blocker, port))
    finally:
        blocker.close()
        station.stop()
    assert not station.alarms.is_active("OPCUA")


async def _port_in_use(station: Station, blocker: socket.socket, port: int) -> None:
    alarm = await until(lambda: next((a for a in station.alarms.snapshot() if a.code == "OPCUA" and a.active), None),
                        "the OPCUA alarm")
    assert f"port {port} is in use" in alarm.message
    judged = station.outlet.counts().total
    await until(lambda: station.outlet.counts().total >= judged + 20, "the station judging on")
    assert not station.supervisor.failed()
    blocker.close()
    url = await until(lambda: _endpoint(station), "the server once the port is free", timeout_s=30)
    assert not station.alarms.is_active("OPCUA")
    seen = Seen()
    async with Client(url) as client:
        await watch(client, seen, events=False)
        await until(lambda: seen.states == ["Operational"], "the state read over OPC UA")


# --- Basic256Sha256 ----------------------------------------------------------------------------
CLIENT_URI = "urn:localhost:hmi-tests:client"


def _client_identity() -> tuple[CertProperties, CertProperties]:
    key = cert_gen.generate_private_key()
    cert = cert_gen.generate_self_signed_app_certificate(
        key, "test client", {}, [x509.UniformResourceIdentifier(CLIENT_URI), x509.DNSName(socket.gethostname())],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH])
    return (CertProperties(cert.public_bytes(serialization.Encoding.DER), "der"),
            CertProperties(cert_gen.dump_private_key_as_pem(key), "pem"))


async def _secure_client(url: str, server_cert: bytes, identity, user: str | None, pin: str | None) -> Client:
    client = Client(url)
    client.application_uri = CLIENT_URI
    await client.set_security(SecurityPolicyBasic256Sha256, identity[0], identity[1],
                              server_certificate=CertProperties(server_cert, "der"),
                              mode=ua.MessageSecurityMode.SignAndEncrypt)
    if user is not None:
        client.set_user(user)
        client.set_password(pin)
    return client


@pytest.mark.expected_errors(CLIENT_GONE, REFUSED, "UserIdentityToken not supported")
def test_basic256sha256_lets_a_station_user_in_and_refuses_a_wrong_pin_anonymous_and_no_security(
        tmp_path, tiny_model):
    station = opcua_station(tmp_path, tiny_model, free_port(), ["ok", "ng"], security="basic256sha256",
                            rate_hz=20.0)
    station.start()
    try:
        asyncio.run(_secure(station, station.data_dir))
    finally:
        station.stop()


async def _secure(station: Station, data_dir: Path) -> None:
    url = await until(lambda: _endpoint(station), "the OPC UA server to listen")
    assert not station.alarms.is_active("OPCUA_INSECURE")
    key_file = data_dir / "opcua" / "server_key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    server_cert = (data_dir / "opcua" / "server_cert.der").read_bytes()
    identity = _client_identity()
    audited = _audit_entries(data_dir)
    people = station.users

    seen = Seen()
    client = await _secure_client(url, server_cert, identity, "olga", PIN["olga"])
    async with client:
        await watch(client, seen)
        await until(lambda: seen.states == ["Operational"] and seen.events, "state and results for olga")
        ns, vs = await vision_system(client)
        name = await vs.get_child([f"{ns}:Station", f"{ns}:Name"])
        with pytest.raises(ua.UaStatusCodeError):  # the server offers nothing to write
            await name.write_value(ua.Variant("renamed", ua.VariantType.String))
        assert await name.read_value() == station.cfg.station.name

    for user, pin in (("olga", "0000"), ("nobody", "1234"), (None, None)):  # wrong PIN, unknown user, anonymous
        refused = await _secure_client(url, server_cert, identity, user, pin)
        with pytest.raises(ua.UaStatusCodeError) as why:
            await refused.connect()
        assert isinstance(why.value, (ua.uaerrors.BadUserAccessDenied, ua.uaerrors.BadIdentityTokenRejected)), why.value
        await refused.disconnect()

    plain = Client(url)  # no security: there is no such endpoint
    with pytest.raises(Exception):
        await plain.connect()
    await plain.disconnect()

    # olga can still log in (one wrong PIN does not lock her).
    async with await _secure_client(url, server_cert, identity, "olga", PIN["olga"]):
        pass
    # Logins over OPC UA are the station's logins: in its audit trail, wrong PINs counted in its lock-out.
    assert [(user, action) for user, action, _ in _audit_since(data_dir, audited)] == [
        ("olga", "login"), ("olga", "login_failed"), ("nobody", "login_failed"), ("olga", "login")]
    audited = _audit_entries(data_dir)
    for _ in range(5):  # theo guesses: the fifth wrong PIN locks the name, for OPC UA and the touchscreen alike
        refused = await _secure_client(url, server_cert, identity, "theo", "0000")
        with pytest.raises(ua.uaerrors.BadUserAccessDenied):
            await refused.connect()
        await refused.disconnect()
    refused = await _secure_client(url, server_cert, identity, "theo", PIN["theo"])
    with pytest.raises(ua.uaerrors.BadUserAccessDenied):
        await refused.connect()  # his right PIN, but locked
    await refused.disconnect()
    with pytest.raises(PermissionDenied, match="theo is locked"):
        await asyncio.to_thread(people.authenticate, "theo", PIN["theo"])  # on the touchscreen too
    failed = _audit_since(data_dir, audited)
    assert [(user, action) for user, action, _ in failed] == [("theo", "login_failed")] * 7
    assert "locked" in failed[4][2] and all("locked" in why for *_, why in failed[5:])


def _audit_entries(data_dir: Path) -> int:
    conn = sqlite3.connect(f"{(data_dir / 'hmi.db').as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT max(id) FROM audit").fetchone()[0] or 0
    finally:
        conn.close()


def _audit_since(data_dir: Path, mark: int) -> list[tuple[str, str, str]]:
    """The audit trail's (user, action, reason) entries after entry `mark`, in order."""
    conn = sqlite3.connect(f"{(data_dir / 'hmi.db').as_uri()}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in conn.execute("SELECT user, action, reason FROM audit WHERE id > ? ORDER BY id",
                                               (mark,))]
    finally:
        conn.close()


def test_the_server_certificate_is_made_once_and_kept(tmp_path):
    first = server_identity(tmp_path, "station-host")
    again = server_identity(tmp_path, "station-host")
    assert first == again and first.application_uri == "urn:station-host:hmi-inspection-station"
    assert stat.S_IMODE((tmp_path / "opcua" / "server_key.pem").stat().st_mode) == 0o600
    names = x509.load_der_x509_certificate(first.certificate).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["station-host"]


def test_a_certificate_folder_that_cannot_be_written_raises_opcua_and_the_station_judges_on(tmp_path, tiny_model):
    station = opcua_station(tmp_path, tiny_model, free_port(), ["ok"], security="basic256sha256", rate_hz=50.0)
    (station.data_dir / "opcua").write_text("not a folder")
    station.start()
    try:
        alarm = wait_for(lambda: next((a for a in station.alarms.snapshot() if a.code == "OPCUA"), None),
                         "the OPCUA alarm")
        assert "cannot keep the OPC UA certificate" in alarm.message
        judged = station.outlet.counts().total
        wait_for(lambda: station.outlet.counts().total >= judged + 10, "the station judging on")
        assert not station.supervisor.failed() and not station.outputs[0].endpoint
    finally:
        station.stop()


def test_a_part_judged_without_a_look_is_a_failed_result_without_a_score():
    from hmi.core.part import CameraSettings, Decision, utc_now
    from hmi.core.verdict import Verdict
    from hmi.plant.opcua.results import RESULT_FAILED, VisionResult

    now = utc_now()
    part = Part(42, now, 1.0, CameraSettings("cam", 1.0, 0.0), "demo").decided(
        Decision(Verdict.NOT_INSPECTED, "camera gave no frame", 3, now, 1.0))
    result = VisionResult.of(part, simulated=False)
    assert (result.result_id, result.result_state, result.verdict, result.verdict_code) == (
        "42", RESULT_FAILED, "NOT_INSPECTED", 4)
    assert math.isnan(result.score) and result.threshold_version == 3 and not result.is_simulated
    assert result.message == "part 42: NOT INSPECTED"
