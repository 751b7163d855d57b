"""Which parts make a training set: those whose verdict a person gave or confirmed, read from the records.

A label comes from a person: a part counts when `reviewed_by` names a user, whether the user decided a
HOLD, confirmed the automatic verdict or overruled it. Verdicts nobody looked at are left out, as a
training set built from the model's own unchecked verdicts would teach it its own mistakes; so are
HOLDs whose review time ran out (the recipe's default was applied by the station, not by a person).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from hmi.core.messages import TIMEOUT_REVIEWER
from hmi.core.verdict import Verdict
from hmi.store.database import iso_utc
from hmi.store.queries import RegionRecord

# hmi.pipeline.holds.HoldQueue.expire records a timed-out HOLD under this reviewer name.


@dataclass(frozen=True)
class ExportFilter:
    """Which reviewed parts to export: capture time from `since` (inclusive) to `until` (exclusive), one recipe."""

    since: datetime | None = None
    until: datetime | None = None
    recipe: str | None = None


@dataclass(frozen=True)
class ReviewedPart:
    """One part a person judged, with what the training set needs: verdicts, defect type, image, regions."""

    seq: int
    recipe: str
    captured_at: str
    auto_verdict: Verdict
    verdict: Verdict
    reviewed_by: str
    reviewed_at: str | None
    defect_type: str | None
    image_path: str | None
    regions: tuple[RegionRecord, ...]

    @property
    def review(self) -> str:
        """How the person's verdict relates to the station's: decided (a HOLD), confirmed or overruled."""
        if self.auto_verdict is Verdict.HOLD:
            return "decided"
        return "confirmed" if self.verdict is self.auto_verdict else "overruled"


_REGION_COLUMNS = "idx, x, y, w, h, area_px, peak_score, label, confidence"


def reviewed_parts(conn: sqlite3.Connection, flt: ExportFilter) -> Iterator[ReviewedPart]:
    """The parts a person judged that match `flt`, in sequence order, each with its regions."""
    where = ["reviewed_by IS NOT NULL", "reviewed_by <> ?"]
    args: list[object] = [TIMEOUT_REVIEWER]
    if flt.since is not None:
        where.append("captured_at >= ?")
        args.append(iso_utc(flt.since))
    if flt.until is not None:
        where.append("captured_at < ?")
        args.append(iso_utc(flt.until))
    if flt.recipe:
        where.append("recipe = ?")
        args.append(flt.recipe)
    sql = ("SELECT seq, recipe, captured_at, auto_verdict, verdict, reviewed_by, reviewed_at, defect_type, "
           f"image_path FROM inspections WHERE {' AND '.join(where)} ORDER BY seq")
    for row in conn.execute(sql, args).fetchall():
        seq = int(row[0])
        regions = tuple(RegionRecord(*r) for r in conn.execute(
            f"SELECT {_REGION_COLUMNS} FROM regions WHERE seq = ? ORDER BY idx", (seq,)))
        yield ReviewedPart(seq, row[1], row[2], Verdict[row[3]], Verdict[row[4]], row[5], row[6], row[7] or None,
                           row[8], regions)
