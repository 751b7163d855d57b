"""Users, roles and what each role may do; secrets hashed with argon2id, logins audited, lockout after 5 failures.

The lock-out is decided inside the store's write transaction (so parallel wrong PINs are counted one by one)
and timed on the monotonic clock (so setting the wall clock neither ends nor stretches one). The database
keeps the lock and its wall-clock end (`locked_until`); a process that finds a lock it did not set (after a
restart, or set by another process) holds it until that end, but never longer than LOCKOUT from then.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hmi.config.schema import UsersConfig
from hmi.core.errors import PermissionDenied, StoreError
from hmi.core.messages import TIMEOUT_REVIEWER
from hmi.core.part import utc_now
from hmi.store.audit import AuditAction, AuditRequest, append_entry
from hmi.store.database import iso_utc, open_readonly
from hmi.store.requests import OwnConnection, Writes
from hmi.store.seals import keep_users_sealed

T = TypeVar("T")

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=5)
MIN_SECRET_LEN = UsersConfig().min_pin_length  # station.toml [users] min_pin_length overrides it
MAX_SECRET_LEN = 128
MAX_NAME_LEN = 32
FIRST_RUN = "first-run"  # audit name for the admin created on a fresh station
RECOVERY = "console-recovery"  # audit name for an admin restored at the station's console


STATION = "station"  # audit name when the station acts on its own (e.g. records a recipe file's threshold version)
# Names a person may not take: the records use them for the station's own actions.
RESERVED_NAMES = frozenset({STATION, TIMEOUT_REVIEWER, FIRST_RUN, RECOVERY})

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
    ACCEPT_CHANGES = "accept_changes"

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
    Permission.ACCEPT_CHANGES: "accept settings changed outside the station",
}

_OPERATOR = frozenset({Permission.REVIEW, Permission.ACK_ALARMS})
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: _OPERATOR,
    Role.TECHNICIAN: _OPERATOR | {Permission.THRESHOLDS, Permission.CAMERA, Permission.RECIPES, Permission.TEACH,
                                  Permission.ROI, Permission.MODELS, Permission.SHELVE_ALARMS,
                                  Permission.ACCEPT_CHANGES},
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

    There is no default account: on a station that never had users `needs_first_admin()` is True and the
    first user added must be an admin (added with `by=None`). Once it had users that door stays shut, even if
    the users table is emptied behind the station's back: then only `recover_admin` (at the console) helps.
    Every write (users, failed logins, lock-outs, login audit entries) goes through `writes`: in a station the
    store thread's requests, else (a tool such as `hmi admin`) a connection of its own. Reads use a read-only
    connection. `clock` gives the wall-clock time recorded, `monotonic` times the lock-outs.
    """

    def __init__(self, db_path: Path, clock: Callable[[], datetime] = utc_now,
                 hasher: PasswordHasher | None = None, *, writes: Writes | None = None,
                 monotonic: Callable[[], float] = time.monotonic, min_secret_len: int = MIN_SECRET_LEN) -> None:
        self._own_writes = writes is None
        self._writes: Writes = writes if writes is not None else OwnConnection(db_path)
        self._conn = open_readonly(db_path)
        self._conn.row_factory = None  # plain tuples, as the write connection gives them
        self._lock = threading.Lock()
        self._clock = clock
        self._monotonic = monotonic
        self.min_secret_len = min_secret_len
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None
        # name -> (locked_until as stored, monotonic end): when each lock this process knows of ends.
        self._lock_ends: dict[str, tuple[str, float]] = {}
        self._lock_ends_lock = threading.Lock()

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

    def first_run_open(self) -> bool:
        """True on a station that never had users: its first admin may be added without an admin."""
        with self._lock:
            return not _had_users(self._conn)

    # --- changing ----------------------------------------------------------------------------
    def add(self, name: str, role: Role | str, secret: str, by: User | None) -> User:
        """Add a user; `by` must be an admin, or None for the first admin of a fresh station."""
        name, role = _check_name(name), Role(role)
        _check_secret(secret, self.min_secret_len)
        digest = self._hasher.hash(secret)  # slow on purpose: hash before taking the write lock
        now = iso_utc(self._clock())

        def add(conn: sqlite3.Connection) -> None:
            if by is None:
                if self._active_admins(conn) > 0:
                    raise PermissionDenied("Only an admin can manage users", "ask an admin to log in")
                if _had_users(conn):
                    raise PermissionDenied(
                        "This station has had users, so no first admin can be created without one (the users "
                        "were removed or disabled behind the station's back)",
                        "restore an admin at the station's console: hmi users recover-admin NAME --reason TEXT "
                        "(recorded in the audit trail)")
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
        _check_secret(secret, self.min_secret_len)
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
        now, mono = self._clock(), self._monotonic()
        with self._lock:
            row = self._conn.execute(f"SELECT {_USER_COLUMNS}, secret_hash FROM users WHERE name = ?",
                                     (name,)).fetchone()
        if row is None:
            self._verify(self._dummy(), secret)  # same time as a real user, so names cannot be probed
            self._audit(name[:2 * MAX_NAME_LEN] or "(empty)", AuditAction.LOGIN_FAILED, "unknown user")
            raise _wrong()
        user, digest = _user(row[:5]), row[5]
        # A name locked as far as this read shows is not worth the slow hash; the transaction decides anyway.
        right = self._lock_left(user.name, row[3], now, mono) <= 0 and self._verify(digest, secret)
        new_digest = self._hasher.hash(secret) if right and self._hasher.check_needs_rehash(digest) else digest

        def attempt(conn: sqlite3.Connection) -> tuple[str, float]:
            return self._attempt(conn, user.name, right, digest, new_digest, now, mono, action, meaning)

        outcome, left = self._write("record a login", attempt)
        if outcome == "locked":
            minutes = max(1, -int(-left // 60))
            raise PermissionDenied(f"{user.name} is locked after {MAX_FAILURES} wrong entries "
                                   f"for another {minutes} minute{'s' if minutes != 1 else ''}",
                                   "wait, or ask an admin to reset the PIN")
        if outcome == "now locked":
            raise PermissionDenied(f"Wrong PIN for {user.name} {MAX_FAILURES} times: the name is locked for "
                                   f"{int(LOCKOUT.total_seconds() // 60)} minutes",
                                   "wait, or ask an admin to reset the PIN")
        if outcome == "disabled":
            raise PermissionDenied(f"{user.name} is disabled", "ask an admin to reset the user")
        if outcome != "ok":
            raise _wrong()
        return User(user.name, user.role, True, None, now)

    def _attempt(self, conn: sqlite3.Connection, name: str, right: bool, digest: str, new_digest: str,
                 now: datetime, mono: float, action: AuditAction, meaning: str) -> tuple[str, float]:
        """One login try, decided and recorded in the store's transaction: (outcome, seconds of lock left)."""
        row = conn.execute("SELECT active, locked_until, secret_hash FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:  # removed meanwhile
            append_entry(conn, AuditRequest(name, AuditAction.LOGIN_FAILED, name, reason="unknown user"))
            return "wrong", 0.0
        active, locked_until, stored = row
        left = self._lock_left(name, locked_until, now, mono)
        if left > 0:
            append_entry(conn, AuditRequest(name, AuditAction.LOGIN_FAILED, name, reason="tried while locked"))
            return "locked", left
        if not right or stored != digest:  # wrong, or right for a PIN that was reset meanwhile
            failures = conn.execute("UPDATE users SET failed_logins = failed_logins + 1, locked_until = NULL "
                                    "WHERE name = ? RETURNING failed_logins", (name,)).fetchone()[0]
            if failures < MAX_FAILURES:
                append_entry(conn, AuditRequest(name, AuditAction.LOGIN_FAILED, name,
                                                reason=f"wrong secret ({failures} of {MAX_FAILURES})"))
                return "wrong", 0.0
            until = iso_utc(now + LOCKOUT)
            conn.execute("UPDATE users SET failed_logins = 0, locked_until = ? WHERE name = ?", (until, name))
            with self._lock_ends_lock:
                self._lock_ends[name] = (until, mono + LOCKOUT.total_seconds())
            why = f"wrong secret ({failures} of {MAX_FAILURES}); locked until {until}"
            append_entry(conn, AuditRequest(name, AuditAction.LOGIN_FAILED, name, reason=why))
            return "now locked", LOCKOUT.total_seconds()
        if not active:
            append_entry(conn, AuditRequest(name, AuditAction.LOGIN_FAILED, name, reason="user disabled"))
            return "disabled", 0.0
        conn.execute("UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = ?, "
                     "secret_hash = ? WHERE name = ?", (iso_utc(now), new_digest, name))
        append_entry(conn, AuditRequest(name, action, name, reason=meaning))
        return "ok", 0.0

    def _lock_left(self, name: str, locked_until: str | None, now: datetime, mono: float) -> float:
        """Seconds the lock on `name` still holds (0: none), on the monotonic clock."""
        if not locked_until:
            return 0.0
        with self._lock_ends_lock:
            known = self._lock_ends.get(name)
            if known is None or known[0] != locked_until:
                # Not set by this process: hold it to its wall-clock end, but never longer than LOCKOUT from now.
                ends = _parse(locked_until)
                wall_left = (ends - now).total_seconds() if ends is not None else 0.0
                known = (locked_until, mono + min(LOCKOUT.total_seconds(), max(0.0, wall_left)))
                self._lock_ends[name] = known
            return max(0.0, known[1] - mono)

    def recover_admin(self, name: str, secret: str, reason: str, console: str) -> User:
        """Restore an admin at the station's console: unlock, re-enable and give a new secret to the admin
        `name`, or add `name` as a new admin; audited as RECOVERY with `reason` and `console` (who, where).

        The console's authority is access to the data folder itself (owner-only): who can run this can
        already write the records file. It is the way back when every admin is locked, disabled or removed.
        """
        name = _check_name(name)
        _check_secret(secret, self.min_secret_len)
        reason = (reason or "").strip()
        if not reason:
            raise StoreError("restoring an admin needs a reason", "give one with --reason, e.g. "
                             "--reason 'the only admin is locked out'")
        digest = self._hasher.hash(secret)
        now = self._clock()

        def recover(conn: sqlite3.Connection) -> User:
            row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO users (name, role, secret_hash, created_at, created_by) "
                             "VALUES (?, 'admin', ?, ?, ?)", (name, digest, iso_utc(now), RECOVERY))
                before, stored = None, name
            else:
                target = _user(row)
                if target.role is not Role.ADMIN:
                    raise PermissionDenied(f"{target.name} is {target.role.title}, not an admin",
                                           "name an admin, or a new name to add an admin")
                left = self._lock_left(target.name, row[3], now, self._monotonic())
                before = "disabled" if not target.active else (f"locked until {row[3]}" if left > 0 else "active")
                conn.execute("UPDATE users SET secret_hash = ?, active = 1, failed_logins = 0, locked_until = NULL, "
                             "changed_at = ? WHERE name = ?", (digest, iso_utc(now), target.name))
                stored = target.name
            append_entry(conn, AuditRequest(RECOVERY, AuditAction.ADMIN_RECOVERY, stored, before,
                                            "admin, active, new secret", f"{reason} (at the console: {console})"))
            return User(stored, Role.ADMIN)

        return self._write("restore an admin", recover)

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
        return self._writes.run(f"could not {doing} in the records database", "free disk space or call service",
                                lambda conn: keep_users_sealed(conn, work, STATION))

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


def _check_secret(secret: str, shortest: int) -> None:
    if not isinstance(secret, str) or len(secret) < shortest:
        raise StoreError(f"a new PIN or password needs at least {shortest} characters "
                         "(station.toml: [users] min_pin_length)", "choose a longer one")
    if len(secret) > MAX_SECRET_LEN:
        raise StoreError(f"a PIN or password may have at most {MAX_SECRET_LEN} characters", "choose a shorter one")


def _had_users(conn: sqlite3.Connection) -> bool:
    """True once the station has had a user: one in the table, or one added in the audit trail."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM audit WHERE action IN "
                       "('user_add', 'admin_recovery'))").fetchone()
    return bool(row[0])
