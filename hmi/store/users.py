"""Users, roles and what each role may do; secrets hashed with argon2id, logins audited, lockout after 5 failures."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import NoReturn, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hmi.core.errors import PermissionDenied, StoreError
from hmi.core.messages import TIMEOUT_REVIEWER
from hmi.core.part import utc_now
from hmi.store.audit import AuditAction, AuditRequest, append_entry
from hmi.store.database import iso_utc, open_readonly
from hmi.store.requests import OwnConnection, Writes

T = TypeVar("T")

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=5)
MIN_SECRET_LEN = 4
MAX_SECRET_LEN = 128
MAX_NAME_LEN = 32
FIRST_RUN = "first-run"  # audit name for the admin created on a fresh station


STATION = "station"  # audit name when the station acts on its own (e.g. records a recipe file's threshold version)
# Names a person may not take: the records use them for the station's own actions.
RESERVED_NAMES = frozenset({STATION, TIMEOUT_REVIEWER})

class Role(str, Enum):
    """What a person is at the station; decides what they may do."""

    OPERATOR = "operator"
    TECHNICIAN = "technician"
    QUALITY = "quality"
    ADMIN = "admin"

    @property
    def title(self) -> str:
        """The role as said in a sentence: 'a technician'."""
        return _ROLE_TITLES[self]


_ROLE_TITLES = {Role.OPERATOR: "an operator", Role.TECHNICIAN: "a technician",
                Role.QUALITY: "a quality manager", Role.ADMIN: "an admin"}


class Permission(str, Enum):
    """An action the domain layer guards with `require`."""

    REVIEW = "review"
    ACK_ALARMS = "acknowledge_alarms"
    SHELVE_ALARMS = "shelve_alarms"
    THRESHOLDS = "thresholds"
    CAMERA = "camera"
    RECIPES = "recipes"
    TEACH = "teach"
    ROI = "roi"
    MODELS = "models"
    REPORTS = "reports"
    EXPORT = "export"
    REPORT_DEFECTS = "report_defects"
    USERS = "users"

    @property
    def doing(self) -> str:
        """The action in words: 'change thresholds'."""
        return _DOING[self]


_DOING = {
    Permission.REVIEW: "review parts",
    Permission.ACK_ALARMS: "acknowledge alarms",
    Permission.SHELVE_ALARMS: "shelve alarms",
    Permission.THRESHOLDS: "change thresholds",
    Permission.CAMERA: "change camera settings",
    Permission.RECIPES: "change recipes",
    Permission.TEACH: "teach a product",
    Permission.ROI: "change the region of interest",
    Permission.MODELS: "activate a model",
    Permission.REPORTS: "open reports",
    Permission.EXPORT: "export records",
    Permission.REPORT_DEFECTS: "report a defect found downstream",
    Permission.USERS: "manage users",
}

_OPERATOR = frozenset({Permission.REVIEW, Permission.ACK_ALARMS})
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: _OPERATOR,
    Role.TECHNICIAN: _OPERATOR | {Permission.THRESHOLDS, Permission.CAMERA, Permission.RECIPES, Permission.TEACH,
                                  Permission.ROI, Permission.MODELS, Permission.SHELVE_ALARMS},
    Role.QUALITY: frozenset({Permission.REPORTS, Permission.EXPORT, Permission.REVIEW, Permission.REPORT_DEFECTS}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True)
class User:
    """A person known to the station, as read from the users table."""

    name: str
    role: Role
    active: bool = True
    locked_until: datetime | None = None
    last_login_at: datetime | None = None

    def can(self, permission: Permission) -> bool:
        """True when this user's role allows `permission`."""
        return self.active and permission in ROLE_PERMISSIONS[self.role]


def _allowed_roles(permission: Permission) -> str:
    roles = [r for r in Role if permission in ROLE_PERMISSIONS[r]]
    if len(roles) > 1:
        roles.remove(Role.ADMIN)  # an admin may do everything; naming it each time adds nothing
    titles = [r.title for r in roles]
    return titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " or " + titles[-1]


def require(user: User | None, permission: Permission) -> None:
    """Raise PermissionDenied in plain words unless `user` may do `permission`."""
    who = _allowed_roles(permission)
    if user is None:
        raise PermissionDenied(f"Nobody is logged in, and only {who} can {permission.doing}",
                               f"log in as {who} first")
    if not user.active:
        raise PermissionDenied(f"{user.name} is disabled", "ask an admin to reset the user")
    if not user.can(permission):
        ask = f"ask {who} to log in" if " or " not in who else "ask one of them to log in"
        raise PermissionDenied(f"Only {who} can {permission.doing}", ask)


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _user(row: sqlite3.Row | tuple) -> User:
    name, role, active, locked_until, last_login_at = row
    return User(name, Role(role), bool(active), _parse(locked_until), _parse(last_login_at))


_USER_COLUMNS = "name, role, active, locked_until, last_login_at"


class UserDirectory:
    """The station's users: add, disable, reset and authenticate; every change goes to the audit trail.

    There is no default account: on a fresh station `needs_first_admin()` is True and the first
    user added must be an admin (added with `by=None`). Every write (users, failed logins, lock-outs, login
    audit entries) goes through `writes`: in a station the store thread's requests, else (a tool such as
    `hmi admin`) a connection of its own. Reads use a read-only connection.
    """

    def __init__(self, db_path: Path, clock: Callable[[], datetime] = utc_now,
                 hasher: PasswordHasher | None = None, *, writes: Writes | None = None) -> None:
        self._own_writes = writes is None
        self._writes: Writes = writes if writes is not None else OwnConnection(db_path)
        self._conn = open_readonly(db_path)
        self._conn.row_factory = None  # plain tuples, as the write connection gives them
        self._lock = threading.Lock()
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    # --- reading -----------------------------------------------------------------------------
    def get(self, name: str) -> User | None:
        """The user called `name` (case-insensitive), or None."""
        with self._lock:
            row = self._conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name.strip(),)).fetchone()
        return _user(row) if row else None

    def list(self) -> "list[User]":
        """Every user, active first, by name."""
        with self._lock:
            rows = self._conn.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY active DESC, name").fetchall()
        return [_user(r) for r in rows]

    def needs_first_admin(self) -> bool:
        """True while no active admin exists: the station must ask for one before anything else."""
        with self._lock:
            row = self._conn.execute("SELECT count(*) FROM users WHERE role = 'admin' AND active = 1").fetchone()
        return row[0] == 0

    # --- changing ----------------------------------------------------------------------------
    def add(self, name: str, role: Role | str, secret: str, by: User | None) -> User:
        """Add a user; `by` must be an admin, or None for the first admin of a fresh station."""
        name, role = _check_name(name), Role(role)
        _check_secret(secret)
        digest = self._hasher.hash(secret)  # slow on purpose: hash before taking the write lock
        now = iso_utc(self._clock())

        def add(conn: sqlite3.Connection) -> None:
            if by is None:
                if self._active_admins(conn) > 0:
                    raise PermissionDenied("Only an admin can manage users", "ask an admin to log in")
                if role is not Role.ADMIN:
                    raise PermissionDenied("The first user of a new station must be an admin",
                                           "add an admin first; the admin then adds the other users")
                actor = FIRST_RUN
            else:
                actor = acting_user(conn, by, Permission.USERS).name
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise StoreError(f"a user called '{name}' already exists", "choose another name, or reset that user")
            conn.execute("INSERT INTO users (name, role, secret_hash, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
                         (name, role.value, digest, now, actor))
            append_entry(conn, AuditRequest(actor, AuditAction.USER_ADD, name, None, role.value))

        self._write("add a user", add)
        return User(name, role)

    def disable(self, name: str, by: User, reason: str = "") -> User:
        """Stop `name` from logging in; the last active admin cannot be disabled."""
        at = iso_utc(self._clock())

        def disable(conn: sqlite3.Connection) -> User:
            actor = acting_user(conn, by, Permission.USERS).name
            target = self._target(conn, name)
            if target.role is Role.ADMIN and target.active and self._active_admins(conn) <= 1:
                raise PermissionDenied(f"{target.name} is the last admin and cannot be disabled",
                                       "add another admin first")
            conn.execute("UPDATE users SET active = 0, changed_at = ? WHERE name = ?", (at, target.name))
            append_entry(conn, AuditRequest(actor, AuditAction.USER_DISABLE, target.name,
                                            "active" if target.active else "disabled", "disabled", reason))
            return User(target.name, target.role, active=False)

        return self._write("disable a user", disable)

    def reset(self, name: str, secret: str, by: User, reason: str = "") -> User:
        """Give `name` a new secret and let them log in again (clears a lockout, re-enables a disabled user)."""
        _check_secret(secret)
        digest = self._hasher.hash(secret)
        at = iso_utc(self._clock())

        def reset(conn: sqlite3.Connection) -> User:
            actor = acting_user(conn, by, Permission.USERS).name
            target = self._target(conn, name)
            conn.execute("UPDATE users SET secret_hash = ?, active = 1, failed_logins = 0, locked_until = NULL, "
                         "changed_at = ? WHERE name = ?", (digest, at, target.name))
            before = "disabled" if not target.active else "active"
            append_entry(conn, AuditRequest(actor, AuditAction.USER_RESET, target.name, before, "active", reason))
            return User(target.name, target.role)

        return self._write("reset a user", reset)

    # --- logging in --------------------------------------------------------------------------
    def authenticate(self, name: str, secret: str) -> User:
        """The user, when `secret` is right; PermissionDenied otherwise. Every try is audited."""
        return self._check(name, secret, AuditAction.LOGIN, "")

    def sign(self, name: str, secret: str, meaning: str) -> User:
        """An electronic signature: the user's PIN entered again for `meaning`; audited like a login try.

        Wrong entries count towards the lock-out exactly as wrong logins do.
        """
        return self._check(name, secret, AuditAction.SIGNATURE, meaning)

    def _check(self, name: str, secret: str, action: AuditAction, meaning: str) -> User:
        name = (name or "").strip()
        now = self._clock()
        with self._lock:
            row = self._conn.execute(f"SELECT {_USER_COLUMNS}, secret_hash FROM users WHERE name = ?",
                                     (name,)).fetchone()
        if row is None:
            self._verify(self._dummy(), secret)  # same time as a real user, so names cannot be probed
            self._audit(name[:2 * MAX_NAME_LEN] or "(empty)", AuditAction.LOGIN_FAILED, "unknown user")
            raise _wrong()
        user, digest = _user(row[:5]), row[5]
        if user.locked_until is not None and user.locked_until > now:
            minutes = max(1, round((user.locked_until - now).total_seconds() / 60))
            self._audit(user.name, AuditAction.LOGIN_FAILED, "tried while locked")
            raise PermissionDenied(f"{user.name} is locked after {MAX_FAILURES} wrong entries "
                                   f"for another {minutes} minute{'s' if minutes != 1 else ''}",
                                   "wait, or ask an admin to reset the PIN")
        if not self._verify(digest, secret):
            self._fail_login(user, now)
        if not user.active:
            self._audit(user.name, AuditAction.LOGIN_FAILED, "user disabled")
            raise PermissionDenied(f"{user.name} is disabled", "ask an admin to reset the user")
        new_digest = self._hasher.hash(secret) if self._hasher.check_needs_rehash(digest) else digest

        def logged_in(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = ?, "
                         "secret_hash = ? WHERE name = ?", (iso_utc(now), new_digest, user.name))
            append_entry(conn, AuditRequest(user.name, action, user.name, reason=meaning))

        self._write("record a login", logged_in)
        return User(user.name, user.role, True, None, now)

    def logout(self, user: User) -> None:
        """Record that `user` logged out."""
        self._audit(user.name, AuditAction.LOGOUT, "")

    def close(self) -> None:
        """Release the read connection (and the write connection of a tool's own)."""
        with self._lock:
            self._conn.close()
        if self._own_writes:
            self._writes.close()

    # --- internals ---------------------------------------------------------------------------
    def _fail_login(self, user: User, now: datetime) -> NoReturn:
        """Count a wrong secret, lock the name at the fifth, audit it, and raise."""

        def failed(conn: sqlite3.Connection) -> int:
            failures = conn.execute("UPDATE users SET failed_logins = failed_logins + 1 WHERE name = ? "
                                    "RETURNING failed_logins", (user.name,)).fetchone()[0]
            if failures >= MAX_FAILURES:
                until = now + LOCKOUT
                conn.execute("UPDATE users SET failed_logins = 0, locked_until = ? WHERE name = ?",
                             (iso_utc(until), user.name))
                why = f"wrong secret ({failures} of {MAX_FAILURES}); locked until {iso_utc(until)}"
            else:
                why = f"wrong secret ({failures} of {MAX_FAILURES})"
            append_entry(conn, AuditRequest(user.name, AuditAction.LOGIN_FAILED, user.name, reason=why))
            return failures

        failures = self._write("record a failed login", failed)
        if failures >= MAX_FAILURES:
            raise PermissionDenied(f"Wrong PIN for {user.name} {MAX_FAILURES} times: the name is locked for "
                                   f"{int(LOCKOUT.total_seconds() // 60)} minutes",
                                   "wait, or ask an admin to reset the PIN")
        raise _wrong()

    def _verify(self, digest: str, secret: str) -> bool:
        try:
            return self._hasher.verify(digest, secret or "")
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("not a user of this station")
        return self._dummy_hash

    def _audit(self, user: str, action: AuditAction, reason: str) -> None:
        self._write("record a login", lambda conn: append_entry(conn, AuditRequest(user, action, user, reason=reason)))

    def _write(self, doing: str, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` in one write transaction of the store (waiting for it); database errors become StoreError."""
        return self._writes.run(f"could not {doing} in the records database", "free disk space or call service", work)

    def _target(self, conn: sqlite3.Connection, name: str) -> User:
        row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name.strip(),)).fetchone()
        if row is None:
            raise StoreError(f"there is no user called '{name}'", "check the name in the user list")
        return _user(row)

    @staticmethod
    def _active_admins(conn: sqlite3.Connection) -> int:
        return conn.execute("SELECT count(*) FROM users WHERE role = 'admin' AND active = 1").fetchone()[0]


def acting_user(conn: sqlite3.Connection, by: User, permission: Permission) -> User:
    """The acting user as stored now (not as when they logged in), checked for `permission`."""
    row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (by.name,)).fetchone()
    if row is None:
        raise PermissionDenied(f"{by.name} is not a user of this station", "log in again")
    current = _user(row)
    require(current, permission)
    return current


def _wrong() -> PermissionDenied:
    return PermissionDenied("Wrong name or PIN",
                            f"try again; after {MAX_FAILURES} wrong tries the name is locked for "
                            f"{int(LOCKOUT.total_seconds() // 60)} minutes")


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_LEN or not name.isprintable():
        raise StoreError(f"'{name}' cannot be a user name", f"use 1 to {MAX_NAME_LEN} letters, digits or spaces")
    if name.casefold() in RESERVED_NAMES:
        raise StoreError(f"'{name}' is the name the records give the station's own actions",
                         "choose another user name")
    return name


def _check_secret(secret: str) -> None:
    if not isinstance(secret, str) or not (MIN_SECRET_LEN <= len(secret) <= MAX_SECRET_LEN):
        raise StoreError(f"a PIN or password needs {MIN_SECRET_LEN} to {MAX_SECRET_LEN} characters",
                         "choose a longer one")
