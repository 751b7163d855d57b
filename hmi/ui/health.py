"""The station's state and the health of camera, model, PLC and disk, read from one StationStatus."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from hmi.core.alarm_catalogue import CATALOGUE, AlarmSpec, Tile, worker_alarm
from hmi.core.alarms import Alarm, Priority
from hmi.core.part import Part, utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.worker import WorkerState

_ORDER = {code: i for i, code in enumerate(CATALOGUE)}  # ties in priority: the one declared first
NOT_INSPECTED_RUN = 5  # this many newest parts all NOT INSPECTED make it the line's state, not one part's


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


def _raised(status) -> dict[Tile, AlarmSpec]:
    """Per tile, the most urgent of its active alarms and failed workers (the catalogue says which tile)."""
    specs = [spec for a in status.alarms if a.active and (spec := CATALOGUE.get(a.code)) is not None]
    specs += [worker_alarm(w.role) for w in status.workers if w.state is WorkerState.FAILED]
    out: dict[Tile, AlarmSpec] = {}
    for spec in sorted(specs, key=lambda s: (s.priority, _ORDER[s.code])):
        if spec.tile is not None:
            out.setdefault(spec.tile, spec)
    return out


def _tile(tile: Tile, spec: AlarmSpec) -> Health:
    """A tile coloured by its alarm: red for HIGH priority, amber otherwise, with the alarm's word."""
    return Health(tile.value, Level.FAULT if spec.priority is Priority.HIGH else Level.WARN, spec.tile_word)


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


def none_inspected(recent: Sequence[Part]) -> bool:
    """True when the newest NOT_INSPECTED_RUN parts were all NOT INSPECTED (e.g. the camera gives no images)."""
    last = list(recent)[-NOT_INSPECTED_RUN:]
    return len(last) == NOT_INSPECTED_RUN and all(p.verdict is Verdict.NOT_INSPECTED for p in last)


@dataclass(frozen=True)
class LineFault:
    """A state of the line that the verdict area shows instead of the newest part's verdict."""

    words: str    # PLC LOST, CAMERA LOST, NOT INSPECTED
    detail: str   # the alarm's whole text: what happened — what to do


def _alarm_text(status, spec: AlarmSpec) -> str:
    alarm = next((a for a in status.alarms if a.active and a.code == spec.code), None)
    return alarm.message if alarm is not None else f"{spec.text.split(':')[0].split('{')[0].strip()} — {spec.action}"


def line_fault(status, recent: Sequence[Part] = ()) -> LineFault | None:
    """PLC LOST, CAMERA LOST or NOT INSPECTED while the line is in that state (None when it judges normally).

    PLC LOST while a HIGH alarm sits on the PLC tile (no results reach the line: it rejects); CAMERA LOST
    while one sits on the camera tile; NOT INSPECTED when the newest parts all were.
    """
    raised = _raised(status)
    for tile, words in ((Tile.PLC, "PLC LOST"), (Tile.CAMERA, "CAMERA LOST")):
        spec = raised.get(tile)
        if spec is not None and spec.priority is Priority.HIGH:
            return LineFault(words, _alarm_text(status, spec))
    if none_inspected(recent):
        newest = list(recent)[-1]
        why = newest.capture_error or (newest.decision.reason if newest.decision else "") or "no inspection result"
        return LineFault("NOT INSPECTED", f"The last {NOT_INSPECTED_RUN} parts were not inspected ({why}): they are "
                                          "rejected — check the camera, its images and the model")
    return None


def station_health(status, has_model: bool, recent: Sequence[Part] = ()) -> list[Health]:
    """One Health per status tile (Camera, Model, PLC, Disk), from the alarms the catalogue puts on each.

    The camera tile says NOT INSPECTED, not OK, while the newest parts all went uninspected (`recent`).
    """
    raised = _raised(status)
    roles = {w.role for w in status.workers}
    out = []
    for tile in Tile:
        spec = raised.get(tile)
        if tile is Tile.MODEL and not has_model:
            out.append(Health(tile.value, Level.FAULT, "NOT LOADED"))
        elif spec is not None:
            out.append(_tile(tile, spec))
        elif tile is Tile.CAMERA and none_inspected(recent):
            out.append(Health(tile.value, Level.FAULT, "NOT INSPECTED"))
        elif tile is Tile.CAMERA:
            fps = status.capture.fps
            out.append(Health(tile.value, Level.OK, f"OK {fps:.0f}/s" if fps >= 1 else "OK"))
        elif tile is Tile.PLC and "plc" not in roles:
            out.append(Health(tile.value, Level.WARN, "NONE"))
        elif tile is Tile.DISK and "store" not in roles:
            out.append(Health(tile.value, Level.WARN, "NO RECORDS"))
        else:
            out.append(Health(tile.value, Level.OK, "OK"))
    return out
