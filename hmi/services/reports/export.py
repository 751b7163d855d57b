"""CSV of a shift's records: one row per part, every column of the record, UTF-8, ISO-8601 UTC times."""

from __future__ import annotations

import csv
import os
import sqlite3
from pathlib import Path

from hmi.core.errors import StoreError
from hmi.services.reports.connection import snapshot
from hmi.services.reports.shifts import ShiftWindow

# Every column of `inspections` in table order, then the part's defect regions in one column.
COLUMNS = (
    "seq", "part_id", "lot_id", "captured_at", "captured_mono", "decided_at", "recipe", "model_name", "model_sha256",
    "threshold_version", "backend", "camera_source", "exposure_us", "gain_db", "score", "infer_ms", "auto_verdict",
    "verdict", "reason", "latency_ms", "reviewed_by", "reviewed_at", "review_note", "defect_type", "plc_status",
    "plc_delivered_at", "plc_detail", "image_path", "heatmap_path", "confidence",
)
REGIONS_COLUMN = "regions"
_BATCH = 5000


def _column_sql(column: str, present: set[str]) -> str:
    """How one column is read: the defect confidence as a fraction with 4 decimals, empty before schema 4."""
    if column != "confidence":
        return "i." + column
    if column not in present:
        return "NULL"
    return "CASE WHEN i.confidence IS NULL THEN NULL ELSE printf('%.4f', i.confidence) END"


def _regions_sql() -> str:
    # 'label x,y,w,h area_px peak' per region, ' | ' between regions, largest first as the model listed them.
    return ("(SELECT group_concat(label || ' ' || x || ',' || y || ',' || w || ',' || h || ' ' || area_px || 'px'"
            " || coalesce(' peak ' || round(peak_score, 4), ''), ' | ') FROM "
            "(SELECT * FROM regions AS r WHERE r.seq = i.seq ORDER BY r.idx))")


def write_csv(conn: sqlite3.Connection, window: ShiftWindow, out: Path, model_sha256: str | None = None) -> int:
    """Write the parts captured in `window` (optionally of one model) to `out`; returns how many rows.

    Rows stream from SQLite in batches, so a shift of 300 000 parts needs little memory. The file is
    written beside its final name and renamed when complete, so a half-written export never stands there.
    """
    out = Path(out)
    where = "captured_at >= ? AND captured_at < ?"
    args: list = [window.start_text, window.end_text]
    if model_sha256:
        where += " AND model_sha256 = ?"
        args.append(model_sha256)
    present = {r[1] for r in conn.execute("PRAGMA table_info(inspections)")}
    sql = (f"SELECT {', '.join(_column_sql(c, present) for c in COLUMNS)}, {_regions_sql()} FROM inspections AS i "
           f"WHERE {where.replace('captured_at', 'i.captured_at').replace('model_sha256', 'i.model_sha256')} "
           "ORDER BY i.captured_at, i.seq")
    tmp = out.with_name(out.name + ".part")
    rows = 0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", encoding="utf-8", newline="") as fh, snapshot(conn):
            writer = csv.writer(fh)
            writer.writerow((*COLUMNS, REGIONS_COLUMN))
            cur = conn.execute(sql, args)
            while True:
                batch = cur.fetchmany(_BATCH)
                if not batch:
                    break
                writer.writerows(tuple(r) for r in batch)
                rows += len(batch)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"the CSV export could not be written to {out} ({exc.strerror or exc})",
                         "choose a folder you may write to, with free space") from None
    return rows
