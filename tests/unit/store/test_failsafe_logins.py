"""Lock-outs that hold: counted in the store thread's transaction, timed on the monotonic clock; no first run
after the users were removed; an audited way back for a locked-out admin (issue 15 item 8)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher

from hmi.config.schema import StoreConfig
from hmi.core.alarms import AlarmBoard
from hmi.core.errors import PermissionDenied, StoreError
from hmi.pipeline.queues import BoundedQueue
from hmi.store.audit import verify
from hmi.store.database import open_database
from hmi.store.users import LOCKOUT, RECOVERY, Role, UserDirectory
from hmi.store.writer import RecordWriter

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # still argon2id; keeps the tests fast
PIN, WRONG = "482913", "000000"


class Clocks:
    """The wall clock and the monotonic clock, each moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 6, 0, tzinfo=timezone.utc)
        self.mono = 5000.0

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


def _directory(db_path, clocks: Clocks, **kwargs) -> UserDirectory:
    return UserDirectory(db_path, clock=clocks.wall, monotonic=clocks.monotonic, hasher=CHEAP, **kwargs)


@pytest.fixture
def users(db_path, clocks):
    d = _directory(db_path, clocks)
    admin = d.add("admin", Role.ADMIN, "999999", None)
    d.add("olga", Role.OPERATOR, PIN, admin)
    yield d
    d.close()


def _audit(db_path, action: str) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT user, subject, old_value, new_value, reason FROM audit WHERE action = ? "
                            "ORDER BY id", (action,)).fetchall()


def _lock(users: UserDirectory, name: str = "olga") -> None:
    for _ in range(5):
        with pytest.raises(PermissionDenied):
            users.authenticate(name, WRONG)


def test_fourteen_wrong_pins_at_once_through_the_store_thread_then_the_right_one_is_still_locked(db_path, clocks):
    open_database(db_path).close()
    writer = RecordWriter(db_path, BoundedQueue("parts", 64), BoundedQueue("committed", 64), AlarmBoard(),
                          StoreConfig(), requests=BoundedQueue("store requests", 64))
    users = _directory(db_path, clocks, writes=writer.requests)
    admin = users.add("admin", Role.ADMIN, "999999", None)
    users.add("olga", Role.OPERATOR, PIN, admin)
    writer.start()
    start = threading.Barrier(14)
    refusals: list[str] = []

    def wrong_pin() -> None:
        start.wait()
        try:
            users.authenticate("olga", WRONG)
        except PermissionDenied as exc:
            refusals.append(str(exc))

    threads = [threading.Thread(target=wrong_pin, name=f"login {i}") for i in range(14)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        with pytest.raises(PermissionDenied, match="olga is locked after 5 wrong entries"):
            users.authenticate("olga", PIN)
    finally:
        writer.stop()
        writer.join(10)
        users.close()
    assert len(refusals) == 14
    reasons = [r[4] for r in _audit(db_path, "login_failed")]
    counted = [r for r in reasons if r.startswith("wrong secret")]
    assert [r.split(";")[0] for r in counted] == [f"wrong secret ({n} of 5)" for n in range(1, 6)]
    assert reasons.count("tried while locked") == 10  # 9 wrong PINs after the lock, then the right one
    assert verify(db_path).ok


def test_a_lock_out_runs_on_the_monotonic_clock_whatever_the_wall_clock_does(users, clocks):
    _lock(users)
    clocks.now -= timedelta(hours=1)  # the clock set back
    with pytest.raises(PermissionDenied, match="locked"):
        users.authenticate("olga", PIN)
    clocks.now += timedelta(days=1)  # and far forward: the lock's wall-clock end long past
    with pytest.raises(PermissionDenied, match="locked .* for another 5 minutes"):
        users.authenticate("olga", PIN)
    clocks.mono += LOCKOUT.total_seconds() - 1
    with pytest.raises(PermissionDenied, match="for another 1 minute"):
        users.authenticate("olga", PIN)
    clocks.mono += 2
    assert users.authenticate("olga", PIN).name == "olga"


def test_a_lock_out_survives_a_restart_for_its_time_at_most(db_path, users, clocks):
    _lock(users)
    users.close()
    clocks.now -= timedelta(hours=1)  # a restart with the wall clock an hour back: not 65 minutes, 5 at most
    clocks.mono = 10.0  # a new process (or boot): another monotonic origin
    again = _directory(db_path, clocks)
    try:
        with pytest.raises(PermissionDenied, match="for another 5 minutes"):
            again.authenticate("olga", PIN)
        clocks.mono += LOCKOUT.total_seconds() + 1
        assert again.authenticate("olga", PIN).name == "olga"
    finally:
        again.close()


def test_wrong_pins_while_locked_do_not_stretch_the_lock(users, clocks):
    _lock(users)
    for _ in range(3):
        clocks.mono += 60
        with pytest.raises(PermissionDenied, match="locked"):
            users.authenticate("olga", WRONG)
    clocks.mono += LOCKOUT.total_seconds() - 180 + 1
    assert users.authenticate("olga", PIN).name == "olga"


def test_a_pin_shorter_than_the_station_minimum_is_refused_in_one_message(db_path, clocks, users):
    admin = users.authenticate("admin", "999999")
    with pytest.raises(StoreError) as err:
        users.add("theo", Role.TECHNICIAN, "4321", admin)
    assert str(err.value) == ("a new PIN or password needs at least 6 characters (station.toml: [users] "
                              "min_pin_length) — choose a longer one")
    with pytest.raises(StoreError, match="at least 6"):
        users.reset("olga", "12345", admin)
    strict = _directory(db_path, clocks, min_secret_len=8)
    try:
        with pytest.raises(StoreError, match="at least 8"):
            strict.add("theo", Role.TECHNICIAN, "654321", admin)
        strict.add("theo", Role.TECHNICIAN, "87654321", admin)
    finally:
        strict.close()
    assert users.authenticate("olga", PIN).name == "olga"  # PINs already set keep working


@pytest.mark.parametrize("behind_the_back", ["DELETE FROM users", "UPDATE users SET active = 0",
                                             "UPDATE users SET role = 'operator'"])
def test_a_station_that_had_users_never_opens_first_run_again(db_path, users, clocks, behind_the_back):
    users.close()
    with sqlite3.connect(db_path) as conn:
        conn.execute(behind_the_back)
    again = _directory(db_path, clocks)
    try:
        assert again.needs_first_admin() and not again.first_run_open()
        with pytest.raises(PermissionDenied, match="hmi users recover-admin"):
            again.add("eve", Role.ADMIN, "31415926", None)
    finally:
        again.close()
    assert _audit(db_path, "user_add")[-1][1] == "olga"  # nothing added


def test_first_run_is_open_only_on_a_station_that_never_had_users(db_path, clocks):
    fresh = _directory(db_path, clocks)
    try:
        assert fresh.first_run_open()
        fresh.add("anna", Role.ADMIN, "27182818", None)
        assert not fresh.first_run_open()
    finally:
        fresh.close()


def test_the_only_admin_locked_out_is_restored_at_the_console_and_audited(db_path, users, clocks):
    _lock(users, "admin")
    with pytest.raises(PermissionDenied, match="olga is an operator, not an admin"):
        users.recover_admin("olga", "55667788", "make olga admin", "kiosk@station-3")  # no role changes here
    restored = users.recover_admin("admin", "55667788", "the only admin locked out by wrong PINs",
                                   "kiosk@station-3")
    assert restored.role is Role.ADMIN
    assert users.authenticate("admin", "55667788").name == "admin"
    (entry,) = _audit(db_path, "admin_recovery")
    assert entry[:4] == (RECOVERY, "admin", "locked until 2026-03-01T06:05:00.000Z", "admin, active, new secret")
    assert entry[4] == "the only admin locked out by wrong PINs (at the console: kiosk@station-3)"
    assert verify(db_path).ok


def test_recovery_adds_an_admin_after_the_users_were_removed_and_needs_a_reason(db_path, users, clocks):
    with sqlite3.connect(db_path) as conn:
        conn.execute("DELETE FROM users")
    with pytest.raises(StoreError, match="needs a reason"):
        users.recover_admin("bea", "55667788", "  ", "kiosk@station-3")
    with pytest.raises(PermissionDenied, match="recover-admin"):
        users.add("otto", Role.ADMIN, "123123", None)  # first run stays shut
    users.recover_admin("bea", "55667788", "users table emptied", "kiosk@station-3")
    assert users.authenticate("bea", "55667788").role is Role.ADMIN
    (entry,) = _audit(db_path, "admin_recovery")
    assert entry[1:4] == ("bea", None, "admin, active, new secret")
