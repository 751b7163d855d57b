"""Read-only questions the CLI and the screens ask of the records: recent parts, one part, counts, health."""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

from hmi.core.messages import TIMEOUT_REVIEWER
from hmi.core.verdict import Verdict
from hmi.store.audit import AuditEntry, part_subject
from hmi.store.database import iso_utc, open_readonly


@dataclass(frozen=True)
class RegionRecord:
    """One stored defect region of a part (see docs/database.md, table regions)."""

    idx: int
    x: int
    y: int
    w: int
    h: int
    area_px: int
    peak_score: float | None
    label: str
    confidence: float | None


@dataclass(frozen=True)
class PartRecord:
    """One stored part as the screens show it (see docs/database.md, table inspections)."""

    seq: int
    part_id: str | None
    lot_id: str | None
    captured_at: datetime
    captured_mono: float
    decided_at: datetime | None
    recipe: str
    model_name: str | None
    model_sha256: str | None
    threshold_version: int | None
    backend: str | None
    camera_source: str | None
    exposure_us: float | None
    gain_db: float | None
    score: float | None
    infer_ms: float | None
    auto_verdict: Verdict
    verdict: Verdict
    reason: str
    latency_ms: float | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None
    defect_type: str | None
    plc_status: str
    plc_delivered_at: datetime | None
    plc_detail: str | None
    image_path: str | None
    heatmap_path: str | None
    confidence: float | None = None  # 0..1 that the part is defective, 0.5 at the NG limit; None: not inspected
    regions: tuple[RegionRecord, ...] = ()

    @property
    def overridden(self) -> bool:
        """True when a person changed an automatic OK / NG / NOT INSPECTED verdict: an override, as reports count it.

        A HOLD part given its verdict by a person is a review, and one the time limit decided is a time-out;
        neither is an override (hmi.services.reports.summary counts the same way).
        """
        return (self.auto_verdict is not Verdict.HOLD and self.verdict is not self.auto_verdict
                and self.reviewed_by not in (None, TIMEOUT_REVIEWER))

    @property
    def decided_by(self) -> str:
        """How the final verdict came about, in the reports' words: 'overridden', 'reviewed', 'timed out' or ''."""
        if self.reviewed_by is None:
            return ""
        if self.auto_verdict is Verdict.HOLD:
            return "timed out" if self.reviewed_by == TIMEOUT_REVIEWER else "reviewed"
        return "overridden" if self.overridden else ""

    @property
    def final_words(self) -> str:
        """The final verdict with how it came about: 'NG (reviewed)', 'OK (overridden)', 'NG (timed out)', 'OK'."""
        how = self.decided_by
        return f"{self.verdict.label} ({how})" if how else self.verdict.label


# The inspections columns a PartRecord is made of, in its field order.
PART_COLUMNS = tuple(f.name for f in fields(PartRecord) if f.name != "regions")
_REGION_COLUMNS = tuple(f.name for f in fields(RegionRecord))
_TIMES = ("captured_at", "decided_at", "reviewed_at", "plc_delivered_at")
_SELECT_PARTS = f"SELECT {', '.join(PART_COLUMNS)} FROM inspections"


def parse_utc(text: str | None) -> datetime | None:
    """A stored ISO-8601 UTC time ('...Z') as an aware datetime; None stays None."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def part_record(row: sqlite3.Row | tuple, regions: tuple[RegionRecord, ...] = ()) -> PartRecord:
    """A PartRecord from a row of PART_COLUMNS (times parsed, verdicts typed)."""
    values = dict(zip(PART_COLUMNS, tuple(row)))
    for name in _TIMES:
        values[name] = parse_utc(values[name])
    values["auto_verdict"] = Verdict[values["auto_verdict"]]
    values["verdict"] = Verdict[values["verdict"]]
    return PartRecord(**values, regions=regions)


def recent_parts(conn: sqlite3.Connection, limit: int = 50, *, verdict: Verdict | None = None,
                 recipe: str | None = None, before_seq: int | None = None) -> list[PartRecord]:
    """The newest parts, newest captured first, optionally of one verdict or recipe; page on with `before_seq`."""
    where, args = [], []
    if verdict is not None:
        where.append("verdict = ?")
        args.append(Verdict(verdict).name)
    if recipe is not None:
        where.append("recipe = ?")
        args.append(recipe)
    if before_seq is not None:
        where.append("seq < ?")
        args.append(int(before_seq))
    # Newest by capture time (the indexes are ordered by it; seq breaks ties and follows it in practice).
    sql = (_SELECT_PARTS + (f" WHERE {' AND '.join(where)}" if where else "")
           + " ORDER BY captured_at DESC, seq DESC LIMIT ?")
    return [part_record(r) for r in conn.execute(sql, (*args, int(limit)))]


def part_by_seq(conn: sqlite3.Connection, seq: int) -> PartRecord | None:
    """One part with its defect regions, or None when no part has that sequence number."""
    row = conn.execute(_SELECT_PARTS + " WHERE seq = ?", (int(seq),)).fetchone()
    if row is None:
        return None
    regions = tuple(RegionRecord(*r) for r in conn.execute(
        f"SELECT {', '.join(_REGION_COLUMNS)} FROM regions WHERE seq = ? ORDER BY idx", (int(seq),)))
    return part_record(row, regions)


def part_audit(conn: sqlite3.Connection, seq: int) -> list[AuditEntry]:
    """What people did to part `seq` (reviews, overrides), oldest first."""
    rows = conn.execute("SELECT id, at, user, action, subject, old_value, new_value, reason, prev_hash, hash "
                        "FROM audit WHERE subject = ? ORDER BY id", (part_subject(seq),)).fetchall()
    return [AuditEntry(*tuple(r)) for r in rows]


def verdict_counts(conn: sqlite3.Connection, start: datetime, end: datetime,
                   recipe: str | None = None, final: bool = True) -> dict[Verdict, int]:
    """Parts captured in [start, end) by verdict (final, or automatic with final=False); every verdict listed."""
    column = "verdict" if final else "auto_verdict"
    sql = f"SELECT {column}, count(*) FROM inspections WHERE captured_at >= ? AND captured_at < ?"
    args: list = [iso_utc(start), iso_utc(end)]
    if recipe is not None:
        sql += " AND recipe = ?"
        args.append(recipe)
    counts = {v: 0 for v in Verdict}
    for name, n in conn.execute(sql + f" GROUP BY {column}", args):
        counts[Verdict[name]] = int(n)
    return counts


def integrity_check(db_path: Path) -> str:
    """'ok' when SQLite finds the file sound and every region belongs to a part; else the problems, one a line."""
    conn = open_readonly(db_path)
    try:
        problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
        if problems == ["ok"]:
            problems = []
        orphans = Counter((r[0], r[2]) for r in conn.execute("PRAGMA foreign_key_check"))
        problems += [f"table {table}: {n} row{'s' if n > 1 else ''} point{'' if n > 1 else 's'} to a missing "
                     f"row of {parent}" for (table, parent), n in sorted(orphans.items())]
        return "\n".join(problems) if problems else "ok"
    finally:
        conn.close()


class RecordReader:
    """Read-only questions about stored parts for the screens; a short-lived connection per question."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)

    def part(self, seq: int) -> PartRecord | None:
        """One stored part with its regions."""
        conn = open_readonly(self.db_path)
        try:
            return part_by_seq(conn, seq)
        finally:
            conn.close()

    def part_history(self, seq: int) -> list[AuditEntry]:
        """Audit entries about part `seq`, oldest first."""
        conn = open_readonly(self.db_path)
        try:
            return part_audit(conn, seq)
        finally:
            conn.close()
