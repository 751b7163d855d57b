"""`hmi plc test`: the link test against the simulated PLC, and the plain words it gives when the link is wrong."""

from __future__ import annotations

import socket
import threading

import pytest

from hmi.plc import layout
from hmi.plc.linktest import PATTERNS, link_test
from hmi.plc.s7link import LinkFailure
from hmi.plc.simulator import SimulatedPlc



def test_link_test_times_write_and_read_back_on_a_scratch_byte_only(plc, plc_cfg):
    plc.set_requested_recipe(4)
    before = plc.read_header()
    result = link_test(plc_cfg)
    assert result.ok, result.summary()
    assert 0 < result.round_trip_ms <= result.round_trip_max_ms
    assert result.connect_ms > 0
    assert result.plc_heartbeat_running and result.inspection_enabled and result.requested_recipe == 4
    writes = plc.writes()
    assert [w.start for w in writes] == [layout.LINK_TEST_BYTE] * (len(PATTERNS) + 1)
    assert [w.data[0] for w in writes] == [*PATTERNS, 0]
    assert plc.read_header() == before, "the test must leave heartbeat, state and sequence untouched"
    summary = result.summary()
    assert summary.startswith(f"PLC link test {plc_cfg.host}:{plc_cfg.port}, DB 100: OK")
    assert "ms median" in summary and "heartbeat (offset 72) is running" in summary


def test_link_test_says_when_the_plc_heartbeat_stands_still(plc, plc_cfg):
    plc.freeze_heartbeat(True)
    result = link_test(plc_cfg)
    assert result.ok and result.plc_heartbeat_running is False
    assert "NOT changing" in result.summary()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_listening_is_reported_as_refused(fast_config):
    cfg = fast_config("127.0.0.1", _free_port())
    result = link_test(cfg)
    assert not result.ok and result.failure is LinkFailure.REFUSED
    assert result.reason == f"PLC 127.0.0.1:{cfg.port} refused the connection"
    assert "check the IP address and port" in result.todo
    assert result.summary().splitlines()[0].endswith("FAILED")
    assert "What to do: check the IP address" in result.summary()


def test_wrong_db_number_is_named(plc, fast_config):
    result = link_test(fast_config(plc.host, plc.port, db=101))
    assert not result.ok and result.failure is LinkFailure.NO_DB
    assert result.reason == "DB 101 does not exist in PLC 127.0.0.1"
    assert "plc.db" in result.todo


def test_db_shorter_than_the_interface_is_named(fast_config):
    with SimulatedPlc(size=60) as short:
        result = link_test(fast_config(short.host, short.port))
    assert not result.ok and result.failure is LinkFailure.DB_TOO_SMALL
    assert "shorter than the interface needs" in result.reason


@pytest.fixture
def refusing_peer():
    """A device that accepts TCP and hangs up on the S7 connection request, as a PLC does for a wrong rack/slot."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except socket.timeout:
                continue
            conn.recv(1024)
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield server.getsockname()[1]
    stop.set()
    t.join(1.0)
    server.close()


def test_refused_s7_connection_points_at_rack_and_slot(refusing_peer, fast_config):
    result = link_test(fast_config("127.0.0.1", refusing_peer, rack=0, slot=3))
    assert not result.ok and result.failure is LinkFailure.S7_REFUSED
    assert "accepted the network connection but refused the S7 connection" in result.reason
    assert "rack 0 / slot 3" in result.todo and "PUT/GET" in result.todo


def test_silent_device_gives_up_after_the_configured_silence(fast_config):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never answers
        result = link_test(fast_config("127.0.0.1", silent.getsockname()[1]))
    assert not result.ok and result.failure is LinkFailure.S7_REFUSED
    assert "gave no S7 answer within 300 ms" in result.reason  # plc_silent_ms, not the S7 library's default
