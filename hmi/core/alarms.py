"""Active alarms raised by workers and read by the screens; one board, owned by the composition root."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING

from hmi.core.part import utc_now

if TYPE_CHECKING:
    from hmi.core.alarm_catalogue import AlarmSpec


class Priority(IntEnum):
    """Alarm priority, ISA-18.2 style: 1 is the most urgent."""

    HIGH = 1
    MEDIUM = 2
    LOW = 3


@dataclass(frozen=True)
class Alarm:
    """One alarm condition: a stable code, plain words with the next step, and its state."""

    code: str
    priority: Priority
    message: str
    raised_at: datetime
    active: bool = True
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    shelved_until: datetime | None = None
    shelve_reason: str | None = None


def _code(alarm: AlarmSpec | str) -> str:
    return alarm if isinstance(alarm, str) else alarm.code


class AlarmBoard:
    """Thread-safe table of alarms keyed by code; workers raise (from hmi.core.alarm_catalogue), people acknowledge."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._alarms: dict[str, Alarm] = {}
        self._listeners: list = []

    def subscribe(self, listener) -> None:
        """Call `listener(alarm)` (from the raising thread) whenever an alarm is raised, cleared or acknowledged."""
        self._listeners.append(listener)

    def _notify(self, alarm: Alarm) -> None:
        for fn in list(self._listeners):
            fn(alarm)

    def raise_(self, alarm: AlarmSpec, **facts: object) -> None:
        """Raise (or update the text of) a catalogued alarm, its text filled in from `facts`.

        An already active alarm keeps its time and acknowledgement.
        """
        code, priority, message = alarm.code, alarm.priority, alarm.message(**facts)
        with self._lock:
            old = self._alarms.get(code)
            if old is not None and old.active:
                if old.message == message:
                    return
                alarm = replace(old, message=message, priority=priority)
            else:
                alarm = Alarm(code, priority, message, utc_now())
            self._alarms[code] = alarm
        self._notify(alarm)

    def clear(self, alarm: AlarmSpec | str) -> None:
        """Mark the condition gone; it stays listed until acknowledged."""
        code = _code(alarm)
        with self._lock:
            old = self._alarms.get(code)
            if old is None or not old.active:
                return
            alarm = replace(old, active=False)
            if alarm.acknowledged_by:
                del self._alarms[code]
            else:
                self._alarms[code] = alarm
        self._notify(alarm)

    def acknowledge(self, code: str, user: str) -> Alarm | None:
        """Record that `user` has seen the alarm; a cleared and acknowledged alarm leaves the list."""
        with self._lock:
            old = self._alarms.get(code)
            if old is None:
                return None
            alarm = replace(old, acknowledged_by=user, acknowledged_at=utc_now())
            if alarm.active:
                self._alarms[code] = alarm
            else:
                del self._alarms[code]
        self._notify(alarm)
        return alarm

    def shelve(self, code: str, until: datetime, reason: str) -> Alarm | None:
        """Hide an alarm from the alarm zone until `until`, with a reason."""
        with self._lock:
            old = self._alarms.get(code)
            if old is None:
                return None
            alarm = replace(old, shelved_until=until, shelve_reason=reason)
            self._alarms[code] = alarm
        self._notify(alarm)
        return alarm

    def is_active(self, alarm: AlarmSpec | str) -> bool:
        """True while the condition behind the alarm (or code) holds."""
        with self._lock:
            a = self._alarms.get(_code(alarm))
            return bool(a and a.active)

    def snapshot(self) -> list[Alarm]:
        """All listed alarms, most urgent and newest first."""
        with self._lock:
            items = list(self._alarms.values())
        return sorted(items, key=lambda a: (not a.active, a.priority, -a.raised_at.timestamp()))
