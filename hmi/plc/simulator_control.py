"""Commands to a simulated PLC in its own process (`python -m hmi.plc.simulator --commands`), for tests and drills.

One command a line on stdin, each answered by one JSON line on stdout:

    state                        what the PLC holds and saw (results, ring, header, its own bytes, connections)
    inspection on|off            the PLC's "inspection enabled" bit (DB byte 78, bit 0)
    put-get on|off               off: every read and write job refused, as a CPU without PUT/GET access
    hang-ring-writes SECONDS [N] hold the next N result writes (default 1) for SECONDS each, then apply them
    heartbeat on|off             off: the PLC heartbeat stands still, as a PLC program that stopped
    recipe NUMBER                the requested recipe number (0-255)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from hmi.plc.simulator import SimulatedPlc

_SWITCH = {"on": True, "off": False}


def answer(plc: SimulatedPlc, line: str) -> dict:
    """Carry out one command line; the reply says `ok` and, for `state`, what the PLC holds."""
    words = line.split()
    try:
        match words:
            case ["state"]:
                return {"ok": True, **plc.record()}
            case ["inspection", ("on" | "off") as switch]:
                plc.set_inspection_enabled(_SWITCH[switch])
            case ["put-get", ("on" | "off") as switch]:
                plc.allow_put_get(_SWITCH[switch])
            case ["hang-ring-writes", seconds, *count] if len(count) <= 1:
                plc.hang_ring_writes(float(seconds), int(count[0]) if count else 1)
            case ["heartbeat", ("on" | "off") as switch]:
                plc.freeze_heartbeat(not _SWITCH[switch])
            case ["recipe", number]:
                plc.set_requested_recipe(int(number))
            case _:
                return {"ok": False, "error": f"unknown command {line.strip()!r}: see python -m hmi.plc.simulator_control"}
    except ValueError as exc:
        return {"ok": False, "error": f"{line.strip()!r}: {exc}"}
    return {"ok": True}


def follow_commands(plc: SimulatedPlc, lines: TextIO, out: TextIO) -> None:
    """Answer every command line until `lines` ends (the simulated PLC keeps serving afterwards)."""
    for line in lines:
        if line.strip():
            print(json.dumps(answer(plc, line)), file=out, flush=True)


if __name__ == "__main__":
    print(__doc__)
