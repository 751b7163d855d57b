"""The station's state and the health of camera, model, PLC and disk, read from one StationStatus."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from hmi.camera.capture import CAMERA_ALARM
from hmi.core.alarms import Alarm
from hmi.core.part import utc_now
from hmi.inference.worker import MODEL_ALARM
from hmi.pipeline.worker import WorkerState

PLC_OFF = "PLC_OFF"  # raised by the PLC signaller when signalling is switched off (plc.mode = off)
_LIGHTING_PREFIX = "LIGHTING"  # lighting drift: the camera works, its pictures are changing
_PLC_PREFIX = "PLC_"
_DISK_PREFIXES = ("DISK", "STORE", "RECORDS", "IMAGE")


class Level(IntEnum):
    """How a tile looks: grey when normal; amber or red, with words, when not."""

    OK = 0
    WARN = 1
    FAULT = 2


@dataclass(frozen=True)
class Health:
    """One tile of the status zone: what it is about, its level and the words shown."""

    name: str
    level: Level
    text: str


def visible(alarm: Alarm, now: datetime | None = None) -> bool:
    """True unless the alarm is shelved and its shelving has not yet expired."""
    return alarm.shelved_until is None or alarm.shelved_until <= (now or utc_now())


def _active(alarms: list[Alarm]) -> dict[str, Alarm]:
    return {a.code: a for a in alarms if a.active}


def _failed(workers, *roles: str) -> str:
    for w in workers:
        if w.role in roles and w.state is WorkerState.FAILED:
            return w.error or f"{w.role} stopped"
    return ""


def station_state(workers) -> tuple[Level, str]:
    """RUNNING, STARTING, STOPPED or FAULT from the workers' states."""
    states = {w.role: w.state for w in workers}
    if any(s is WorkerState.FAILED for s in states.values()):
        return Level.FAULT, "FAULT"
    capture = states.get("capture")
    if capture is WorkerState.RUNNING:
        return Level.OK, "RUNNING"
    if capture in (WorkerState.NEW, WorkerState.STARTING):
        return Level.WARN, "STARTING"
    return Level.WARN, "STOPPED"


def station_health(status, has_model: bool) -> list[Health]:
    """Camera, Model, PLC and Disk tiles for the status zone."""
    alarms = _active(status.alarms)
    workers = status.workers
    roles = {w.role for w in workers}
    out = []

    if CAMERA_ALARM in alarms or _failed(workers, "capture"):
        out.append(Health("Camera", Level.FAULT, "LOST"))
    elif any(c.startswith(_LIGHTING_PREFIX) for c in alarms):
        out.append(Health("Camera", Level.WARN, "LIGHT DRIFT"))
    else:
        fps = status.capture.fps
        out.append(Health("Camera", Level.OK, f"OK {fps:.0f}/s" if fps >= 1 else "OK"))

    if not has_model or MODEL_ALARM in alarms or _failed(workers, "inference"):
        out.append(Health("Model", Level.FAULT, "NOT LOADED" if not has_model else "FAILING"))
    else:
        out.append(Health("Model", Level.OK, "OK"))

    plc_codes = [c for c in alarms if c.startswith(_PLC_PREFIX) and c != PLC_OFF]
    if plc_codes or _failed(workers, "plc"):
        out.append(Health("PLC", Level.FAULT, "SILENT" if any("SILENT" in c for c in plc_codes) else "DOWN"))
    elif PLC_OFF in alarms:
        out.append(Health("PLC", Level.WARN, "OFF"))
    elif "plc" not in roles:
        out.append(Health("PLC", Level.WARN, "NONE"))
    else:
        out.append(Health("PLC", Level.OK, "OK"))

    disk_codes = [c for c in alarms if c.startswith(_DISK_PREFIXES)]
    if disk_codes or _failed(workers, "store", "images"):
        out.append(Health("Disk", Level.FAULT, "LOW" if any(c.startswith("DISK") for c in disk_codes) else "FAULT"))
    elif "store" not in roles:
        out.append(Health("Disk", Level.WARN, "NO RECORDS"))
    else:
        out.append(Health("Disk", Level.OK, "OK"))
    return out
