"""`hmi plc test`: prove the PLC link end to end without disturbing the PLC's logic.

The test connects, reads the whole interface DB (which proves the DB number and size), then
writes test patterns into byte 3 of the vision header and reads each one back. Byte 3 is the
header's padding byte: the PLC program never reads it and the station's own heartbeat never
writes it, so the test is safe on a running line. Finally it watches the PLC heartbeat for
plc.plc_silent_ms to tell whether the PLC program is running.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from hmi.config.schema import PlcConfig
from hmi.plc import layout
from hmi.plc.s7link import LinkFailure, PlcLinkError, S7Link

PATTERNS = (0xA5, 0x5A, 0x3C, 0xC3, 0x0F)
MAX_WATCH_S = 2.0


@dataclass(frozen=True)
class LinkTestResult:
    """What the link test found: round-trip times, or the reason it failed and what to do."""

    ok: bool
    address: str
    db: int
    connect_ms: float | None = None
    round_trip_ms: float | None = None       # median write + read-back cycle
    round_trip_max_ms: float | None = None
    plc_heartbeat_running: bool | None = None
    inspection_enabled: bool | None = None
    requested_recipe: int | None = None
    failure: LinkFailure | None = None
    reason: str = ""
    todo: str = ""

    def summary(self) -> str:
        """Plain-words report printed by `hmi plc test`."""
        head = f"PLC link test {self.address}, DB {self.db}: "
        if not self.ok:
            lines = [head + "FAILED", f"  {self.reason}"]
            if self.todo:
                lines.append(f"  What to do: {self.todo}")
            return "\n".join(lines)
        lines = [head + "OK",
                 f"  connected in {self.connect_ms:.1f} ms",
                 f"  write + read back: {self.round_trip_ms:.1f} ms median, {self.round_trip_max_ms:.1f} ms max "
                 f"over {len(PATTERNS)} patterns"]
        if self.plc_heartbeat_running:
            lines.append("  PLC heartbeat (offset 72) is running")
        else:
            lines.append("  PLC heartbeat (offset 72) is NOT changing — the PLC program is stopped or does not "
                         "write the heartbeat; the station will raise PLC_SILENT")
        lines.append(f"  PLC commands: inspection {'enabled' if self.inspection_enabled else 'DISABLED'}, "
                     f"requested recipe number {self.requested_recipe}")
        if not self.inspection_enabled:
            lines.append("  While inspection is disabled (offset 78 bit 0 off) the station triggers and judges no part")
        return "\n".join(lines)


def link_test(cfg: PlcConfig) -> LinkTestResult:
    """Connect to the configured PLC, check the DB, time write/read-back cycles, watch the PLC heartbeat."""
    link = S7Link(cfg.host, cfg.port, cfg.rack, cfg.slot, cfg.db)
    base = {"address": link.address, "db": cfg.db}
    try:
        connect_ms = link.connect()
        db, _ = link.read(0, layout.DB_SIZE)
        before = layout.PlcArea.decode(db[layout.PLC_AREA:])
        cycles = []
        for pattern in PATTERNS:
            t0 = time.perf_counter()
            link.write(layout.LINK_TEST_BYTE, bytes([pattern]))
            back, _ = link.read(layout.LINK_TEST_BYTE, 1)
            cycles.append((time.perf_counter() - t0) * 1000.0)
            if back[0] != pattern:
                return LinkTestResult(False, **base, connect_ms=connect_ms, failure=LinkFailure.PROTOCOL,
                                      reason=f"wrote {pattern:#04x} to DB {cfg.db} byte {layout.LINK_TEST_BYTE} "
                                             f"but read back {back[0]:#04x}",
                                      todo="check that nothing else writes the vision area of the DB and that the "
                                           "DB is not write-protected")
        link.write(layout.LINK_TEST_BYTE, b"\x00")
        deadline = time.monotonic() + min(cfg.plc_silent_ms / 1000.0, MAX_WATCH_S)
        after = before
        while time.monotonic() < deadline and after.heartbeat == before.heartbeat:
            time.sleep(0.05)
            data, _ = link.read(layout.PLC_AREA, layout.PLC_AREA_SIZE)
            after = layout.PlcArea.decode(data)
    except PlcLinkError as exc:
        return LinkTestResult(False, **base, failure=exc.failure, reason=exc.what, todo=exc.todo)
    finally:
        link.close()
    return LinkTestResult(True, **base, connect_ms=connect_ms, round_trip_ms=statistics.median(cycles),
                          round_trip_max_ms=max(cycles), plc_heartbeat_running=after.heartbeat != before.heartbeat,
                          inspection_enabled=after.inspection_enabled, requested_recipe=after.requested_recipe)
