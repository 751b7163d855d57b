"""What the touchscreen uses of the running station (the composition root hands it in; the UI never imports it).

These Protocols are the whole contract: the UI reads the newest part, counters, status, alarms and
held parts from memory on the UI thread (all non-blocking), and calls `users`, `audit`, `records`,
`review` and `report_downstream_defect` only from its background thread (they may touch the disk or wait
on a queue).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
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

    def peek(self) -> tuple[int, Part | None]:
        """(version, newest part) without waiting."""


class Outlet(Protocol):
    """Counters and the short history of judged parts."""

    def recent(self) -> list[Part]:
        """The last parts, newest last."""
    def counts(self) -> VerdictCounts:
        """Parts per automatic verdict since the start."""


class ActiveSetupPort(Protocol):
    """The judging setup in force (`.thresholds`, `.inspector.region_threshold`, `.inspector.backend`)."""

    def get(self) -> Any:
        """The JudgingSetup in force."""


class UsersPort(Protocol):
    """The user directory (hmi.store.users.UserDirectory): logins are audited by it."""

    def authenticate(self, name: str, secret: str) -> User:
        """The user when the PIN is right; PermissionDenied in plain words otherwise (audited)."""
    def logout(self, user: User) -> None:
        """Record the logout in the audit trail."""
    def list(self) -> list[User]:
        """Every user, active first."""
    def needs_first_admin(self) -> bool:
        """True while the station has no active admin."""


class RecordsPort(Protocol):
    """Read-only questions about stored parts."""

    def part(self, seq: int) -> PartRecord | None:
        """The stored record of part `seq` with its regions, or None when not (yet) recorded."""
    def part_history(self, seq: int) -> list[AuditEntry]:
        """Audit entries whose subject is f"part {seq}" (reviews, overrides), oldest first."""


class ChangesPort(Protocol):
    """Technician changes (hmi.changes.setup.SetupChanges); every call may block: background thread only.

    Methods: recipe (property), recipe_names(), load(name), models(), camera_settings(),
    set_camera(user, secret, reason, exposure_us=, gain_db=), camera_trial(user, secret, reason),
    save_lighting_reference(mean, user, limit_pct=),
    set_roi(roi, user, secret, reason), apply_thresholds(proposal, user, secret, reason),
    activate_model(name, user, secret, reason, thresholds=None), save_recipe(recipe, user, reason),
    copy_recipe(source, name, user, reason), changeover(name, user, reason, secret).
    """

    @property
    def recipe(self) -> Recipe:
        """The recipe in force."""


class ReportsPort(Protocol):
    """The station's low-priority report thread (hmi.services.reports.background.ReportWorker), stopped with it."""

    def submit(self, work: Callable[[], Any]) -> Future:
        """Queue `work` on the report thread; RuntimeError once the station stopped it."""


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
    backend: str
    users: UsersPort | None   # None: a station without records (setup mode); nobody can log in
    records: RecordsPort      # optional: without it the part screen shows what is in memory only
    changes: ChangesPort      # technician changes, signed and audited
    reports: ReportsPort      # the report thread: shift reports and exports are built there, never on the UI's

    def status(self) -> Any:
        """A StationStatus: counts, stage figures, worker health, backend, recipe, alarms."""

    def review(self, seq: int, verdict: Any, user: User, defect_type: str | None = None, note: str = "") -> Any:
        """Decide a held part as `user`; the station checks the user's role (PermissionDenied otherwise)."""
        ...

    def report_downstream_defect(self, seq: int, defect_type: str, user: User, secret: str, note: str = "") -> Any:
        """Report part `seq` as a defect found downstream, signed with `secret`; StationError in plain words."""
        ...

    def audit(self, user: str, action: str, subject: str = "", old: Any = None, new: Any = None,
              reason: str = "") -> Any:
        """Append one audit entry (`action` an AuditAction value); may wait briefly on the store's queue."""
        ...
