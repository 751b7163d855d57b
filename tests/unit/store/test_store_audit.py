"""The audit trail refuses changes, and `verify` names rows edited, inserted or removed behind its back."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from hmi.store.audit import GENESIS_HASH, AuditAction, AuditRequest, AuditTrail, entry_hash, verify
from hmi.store.schema import AUDIT_TRIGGERS


@pytest.fixture
def trail(db_path):
    """An audit trail with five entries: a login, a threshold change, an override, an alarm ack, a logout."""
    t = AuditTrail(db_path)
    t.append("ann", AuditAction.LOGIN, "ann")
    t.append("ann", AuditAction.THRESHOLD_CHANGE, "recipe demo", {"score": 0.5}, {"score": 0.55, "version": 2},
             "fewer false rejects after lens cleaning")
    t.append("bob", AuditAction.OVERRIDE, "part 1042", "NG", "OK", "dust, not a scratch")
    t.append("bob", AuditAction.ALARM_ACK, "PLC_SILENT")
    t.append("ann", AuditAction.LOGOUT, "ann")
    yield t
    t.close()


def _tool(db_path):
    """A database tool outside the application, as someone with the sqlite3 shell would use."""
    return closing(sqlite3.connect(db_path, isolation_level=None))


def _drop_triggers(conn) -> None:
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")


def _restore_triggers(conn) -> None:
    for sql in AUDIT_TRIGGERS.values():
        conn.execute(sql)


def test_entries_are_chained_and_verify(trail, db_path):
    entries = trail.entries()
    assert [e.id for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in zip(entries, entries[1:]):
        assert after.prev_hash == before.hash
    e = entries[1]
    assert e.old_value == '{"score":0.5}' and e.new_value == '{"score":0.55,"version":2}'
    assert e.at.endswith("Z")
    assert e.hash == entry_hash(e.prev_hash, e.__dict__)
    report = verify(db_path)
    assert report.ok and report.rows == 5 and report.head_id == 5 and report.head_hash == entries[-1].hash
    assert "intact" in report.text()


def test_unknown_actions_are_refused(trail):
    with pytest.raises(ValueError):
        trail.append_request(AuditRequest("ann", "format_disk"))  # type: ignore[arg-type]


@pytest.mark.parametrize("sql", ["UPDATE audit SET reason = 'nothing happened' WHERE id = 3",
                                 "DELETE FROM audit WHERE id = 3"])
def test_the_database_refuses_to_change_or_delete_audit_rows(trail, db_path, sql):
    with _tool(db_path) as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(sql)
    assert verify(db_path).ok


def test_a_row_edited_with_a_database_tool_is_named(trail, db_path):
    with _tool(db_path) as conn:
        _drop_triggers(conn)
        conn.execute("UPDATE audit SET new_value = 'NG', reason = '' WHERE id = 3")
    report = verify(db_path)
    assert not report.ok
    assert report.row_ids == {3}
    assert any("row 3 does not match its own hash" in f.problem for f in report.findings)
    assert any("append-only protection 'audit_no_update'" in f.problem for f in report.findings)
    assert "NOT intact" in report.text()


def test_an_edit_is_found_even_after_the_triggers_are_put_back(trail, db_path):
    with _tool(db_path) as conn:
        _drop_triggers(conn)
        conn.execute("UPDATE audit SET user = 'carl' WHERE id = 2")
        _restore_triggers(conn)
    report = verify(db_path)
    assert [(f.row_id, "edited" in f.problem) for f in report.findings] == [(2, True)]


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(trail, db_path):
    with _tool(db_path) as conn:
        _drop_triggers(conn)
        row = conn.execute("SELECT id, at, user, action, subject, old_value, new_value, reason, prev_hash "
                           "FROM audit WHERE id = 2").fetchone()
        fields = dict(zip(("id", "at", "user", "action", "subject", "old_value", "new_value", "reason"), row[:8]))
        fields["reason"] = "routine"
        conn.execute("UPDATE audit SET reason = ?, hash = ? WHERE id = 2", ("routine", entry_hash(row[8], fields)))
        _restore_triggers(conn)
    report = verify(db_path)
    assert report.row_ids == {3}
    assert "row 3 does not link to row 2" in report.findings[0].problem


def test_a_deleted_row_is_named(trail, db_path):
    with _tool(db_path) as conn:
        _drop_triggers(conn)
        conn.execute("DELETE FROM audit WHERE id = 3")
        _restore_triggers(conn)
    report = verify(db_path)
    assert report.row_ids == {3}
    assert "row 3 is missing: it was deleted" in report.findings[0].problem


def test_an_inserted_row_with_a_forged_hash_is_named(trail, db_path):
    head = trail.entries()[-1]
    with _tool(db_path) as conn:
        conn.execute("INSERT INTO audit (id, at, user, action, subject, old_value, new_value, reason, prev_hash, hash) "
                     "VALUES (6, '2024-05-01T10:00:00.000Z', 'ann', 'override', 'part 1043', 'NG', 'OK', 'ok', ?, ?)",
                     (head.hash, "f" * 64))
    report = verify(db_path)
    assert report.row_ids == {6}
    assert "forged hash" in report.findings[0].problem


def test_cutting_off_the_newest_rows_is_found_with_an_anchor(trail, db_path):
    anchor = (verify(db_path).head_id, verify(db_path).head_hash)
    with _tool(db_path) as conn:
        _drop_triggers(conn)
        conn.execute("DELETE FROM audit WHERE id >= 4")
        _restore_triggers(conn)
    assert verify(db_path).ok  # a chain alone cannot show that its end is missing ...
    report = verify(db_path, anchor=anchor)  # ... a hash noted earlier (on a shift report) can
    assert report.row_ids == {5}
    assert "cut off" in report.findings[0].problem
