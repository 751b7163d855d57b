"""Defects found downstream: a part the station judged, reported later as defective, kept beside its record.

Written by the store thread only (hmi.store.writer), in the same transaction as its audit entry, so a
report is either recorded and audited or not at all.
"""

from __future__ import annotations

import sqlite3

from hmi.core.messages import DownstreamDefect
from hmi.store.audit import AuditAction, AuditRequest, append_entry, part_subject
from hmi.store.database import iso_utc

_INSERT = "INSERT INTO downstream_defects (seq, reported_at, reported_by, defect_type, note) VALUES (?, ?, ?, ?, ?)"


def record_downstream_defect(conn: sqlite3.Connection, report: DownstreamDefect) -> bool:
    """Store `report` and its audit entry in the caller's write transaction; False for an unknown part (no write)."""
    if not conn.in_transaction:
        raise RuntimeError("record_downstream_defect needs an open write transaction")
    row = conn.execute("SELECT verdict FROM inspections WHERE seq = ?", (int(report.seq),)).fetchone()
    if row is None:
        return False
    conn.execute(_INSERT, (int(report.seq), iso_utc(report.reported_at), report.user, report.defect_type,
                           report.note or ""))
    append_entry(conn, AuditRequest(report.user, AuditAction.DOWNSTREAM_DEFECT, part_subject(report.seq), row[0],
                                    report.defect_type, report.note or "", report.reported_at))
    return True


__all__ = ["record_downstream_defect"]
