"""PLC test fixtures: the simulated PLC (python-snap7's own S7 server on loopback), a line feeding the signaller."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from hmi.config.schema import PlcConfig
from hmi.core.alarms import AlarmBoard
from hmi.core.messages import OperatorReview, PlcDelivery
from hmi.core.part import CameraSettings, Decision, DefectRegion, Inspection, Part, utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.plc.factory import create_signaller
from hmi.plc.simulator import SimulatedPlc


def wait_until(condition: Callable[[], object], timeout: float = 30.0, step: float = 0.005) -> float:
    """Poll `condition` until true; returns seconds waited, fails the test after `timeout` (generous: a slow
    machine must not fail a test; how fast the PLC link reacts is for benchmarks)."""
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(step)
    return time.monotonic() - t0


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., float]:
    """The polling helper, for test modules."""
    return wait_until


@pytest.fixture
def plc() -> Iterator[SimulatedPlc]:
    """A running simulated PLC on a free loopback port."""
    sim = SimulatedPlc().start()
    yield sim
    sim.stop()


def fast_config(host: str, port: int, **changes) -> PlcConfig:
    """A PLC config with short periods so the tests run quickly."""
    values = dict(mode="simulated", host=host, port=port, heartbeat_ms=50, plc_silent_ms=300,
                  delivery_deadline_ms=500, reconnect_max_s=0.4)
    values.update(changes)
    return PlcConfig(**values)


@pytest.fixture(name="fast_config")
def fast_config_fixture() -> Callable[..., PlcConfig]:
    """The fast-config builder, for test modules."""
    return fast_config


@pytest.fixture
def plc_cfg(plc: SimulatedPlc) -> PlcConfig:
    """Config pointing at the simulated PLC."""
    return fast_config(plc.host, plc.port)


class Line:
    """The queues around the PLC thread, as the composition root wires them, plus the running signaller."""

    def __init__(self, cfg: PlcConfig, defect_types: tuple[str, ...]) -> None:
        self.parts: BoundedQueue[Part] = BoundedQueue("plc-parts", 4096)
        self.reviews: BoundedQueue[OperatorReview] = BoundedQueue("plc-reviews", 64)
        self.deliveries: BoundedQueue[PlcDelivery] = BoundedQueue("plc-deliveries", 100_000)
        self.alarms = AlarmBoard()
        self.signaller = create_signaller(cfg, self.parts, self.reviews, self.deliveries, self.alarms, defect_types)
        self.reports: list[PlcDelivery] = []

    def send(self, seq: int, verdict: Verdict, *, age_s: float = 0.0, labels: tuple[str, ...] = ()) -> Part:
        """A decided part, captured `age_s` ago, offered to the PLC thread."""
        captured = time.monotonic() - age_s
        part = Part(seq, utc_now(), captured, CameraSettings("test", 1000.0, 0.0), "demo")
        if labels:
            regions = tuple(DefectRegion(0, 0, 4, 4, 16, 0.5 + i / 10, label=lab) for i, lab in enumerate(labels))
            part = part.inspected(Inspection(0.9, regions, "cpu", "m", "0" * 64, 1.0))
        part = part.decided(Decision(verdict, "test", 1, utc_now(), time.monotonic()))
        assert self.parts.offer(part)
        return part

    def review(self, seq: int, verdict: Verdict, defect_type: str | None = None) -> None:
        """An operator's final verdict on a held part."""
        assert self.reviews.offer(OperatorReview(seq, verdict, "anna", utc_now(), defect_type=defect_type))

    def collect(self, n: int, timeout: float = 30.0) -> list[PlcDelivery]:
        """Wait until `n` delivery reports in all have arrived; returns all so far."""
        def enough() -> bool:
            while (d := self.deliveries.take_nowait()) is not None:
                self.reports.append(d)
            return len(self.reports) >= n
        wait_until(enough, timeout)
        return self.reports


@pytest.fixture
def make_line() -> Iterator[Callable[..., Line]]:
    """Build and start a Line on a config; every line is stopped after the test."""
    lines: list[Line] = []

    def build(cfg: PlcConfig, defect_types: tuple[str, ...] = ("scratch", "dent", "crack")) -> Line:
        line = Line(cfg, defect_types)
        line.signaller.start()
        lines.append(line)
        return line

    yield build
    for line in lines:
        line.signaller.stop()
        assert line.signaller.join(3.0), "the PLC thread did not stop"


class TcpRelay:
    """A loopback TCP relay in front of the PLC; `cut()` silently stops forwarding, like a pulled cable."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._silent: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def cut(self, cut: bool = True) -> None:
        """Drop everything in both directions (no reset, no answer) until called with False."""
        if cut:
            self._cut.set()
        else:
            self._cut.clear()

    @property
    def unanswered(self) -> int:
        """Connections accepted while cut (each one a reconnect attempt that got no answer)."""
        return len(self._silent)

    def close(self) -> None:
        """Stop relaying and close every socket."""
        self._closed.set()
        for t in self._threads:
            t.join(2.0)
        for sock in self._silent:
            sock.close()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            if self._cut.is_set():
                self._silent.append(client)  # accepted, never answered: a connect must time out
                continue
            upstream = socket.create_connection(self.upstream, timeout=1.0)
            pump = threading.Thread(target=self._pump, args=(client, upstream), daemon=True)
            pump.start()
            self._threads.append(pump)

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self._closed.is_set():
                ready, _, _ = select.select(list(peers), [], [], 0.05)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if not self._cut.is_set():
                        peers[sock].sendall(data)
        except OSError:
            return
        finally:
            a.close()
            b.close()


@pytest.fixture
def relay(plc: SimulatedPlc) -> Iterator[TcpRelay]:
    """A relay in front of the simulated PLC."""
    r = TcpRelay(plc.port)
    yield r
    r.close()
