"""What the touchscreen uses of the running station (the composition root hands it in; the UI never imports it).

These Protocols are the whole contract: the UI reads the newest part, counters, status, alarms and
held parts from memory on the UI thread (all non-blocking), and calls `users`, `audit`, `records`
and `holds.decide` only from its background thread (they may touch the disk or wait on a queue).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from hmi.config.schema import Recipe, StationConfig
from hmi.core.alarms import AlarmBoard
from hmi.core.part import Part
from hmi.pipeline.holds import HoldQueue
from hmi.pipeline.outlet import VerdictCounts
from hmi.store.audit import AuditEntry
from hmi.store.queries import PartRecord
from hmi.store.users import User


class NewestPart(Protocol):
    """The screens' slot: (version, newest decided part); the version changes with every part."""

    def peek(self) -> tuple[int, Part | None]: ...


class Outlet(Protocol):
    """Counters and the short history of judged parts."""

    def recent(self) -> list[Part]: ...
    def counts(self) -> VerdictCounts: ...


class ActiveSetupPort(Protocol):
    """The judging setup in force (`.thresholds`, `.inspector.region_threshold`, `.inspector.backend`)."""

    def get(self) -> Any: ...


class UsersPort(Protocol):
    """The user directory (hmi.store.users.UserDirectory): logins are audited by it."""

    def authenticate(self, name: str, secret: str) -> User: ...
    def logout(self, user: User) -> None: ...
    def list(self) -> list[User]: ...
    def needs_first_admin(self) -> bool: ...


class RecordsPort(Protocol):
    """Read-only questions about stored parts."""

    def part(self, seq: int) -> PartRecord | None: ...
    def part_history(self, seq: int) -> list[AuditEntry]: ...


class AuditPort(Protocol):
    """Append one audit entry (an AuditAction value as `action`)."""

    def __call__(self, user: str, action: str, subject: str, old: str, new: str, reason: str) -> Any: ...


class StationPort(Protocol):
    """Everything the UI touches on the station object."""

    cfg: StationConfig
    recipe: Recipe
    data_dir: Path
    newest: NewestPart
    outlet: Outlet
    alarms: AlarmBoard
    holds: HoldQueue
    active: ActiveSetupPort
    users: UsersPort
    records: RecordsPort
    audit: AuditPort

    def status(self) -> Any: ...
