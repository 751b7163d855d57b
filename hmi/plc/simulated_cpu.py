"""The simulated PLC's S7 server, able to misbehave as a real CPU does: PUT/GET access off, a write that hangs.

python-snap7's own server answers every read and write of a registered DB at once. A real CPU may
refuse them all (PUT/GET access not allowed in its protection settings: S7 error class 0x81, code
0x04, as S7-1200/1500 CPUs answer) or take seconds over one write and apply it long after the client
gave up. Both faults are for tests and drills; a station never switches them on. (The answer to a held
write goes to a connection the client has closed, which snap7 logs as an error: run a simulated PLC
whose writes hang in its own process, `python -m hmi.plc.simulator --commands`.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from snap7.server import Server

from hmi.plc import layout

# What an S7-1200/1500 answers to a read or write job while PUT/GET access is not allowed:
# error class 0x81 (application relationship), code 0x04 (context not supported).
PUT_GET_REFUSED = 0x8104


class CpuFaults:
    """The faults switched on; kept by the simulated PLC, so they outlast a stop and start of its server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._put_get = True
        self._hang_s = 0.0
        self._hangs_left = 0

    def allow_put_get(self, allowed: bool) -> None:
        """PUT/GET access on (reads and writes answered) or off (every read and write job refused)."""
        with self._lock:
            self._put_get = allowed

    def hang_ring_writes(self, seconds: float, count: int = 1) -> None:
        """Hold the next `count` writes into the result ring for `seconds` each, then apply them."""
        with self._lock:
            self._hang_s, self._hangs_left = max(0.0, seconds), max(0, count)

    @property
    def put_get_allowed(self) -> bool:
        """False while the CPU refuses every read and write job."""
        with self._lock:
            return self._put_get

    def take_hang(self, start: int) -> float:
        """Seconds to hold a write starting at byte `start`: only a write into the ring, while hangs are left."""
        if not layout.SLOT_BASE <= start < layout.VISION_AREA_END:
            return 0.0
        with self._lock:
            if self._hangs_left <= 0:
                return 0.0
            self._hangs_left -= 1
            return self._hang_s


class FaultyCpu(Server):
    """snap7's S7 server that honours `CpuFaults`; `on_hung_write(start, data)` is told when a held write lands."""

    def __init__(self, faults: CpuFaults, on_hung_write: Callable[[int, bytes], None]) -> None:
        super().__init__(log=False)
        self.faults = faults
        self._released = threading.Event()  # set at stop: a held write is let go at once
        self._on_hung_write = on_hung_write

    def stop(self) -> int:
        """Let any held write go, let the accept loop run out, then stop serving.

        snap7's own stop closes the listening socket under its accept loop, which then now and again logs
        "Server loop error"; the loop looks at `running` every 0.1 s, so it is let end first.
        """
        self._released.set()
        loop = self.server_thread
        if self.running and loop is not None and loop.is_alive():
            self.running = False
            loop.join(5.0)
            self.running = True  # the loop has ended (and said False): snap7's stop now closes the rest
        return super().stop()

    # --- snap7's request handlers (private in snap7: this module follows python-snap7 3.x) --------------
    def _handle_read_area(self, request: dict[str, Any], client_address: tuple[str, int]) -> bytes:
        if not self.faults.put_get_allowed:
            return self._build_error_response(request, PUT_GET_REFUSED)
        return super()._handle_read_area(request, client_address)

    def _handle_multi_read_area(self, request: dict[str, Any], client_address: tuple[str, int]) -> bytes:
        if not self.faults.put_get_allowed:
            return self._build_error_response(request, PUT_GET_REFUSED)
        return super()._handle_multi_read_area(request, client_address)

    def _handle_write_area(self, request: dict[str, Any], client_address: tuple[str, int]) -> bytes:
        if not self.faults.put_get_allowed:
            return self._build_error_response(request, PUT_GET_REFUSED)
        address = self._parse_write_address(request)
        hang = self.faults.take_hang(address[2]) if address is not None else 0.0
        if hang:
            self._released.wait(hang)  # the client gave up long ago; the write still lands afterwards
        answer = super()._handle_write_area(request, client_address)
        if hang and address is not None:
            self._on_hung_write(address[2], bytes(address[4]))
        return answer
