"""One writer: audit entries from many threads, logins and parts all reach SQLite through the store thread."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter

from hmi.store.audit import AuditAction, verify
from hmi.store.database import database_path
from tests.support.stations import PIN, replay_station
from tests.support.waiting import wait_for

THREADS = 8
ENTRIES = 40
LOGINS = 3


def test_the_audit_chain_cannot_fork_with_many_threads_appending_while_parts_are_recorded(tmp_path, tiny_model):
    station = replay_station(tmp_path, tiny_model, ["ok", "ng", "hold", "ok"] * 100, rate_hz=40.0)
    db = database_path(station.data_dir)
    try:
        station.start()
        wait_for(lambda: _count(db, "SELECT count(*) FROM inspections") >= 5, "the first parts in the records")
        parts_before = _count(db, "SELECT count(*) FROM inspections")
        start = threading.Barrier(THREADS + 1)
        failures: list[BaseException] = []

        def append(i: int) -> None:
            try:
                start.wait()
                for k in range(ENTRIES):
                    station.audit(f"worker{i}", AuditAction.ALARM_ACK, f"thread {i} entry {k}", "shown",
                                  "acknowledged", "chain test")
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                failures.append(exc)

        def log_in() -> None:
            try:
                start.wait()
                for _ in range(LOGINS):
                    station.users.authenticate("olga", PIN["olga"])  # a login audited by the user directory
            except BaseException as exc:  # noqa: BLE001
                failures.append(exc)

        threads = [threading.Thread(target=append, args=(i,)) for i in range(THREADS - 1)]
        threads.append(threading.Thread(target=log_in))
        for t in threads:
            t.start()
        start.wait()
        for t in threads:
            t.join()
        assert failures == []
        wanted = (THREADS - 1) * ENTRIES
        wait_for(lambda: _count(db, "SELECT count(*) FROM audit WHERE reason = 'chain test'") == wanted,
                 "every audit entry in the records")
        wait_for(lambda: _count(db, "SELECT count(*) FROM inspections") > parts_before + 5,
                 "parts recorded while the entries were appended")
    finally:
        station.stop()

    report = verify(db)
    assert report.ok, report.text()
    with sqlite3.connect(db) as conn:
        subjects = Counter(s for (s,) in conn.execute("SELECT subject FROM audit WHERE reason = 'chain test'"))
        logins = _count(db, "SELECT count(*) FROM audit WHERE action = 'login' AND user = 'olga'")
        ids = [i for (i,) in conn.execute("SELECT id FROM audit ORDER BY id")]
    assert set(subjects) == {f"thread {i} entry {k}" for i in range(THREADS - 1) for k in range(ENTRIES)}
    assert set(subjects.values()) == {1}  # every entry present exactly once
    assert logins == LOGINS
    assert ids == list(range(1, len(ids) + 1)) and report.rows == len(ids)  # one chain, no gap, no fork


def _count(db, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()[0]
