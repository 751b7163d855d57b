"""Read-only questions: recent parts, one part with its regions, counts by verdict, integrity check."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone

import pytest

from hmi.core.errors import StoreError
from hmi.core.verdict import Verdict
from hmi.store.database import open_database, open_readonly, transaction
from hmi.store.audit import AuditAction, AuditTrail
from hmi.store.queries import integrity_check, part_audit, part_by_seq, recent_parts, verdict_counts
from hmi.store.writer import inspection_row, region_rows

T0 = datetime(2024, 5, 1, 6, 0, tzinfo=timezone.utc)
PLAN = [  # seq, minutes after T0, recipe, verdict
    (1, 0, "demo", Verdict.OK), (2, 10, "demo", Verdict.NG), (3, 20, "gear", Verdict.OK),
    (4, 30, "demo", Verdict.HOLD), (5, 40, "gear", Verdict.NOT_INSPECTED), (6, 50, "demo", Verdict.OK),
]


@pytest.fixture
def records(db_path, make_part):
    """A database holding the parts of PLAN, written with the store's own row builders."""
    conn = open_database(db_path)
    with transaction(conn):
        for seq, minutes, recipe, verdict in PLAN:
            part = make_part(seq, verdict, captured_at=T0 + timedelta(minutes=minutes), recipe=recipe,
                             regions=3 if verdict is Verdict.NG else 0)
            conn.execute(f"INSERT INTO inspections (seq, part_id, lot_id, captured_at, captured_mono, decided_at, "
                         f"recipe, model_name, model_sha256, threshold_version, backend, camera_source, exposure_us, "
                         f"gain_db, score, infer_ms, auto_verdict, verdict, reason, latency_ms, confidence, defect_code) "
                         f"VALUES ({', '.join('?' * 22)})", inspection_row(part))
            conn.executemany("INSERT INTO regions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", region_rows(part))
        conn.execute("UPDATE inspections SET verdict = 'NG', reviewed_by = 'otto' WHERE seq = 4")
    conn.close()
    reader = open_readonly(db_path)
    yield reader
    reader.close()


def test_recent_parts_newest_first_with_filters_and_paging(records):
    assert [p.seq for p in recent_parts(records)] == [6, 5, 4, 3, 2, 1]
    assert [p.seq for p in recent_parts(records, limit=2)] == [6, 5]
    assert [p.seq for p in recent_parts(records, limit=2, before_seq=5)] == [4, 3]
    assert [p.seq for p in recent_parts(records, recipe="gear")] == [5, 3]
    assert [p.seq for p in recent_parts(records, verdict=Verdict.NG)] == [4, 2]


def test_one_part_with_its_regions(records):
    part = part_by_seq(records, 2)
    assert part.verdict is Verdict.NG and len(part.regions) == 3
    assert [r.idx for r in part.regions] == [0, 1, 2]
    assert part.captured_at == T0 + timedelta(minutes=10)
    held = part_by_seq(records, 4)
    assert held.auto_verdict is Verdict.HOLD and held.verdict is Verdict.NG and not held.overridden
    assert held.decided_by == "reviewed" and held.final_words == "NG (reviewed)"
    assert part_by_seq(records, 99) is None


def test_counts_by_verdict_in_a_time_range(records):
    first_half = verdict_counts(records, T0, T0 + timedelta(minutes=30))
    assert first_half == {Verdict.OK: 2, Verdict.NG: 1, Verdict.HOLD: 0, Verdict.NOT_INSPECTED: 0}
    shift = verdict_counts(records, T0, T0 + timedelta(hours=8))
    assert shift == {Verdict.OK: 3, Verdict.NG: 2, Verdict.HOLD: 0, Verdict.NOT_INSPECTED: 1}
    assert verdict_counts(records, T0, T0 + timedelta(hours=8), final=False)[Verdict.HOLD] == 1
    assert verdict_counts(records, T0, T0 + timedelta(hours=8), recipe="gear") == {
        Verdict.OK: 1, Verdict.NG: 0, Verdict.HOLD: 0, Verdict.NOT_INSPECTED: 1}
    local = timezone(timedelta(hours=2))  # a shift given in local time means the same instants
    assert verdict_counts(records, T0.astimezone(local), (T0 + timedelta(minutes=30)).astimezone(local)) == first_half


def test_integrity_check_says_ok_or_names_the_problem(records, db_path):
    assert integrity_check(db_path) == "ok"
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:  # foreign keys are off in a plain tool
        conn.execute("INSERT INTO regions VALUES (77, 0, 1, 1, 1, 1, 1, 0.5, 'anomaly', NULL)")
        conn.execute("INSERT INTO regions VALUES (77, 1, 1, 1, 1, 1, 1, 0.5, 'anomaly', NULL)")
    assert integrity_check(db_path) == "table regions: 2 rows point to a missing row of inspections"


def test_a_missing_database_is_not_created_by_reading(tmp_path):
    with pytest.raises(StoreError, match="there is no records database"):
        open_readonly(tmp_path / "hmi.db")
    assert not (tmp_path / "hmi.db").exists()


def test_a_parts_history_from_the_audit_trail(db_path, records):
    trail = AuditTrail(db_path)
    trail.append("otto", AuditAction.REVIEW, "part 4", "HOLD", "NG", "scratch")
    trail.append("otto", AuditAction.LOGIN, "otto")
    trail.append("quinn", AuditAction.OVERRIDE, "part 4", "NG", "OK", "dust")
    trail.close()
    assert [(e.user, e.action, e.new_value) for e in part_audit(records, 4)] == [
        ("otto", "review", "NG"), ("quinn", "override", "OK")]
    assert part_audit(records, 5) == []
