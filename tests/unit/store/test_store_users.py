"""Users: no default account, hashed secrets, audited logins, lockout after 5 failures, role permissions."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher

from hmi.core.errors import PermissionDenied, StoreError
from hmi.store.audit import verify
from hmi.store.users import ROLE_PERMISSIONS, Permission, Role, User, UserDirectory, require


class Clock:
    """A wall clock and a monotonic clock the test moves by hand, for the 5-minute lockout."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 6, 0, tzinfo=timezone.utc)
        self.mono = 1000.0

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def wait(self, span: timedelta) -> None:
        """Time passes: both clocks move on."""
        self.now += span
        self.mono += span.total_seconds()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def users(db_path, clock):
    """A directory with a cheap (still argon2id) hash so the suite stays fast; the default is tested apart."""
    d = UserDirectory(db_path, clock=clock, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
                      monotonic=clock.monotonic)
    yield d
    d.close()


@pytest.fixture
def admin(users) -> User:
    return users.add("Ann", Role.ADMIN, "4711-admin", by=None)


def _audit(db_path) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT user, action, subject, old_value, new_value, reason FROM audit ORDER BY id").fetchall()


def test_a_fresh_station_has_no_users_and_needs_an_admin_first(users):
    assert users.needs_first_admin()
    assert users.list() == []
    with pytest.raises(PermissionDenied, match="first user of a new station must be an admin"):
        users.add("Otto", Role.OPERATOR, "123456", by=None)
    ann = users.add("Ann", Role.ADMIN, "4711-admin", by=None)
    assert ann.role is Role.ADMIN and not users.needs_first_admin()
    with pytest.raises(PermissionDenied, match="Only an admin can manage users"):
        users.add("Eve", Role.ADMIN, "999999", by=None)


def test_secrets_are_stored_only_as_argon2id_hashes(users, admin, db_path):
    with sqlite3.connect(db_path) as conn:
        (digest,) = conn.execute("SELECT secret_hash FROM users WHERE name = 'Ann'").fetchone()
    assert digest.startswith("$argon2id$") and "4711-admin" not in digest


def test_the_default_hasher_is_argon2id_with_the_recommended_cost(db_path):
    d = UserDirectory(db_path)
    d.add("Ann", Role.ADMIN, "4711-admin", by=None)
    with sqlite3.connect(db_path) as conn:
        (digest,) = conn.execute("SELECT secret_hash FROM users").fetchone()
    assert digest.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert d.authenticate("ann", "4711-admin").name == "Ann"  # names are not case-sensitive
    d.close()


def test_short_secrets_and_bad_names_are_refused(users, admin):
    with pytest.raises(StoreError, match="needs at least 6 characters"):
        users.add("Otto", Role.OPERATOR, "123", by=admin)
    with pytest.raises(StoreError, match="cannot be a user name"):
        users.add("  ", Role.OPERATOR, "123456", by=admin)
    users.add("Otto", Role.OPERATOR, "123456", by=admin)
    with pytest.raises(StoreError, match="already exists"):
        users.add("otto", Role.OPERATOR, "567890", by=admin)


def test_the_names_the_records_give_the_station_cannot_be_taken(users, admin):
    # 'system' decides HOLD parts whose review time ran out; 'station' records recipe files' thresholds.
    for name in ("system", "Station"):
        with pytest.raises(StoreError, match="station's own actions"):
            users.add(name, Role.TECHNICIAN, "123456", by=admin)


def test_login_and_failed_login_are_audited(users, admin, db_path):
    users.add("Otto", Role.OPERATOR, "123456", by=admin)
    otto = users.authenticate("Otto", "123456")
    assert otto.role is Role.OPERATOR and otto.last_login_at is not None
    with pytest.raises(PermissionDenied, match="Wrong name or PIN"):
        users.authenticate("Otto", "999999")
    with pytest.raises(PermissionDenied, match="Wrong name or PIN"):
        users.authenticate("Nobody", "123456")
    users.logout(otto)
    rows = _audit(db_path)
    assert [r[1] for r in rows] == ["user_add", "user_add", "login", "login_failed", "login_failed", "logout"]
    assert rows[1][:5] == ("Ann", "user_add", "Otto", None, "operator")
    assert rows[3][5] == "wrong secret (1 of 5)"
    assert rows[4][0] == "Nobody" and rows[4][5] == "unknown user"
    assert verify(db_path).ok


def test_five_wrong_entries_lock_the_name_for_five_minutes(users, admin, clock, db_path):
    users.add("Otto", Role.OPERATOR, "123456", by=admin)
    for _ in range(4):
        with pytest.raises(PermissionDenied, match="Wrong name or PIN"):
            users.authenticate("Otto", "0000")
    with pytest.raises(PermissionDenied, match="Wrong PIN for Otto 5 times: the name is locked for 5 minutes"):
        users.authenticate("Otto", "0000")
    clock.wait(timedelta(minutes=4))
    with pytest.raises(PermissionDenied, match="locked after 5 wrong entries for another 1 minute"):
        users.authenticate("Otto", "123456")  # even the right PIN waits out the lock
    clock.wait(timedelta(minutes=1, seconds=1))
    assert users.authenticate("Otto", "123456").name == "Otto"
    assert _audit(db_path)[-2][5] == "tried while locked"


def test_an_admin_reset_lifts_a_lockout_and_sets_a_new_secret(users, admin, db_path):
    users.add("Otto", Role.OPERATOR, "123456", by=admin)
    for _ in range(5):
        with pytest.raises(PermissionDenied):
            users.authenticate("Otto", "0000")
    assert users.get("Otto").locked_until is not None
    users.reset("Otto", "246802", by=admin, reason="forgot PIN")
    with pytest.raises(PermissionDenied, match="Wrong name or PIN"):
        users.authenticate("Otto", "123456")
    assert users.authenticate("Otto", "246802").name == "Otto"
    assert ("Ann", "user_reset", "Otto", "active", "active", "forgot PIN") in _audit(db_path)


def test_a_disabled_user_cannot_log_in_until_reset(users, admin):
    users.add("Otto", Role.OPERATOR, "123456", by=admin)
    users.disable("Otto", by=admin, reason="left the company")
    with pytest.raises(PermissionDenied, match="Otto is disabled"):
        users.authenticate("Otto", "123456")
    assert [(u.name, u.active) for u in users.list()] == [("Ann", True), ("Otto", False)]
    users.reset("Otto", "135790", by=admin)
    assert users.authenticate("Otto", "135790").active


def test_the_last_admin_cannot_be_disabled(users, admin):
    with pytest.raises(PermissionDenied, match="last admin"):
        users.disable("Ann", by=admin)
    users.add("Bea", Role.ADMIN, "bea-secret", by=admin)
    users.disable("Ann", by=users.get("Bea"))
    assert not users.get("Ann").active


def test_only_an_admin_manages_users_and_a_stale_login_does_not_help(users, admin):
    tech = users.add("Tom", Role.TECHNICIAN, "555555", by=admin)
    with pytest.raises(PermissionDenied, match="Only an admin can manage users — ask an admin to log in"):
        users.add("Otto", Role.OPERATOR, "123456", by=tech)
    users.add("Bea", Role.ADMIN, "bea-secret", by=admin)
    bea = users.get("Bea")
    users.disable("Bea", by=admin)
    with pytest.raises(PermissionDenied, match="Bea is disabled"):
        users.add("Otto", Role.OPERATOR, "123456", by=bea)  # logged in before being disabled


EXPECTED = {
    Role.OPERATOR: {"review", "acknowledge_alarms"},
    Role.TECHNICIAN: {"review", "acknowledge_alarms", "thresholds", "camera", "recipes", "teach", "roi",
                      "accept_changes"},
    Role.QUALITY: {"reports", "export", "review", "report_defects"},
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_permission_table(role, permission):
    user = User("x", role)
    if role is Role.ADMIN:
        assert user.can(permission)
        return
    must = permission.value in EXPECTED[role]
    if must:
        assert user.can(permission)
        require(user, permission)
    if permission.value not in EXPECTED[role] | {"shelve_alarms", "models"}:
        assert not user.can(permission)
        with pytest.raises(PermissionDenied):
            require(user, permission)


def test_extra_permissions_belong_to_the_technician():
    """Shelving alarms and activating a model are technician's work (besides the table in the brief)."""
    assert ROLE_PERMISSIONS[Role.TECHNICIAN] >= {Permission.SHELVE_ALARMS, Permission.MODELS}
    assert not ROLE_PERMISSIONS[Role.OPERATOR] & {Permission.SHELVE_ALARMS, Permission.MODELS}


def test_refusals_say_who_can_do_it_in_plain_words():
    with pytest.raises(PermissionDenied) as err:
        require(User("otto", Role.OPERATOR), Permission.THRESHOLDS)
    assert str(err.value) == "Only a technician can change thresholds — ask a technician to log in"
    with pytest.raises(PermissionDenied) as err:
        require(User("quinn", Role.QUALITY), Permission.ACK_ALARMS)
    assert str(err.value) == ("Only an operator or a technician can acknowledge alarms — ask one of them to log in")
    with pytest.raises(PermissionDenied) as err:
        require(User("tom", Role.TECHNICIAN), Permission.EXPORT)
    assert str(err.value) == "Only a quality manager can export records — ask a quality manager to log in"
    with pytest.raises(PermissionDenied, match="Nobody is logged in"):
        require(None, Permission.REVIEW)
