"""A simulated PLC: python-snap7's own S7 server on loopback plus a small "PLC program" thread.

The program does what the line's PLC does with the vision interface DB: it increments its
heartbeat (offset 72) every 100 ms, sets "inspection enabled" (offset 78 bit 0), files every
new result it finds in the ring (at once when vision writes the header's sequence number, and
on every 10 ms scan), and echoes the newest sequence number it has taken (offset 74).

It can also misbehave as a real CPU does (`hmi.plc.simulated_cpu`): refuse every read and write
(PUT/GET access off), hold a result write for seconds and apply it after the station gave up, and
clear its "inspection enabled" bit.

Run on its own for tests against a PLC that is not the station's own:
    python -m hmi.plc.simulator --port 10102 [--db 100] [--commands]
With --commands it takes one command a line on stdin and answers each with one JSON line
(`hmi.plc.simulator_control`).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from snap7.error import S7ConnectionError
from snap7.server import EVC_CLIENT_ADDED, EVC_DATA_WRITE
from snap7.type import SrvArea, SrvEvent

from hmi.core.errors import PlcError
from hmi.plc import layout
from hmi.plc.layout import PlcArea, ResultSlot, SlotFlag, VisionHeader
from hmi.plc.simulated_cpu import CpuFaults, FaultyCpu

log = logging.getLogger(__name__)

CYCLE_S = 0.01            # the program's scan cycle
HEARTBEAT_S = 0.1         # the PLC heartbeat period
HISTORY = 100_000         # results and releases remembered
WRITE_HISTORY = 10_000    # write events remembered


@dataclass(frozen=True)
class WriteEvent:
    """One write the S7 server applied to the interface DB, with the bytes as they landed."""

    start: int
    size: int
    data: bytes
    mono: float


class SimulatedPlc:
    """An S7 server holding the interface DB, with a PLC program thread; start/stop like a real PLC."""

    def __init__(self, db: int = 100, size: int = layout.DB_SIZE, port: int = 0, host: str = "127.0.0.1") -> None:
        if size < 1:
            raise ValueError("the simulated DB needs at least one byte")
        self.db = db
        self.host = host
        self._port = port
        self._memory = bytearray(size)  # survives stop/start, like a PLC's retentive DB
        self._server: FaultyCpu | None = None
        self._program: threading.Thread | None = None
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._frozen = False
        self._enabled = True
        self._recipe = 0
        self._heartbeat = 0
        self._last_raw: list[bytes] = [bytes(layout.SLOT_SIZE)] * layout.SLOT_COUNT
        self._results: deque[ResultSlot] = deque(maxlen=HISTORY)
        self._releases: deque[ResultSlot] = deque(maxlen=HISTORY)
        self._writes: deque[WriteEvent] = deque(maxlen=WRITE_HISTORY)
        self._counts = {"results": 0, "rejects": 0, "releases": 0}
        self._faults = CpuFaults()
        self._connections = 0
        self._hung_landed: list[int] = []  # seqs of held ring writes that landed after all

    # --- life cycle --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The TCP port the server listens on (known once started when created with port 0)."""
        return self._port

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._server is not None

    def start(self) -> "SimulatedPlc":
        """Start the S7 server and the program thread; returns self."""
        if self._server is not None:
            return self
        server = FaultyCpu(self._faults, self._hung_write_landed)
        server.register_area(SrvArea.DB, self.db, self._memory)
        server.set_events_callback(self._on_event)
        try:
            server.start_to(self.host, self._port)
        except (S7ConnectionError, OSError, ValueError) as exc:
            raise PlcError(f"simulated PLC could not listen on {self.host}:{self._port} ({exc})",
                           "check --host and --port, and choose a port no other program uses") from exc
        assert server.server_socket is not None
        self._port = server.server_socket.getsockname()[1]
        self._server = server
        self._halt.clear()
        if len(self._memory) >= layout.DB_SIZE:  # a DB downloaded too short has no room for the PLC's bytes
            self._program = threading.Thread(target=self._run_program, name="simulated-plc", daemon=True)
            self._program.start()
        log.info("simulated PLC serving DB %d on %s:%d", self.db, self.host, self._port)
        return self

    def stop(self) -> None:
        """Stop the program and the server (the DB contents are kept for a restart)."""
        self._halt.set()
        if self._program is not None:
            self._program.join(2.0)
            self._program = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "SimulatedPlc":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- what the PLC program is told --------------------------------------------------------
    def freeze_heartbeat(self, frozen: bool = True) -> None:
        """Stop (or restart) the PLC heartbeat, as when the PLC program halts."""
        with self._lock:
            self._frozen = frozen

    def set_inspection_enabled(self, enabled: bool) -> None:
        """The PLC's command bit 0 (offset 78)."""
        with self._lock:
            self._enabled = enabled

    def allow_put_get(self, allowed: bool) -> None:
        """PUT/GET access on, or off as in a CPU whose protection settings refuse every read and write."""
        self._faults.allow_put_get(allowed)

    def hang_ring_writes(self, seconds: float, count: int = 1) -> None:
        """Hold the next `count` result writes for `seconds` each before applying them (a hung CPU)."""
        self._faults.hang_ring_writes(seconds, count)

    def set_requested_recipe(self, number: int) -> None:
        """The recipe number the PLC asks for (offset 79, 0-255)."""
        if not 0 <= number <= 255:
            raise ValueError("recipe number must be 0-255")
        with self._lock:
            self._recipe = number

    # --- what a test or the demo can look at -------------------------------------------------
    def _snapshot(self, start: int, size: int) -> bytes:
        with self._lock:
            return bytes(self._memory[start:start + size])

    def read_slot(self, k: int) -> ResultSlot | None:
        """Ring slot k (0-7), or None while it has never been written."""
        if not 0 <= k < layout.SLOT_COUNT:
            raise ValueError("slot index must be 0-7")
        raw = self._snapshot(layout.SLOT_BASE + layout.SLOT_SIZE * k, layout.SLOT_SIZE)
        return _decode_slot(raw)

    def read_header(self) -> VisionHeader:
        """The vision header: heartbeat, station state, newest seq."""
        return VisionHeader.decode(self._snapshot(0, layout.HEADER_SIZE))

    def read_plc_area(self) -> PlcArea:
        """The PLC's own bytes 72-79."""
        return PlcArea.decode(self._snapshot(layout.PLC_AREA, layout.PLC_AREA_SIZE))

    def results(self) -> list[ResultSlot]:
        """Part results the program has taken from the ring, in the order it found them (the newest 100 000)."""
        with self._lock:
            return list(self._results)

    def releases(self) -> list[ResultSlot]:
        """Operator decisions (flag bit 2) the program has taken, for parts in the hold lane."""
        with self._lock:
            return list(self._releases)

    def writes(self) -> list[WriteEvent]:
        """The writes the server applied to the DB, in order (the newest 10 000)."""
        with self._lock:
            return list(self._writes)

    def record(self) -> dict:
        """What the PLC saw, as plain data: results taken, the ring slots now, header-after-slot violations, the
        header and its own bytes now, connections, held writes that landed, and whether PUT/GET is allowed."""
        slots = [self.read_slot(k) for k in range(layout.SLOT_COUNT)]
        whole = len(self._memory) >= layout.DB_SIZE  # a DB downloaded too short has no header or PLC bytes
        header, area = (self.read_header(), self.read_plc_area()) if whole else (None, None)
        slot_written: set[int] = set()
        header_before_slot: list[int] = []
        for w in self.writes():
            if w.start <= 4 and w.start + w.size >= 8:  # the header's newest-seq DINT (bytes 4..7)
                seq = int.from_bytes(w.data[4 - w.start:8 - w.start], "big", signed=True)
                if seq and seq not in slot_written:
                    header_before_slot.append(seq)
            elif w.start >= layout.SLOT_BASE and w.size >= 4:
                slot_written.add(int.from_bytes(w.data[:4], "big", signed=True))
        return {
            "results": [{"seq": r.seq, "verdict": r.verdict.name, "flags": int(r.flags)} for r in self.results()],
            "slots": [None if s is None else {"seq": s.seq, "verdict": s.verdict.name, "flags": int(s.flags)}
                      for s in slots],
            "header_before_slot": header_before_slot,
            "writes": len(self.writes()),
            "header": None if header is None else {"heartbeat": header.heartbeat, "state": header.state.name,
                                                   "newest_seq": header.newest_seq},
            "plc": None if area is None else {"heartbeat": area.heartbeat, "consumed_seq": area.consumed_seq,
                                              "inspection_enabled": area.inspection_enabled,
                                              "requested_recipe": area.requested_recipe},
            "connections": self.connections(),
            "hung_writes_landed": self.hung_writes_landed(),
            "put_get": self._faults.put_get_allowed,
        }

    def connections(self) -> int:
        """S7 clients that connected since the first start (each reconnect counts)."""
        with self._lock:
            return self._connections

    def hung_writes_landed(self) -> list[int]:
        """Sequence numbers of held result writes that were applied after all, in order."""
        with self._lock:
            return list(self._hung_landed)

    def counts(self) -> dict[str, int]:
        """Totals since start: results and rejects taken, hold-lane releases taken."""
        with self._lock:
            return dict(self._counts)

    # --- inside the server and the program ---------------------------------------------------
    def _on_event(self, event: SrvEvent) -> None:
        # Runs on the server's connection thread after the write landed and before it is acknowledged.
        if event.EvtCode == EVC_CLIENT_ADDED:
            with self._lock:
                self._connections += 1
            return
        if event.EvtCode != EVC_DATA_WRITE or event.EvtParam1 != SrvArea.DB or event.EvtParam2 != self.db:
            return
        start, size = int(event.EvtParam3), int(event.EvtParam4)
        with self._lock:
            self._writes.append(WriteEvent(start, size, bytes(self._memory[start:start + size]), time.monotonic()))
            if start <= layout.REQUESTED_RECIPE < start + size:
                # An operator panel (or a test) wrote the recipe request: the PLC program keeps it.
                self._recipe = self._memory[layout.REQUESTED_RECIPE]
            if start <= layout.NEWEST_SEQ < start + size and len(self._memory) >= layout.DB_SIZE:
                # The header moved: like a PLC reacting to the new sequence number, take the ring now.
                self._file(self._ring())

    def _hung_write_landed(self, start: int, data: bytes) -> None:
        """A held ring write was applied after all (the server's connection thread)."""
        if len(data) >= 4:
            with self._lock:
                self._hung_landed.append(int.from_bytes(data[:4], "big", signed=True))
        log.info("simulated PLC: a held write at byte %d landed", start)

    def _ring(self) -> list[bytes]:
        """The eight slots as raw bytes (called with the lock held)."""
        return [bytes(self._memory[layout.SLOT_BASE + layout.SLOT_SIZE * k:][:layout.SLOT_SIZE])
                for k in range(layout.SLOT_COUNT)]

    def _run_program(self) -> None:
        next_beat = time.monotonic()
        while not self._halt.wait(CYCLE_S):
            now = time.monotonic()
            server = self._server
            if server is None:
                return
            server.lock_area(SrvArea.DB, self.db)
            try:
                with self._lock:
                    newest = struct.unpack_from(">i", self._memory, layout.NEWEST_SEQ)[0]
                    if not self._frozen and now >= next_beat:
                        self._heartbeat = layout.next_heartbeat(self._heartbeat)
                        next_beat = max(next_beat + HEARTBEAT_S, now)
                    self._file(self._ring())
                    area = PlcArea(self._heartbeat, newest, self._enabled, self._recipe)
                    self._memory[layout.PLC_AREA:layout.PLC_AREA + layout.PLC_AREA_SIZE] = area.encode()
            finally:
                server.unlock_area(SrvArea.DB, self.db)

    def _file(self, ring: list[bytes]) -> None:
        """Take every slot that changed since the last scan (called with the lock held)."""
        for k, raw in enumerate(ring):
            if raw == self._last_raw[k]:
                continue
            self._last_raw[k] = raw
            slot = _decode_slot(raw)
            if slot is None:
                continue
            if slot.flags & SlotFlag.OPERATOR:
                self._releases.append(slot)
                self._counts["releases"] += 1
            else:
                self._results.append(slot)
                self._counts["results"] += 1
                self._counts["rejects"] += int(slot.reject)


def _decode_slot(raw: bytes) -> ResultSlot | None:
    """A slot, or None when it holds no valid verdict (never written)."""
    if struct.unpack_from(">B", raw, 4)[0] not in (1, 2, 3, 4):
        return None
    return ResultSlot.decode(raw)


def main(argv: list[str] | None = None) -> int:
    """Serve a simulated PLC until SIGTERM or Ctrl+C; print what it received when stopped."""
    parser = argparse.ArgumentParser(prog="python -m hmi.plc.simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on (0 = any free port)")
    parser.add_argument("--db", type=int, default=100, help="interface DB number (default 100)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--record", type=Path, default=None,
                        help="on stop, write what the PLC saw (results, ring slots, write order) to this JSON file")
    parser.add_argument("--commands", action="store_true",
                        help="take commands on stdin, one a line, each answered by one JSON line (for tests)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        plc = SimulatedPlc(db=args.db, port=args.port, host=args.host).start()
    except PlcError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"ready on {plc.host}:{plc.port}", flush=True)
    if args.commands:
        from hmi.plc.simulator_control import follow_commands

        threading.Thread(target=follow_commands, args=(plc, sys.stdin, sys.stdout), name="simulated-plc-commands",
                         daemon=True).start()
    while not stop.wait(0.2):
        pass
    plc.stop()
    counts = plc.counts()
    seqs = sorted({r.seq for r in plc.results()})
    span = f" (seq {seqs[0]}..{seqs[-1]})" if seqs else ""
    print(f"received {counts['results']} results{span}, {len(seqs)} distinct, {counts['rejects']} rejects, "
          f"{counts['releases']} releases", flush=True)
    if args.record is not None:
        args.record.write_text(json.dumps(plc.record()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
