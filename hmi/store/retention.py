"""Records retention (store.keep_days, store.keep_gb): the oldest parts are exported, then purged, a batch at a time.

Run by the store thread (the one writer) only while no part waits for it and the disk has room. Every part
purged is first appended to a gzip CSV export (`store.purge_export_dir`, by default DATA_DIR/purged), with
every column and its regions as JSON; the export is on disk (fsync) before the rows are deleted. Parts a
quality manager reported as found defective downstream and parts still waiting for review (HOLD) are kept.
The part change log (`part_changes`) is pruned up to the newest purged part: the plant's replication will
long have sent changes that old (docs/database.md, "Records retention").
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from hmi.config.schema import StoreConfig
from hmi.core.alarm_catalogue import RETENTION
from hmi.core.alarms import AlarmBoard
from hmi.core.part import utc_now
from hmi.store.database import iso_utc, transaction
from hmi.store.reserve import held_bytes

log = logging.getLogger(__name__)

GB = 1024 ** 3
BATCH = 200          # parts per purge transaction: a few milliseconds of the store thread
PAUSE_S = 1.0        # between batches while more is due
LOOK_S = 60.0        # between looks while nothing is due
EXPORT_DIR = "purged"
_KEPT = ("verdict <> 'HOLD' AND seq NOT IN (SELECT seq FROM downstream_defects)")


def records_bytes(conn: sqlite3.Connection) -> int:
    """Bytes the records take inside the database file (its free pages and the reserve held there not counted)."""
    pages, free, size = (conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count",
                                                                              "page_size"))
    return max(0, (int(pages) - int(free)) * int(size) - held_bytes(conn))


class Retention:
    """Purges the records past `store.keep_days` or over `store.keep_gb`, oldest first, exported before deleted."""

    def __init__(self, data_dir: Path, config: StoreConfig, alarms: AlarmBoard, *,
                 clock: Callable[[], datetime] = utc_now, batch: int = BATCH, pause_s: float = PAUSE_S,
                 look_s: float = LOOK_S) -> None:
        self.config = config
        self.alarms = alarms
        self.clock = clock
        self.batch = batch
        self.pause_s = pause_s
        self.look_s = look_s
        folder = Path(config.purge_export_dir) if config.purge_export_dir else Path(EXPORT_DIR)
        self.export_dir = folder if folder.is_absolute() else Path(data_dir) / folder
        self.purged = 0
        self._next = 0.0

    @property
    def enabled(self) -> bool:
        """True when station.toml sets a retention (keep_days or keep_gb)."""
        return self.config.keep_days > 0 or self.config.keep_gb > 0

    def run(self, conn: sqlite3.Connection) -> int:
        """When due, export and purge one batch of parts; returns how many were purged."""
        now = time.monotonic()
        if not self.enabled or now < self._next:
            return 0
        self._next = now + self.look_s
        seqs, over = self._due(conn)
        if not seqs:
            if over:
                self._alarm(f"the records take {over / GB:.2f} GB, more than store.keep_gb = {self.config.keep_gb} GB, "
                            "but only parts that are kept remain (HOLD, reported downstream)")
            return 0
        try:
            self._export(conn, seqs)
        except OSError as exc:
            self._alarm(f"purged parts cannot be exported to {self.export_dir} ({exc.strerror or exc}), so none "
                        "are purged")
            return 0
        self._purge(conn, seqs)
        self.purged += len(seqs)
        self._next = now + self.pause_s
        if self.alarms.is_active(RETENTION):
            self.alarms.clear(RETENTION)
        return len(seqs)

    def _due(self, conn: sqlite3.Connection) -> tuple[list[int], int]:
        """The oldest parts to purge now (at most a batch), and the records' size when that is over keep_gb (else 0)."""
        over = 0
        if self.config.keep_gb > 0:
            used = records_bytes(conn)
            over = used if used > self.config.keep_gb * GB else 0
        if over:
            where, args = _KEPT, ()
        elif self.config.keep_days > 0:
            cutoff = iso_utc(self.clock() - timedelta(days=self.config.keep_days))
            where, args = f"captured_at < ? AND {_KEPT}", (cutoff,)
        else:
            return [], 0
        rows = conn.execute(f"SELECT seq FROM inspections WHERE {where} ORDER BY captured_at LIMIT ?",
                            (*args, self.batch)).fetchall()
        return [r[0] for r in rows], over

    def _export(self, conn: sqlite3.Connection, seqs: list[int]) -> None:
        """Append the parts, every column and their regions, to today's gzip CSV; on disk before this returns."""
        marks = ",".join("?" * len(seqs))
        cur = conn.execute(f"SELECT * FROM inspections WHERE seq IN ({marks}) ORDER BY seq", seqs)
        columns = [d[0] for d in cur.description]
        parts = cur.fetchall()
        regions: dict[int, list[dict]] = {}
        rcur = conn.execute(f"SELECT * FROM regions WHERE seq IN ({marks}) ORDER BY seq, idx", seqs)
        rcols = [d[0] for d in rcur.description]
        for row in rcur:
            regions.setdefault(row[0], []).append(dict(zip(rcols[1:], row[1:])))
        text = io.StringIO()
        out = csv.writer(text, lineterminator="\n")
        self.export_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.export_dir / f"inspections-{iso_utc(self.clock())[:10]}.csv.gz"
        if not path.exists():
            out.writerow([*columns, "regions"])
        for row in parts:
            out.writerow([*row, json.dumps(regions.get(row[0], []), separators=(",", ":"))])
        with open(path, "ab") as raw:
            os.fchmod(raw.fileno(), 0o600)
            with gzip.GzipFile(fileobj=raw, mode="wb") as zipped:  # one gzip member per batch: zcat reads them all
                zipped.write(text.getvalue().encode("utf-8"))
            raw.flush()
            os.fsync(raw.fileno())

    @staticmethod
    def _purge(conn: sqlite3.Connection, seqs: list[int]) -> None:
        """Delete the parts (their regions go with them) and the change log up to the newest of them."""
        marks = ",".join("?" * len(seqs))
        with transaction(conn):
            conn.execute(f"DELETE FROM inspections WHERE seq IN ({marks}) AND {_KEPT}", seqs)
            # Changes noted before the next newer part was recorded are older than retention: sent long ago.
            boundary = conn.execute("SELECT id FROM part_changes WHERE seq > ? ORDER BY id LIMIT 1",
                                    (max(seqs),)).fetchone()
            if boundary is not None:
                conn.execute("DELETE FROM part_changes WHERE id < ?", (boundary[0],))

    def _alarm(self, problem: str) -> None:
        if not self.alarms.is_active(RETENTION):
            log.warning("records retention: %s", problem)
        self.alarms.raise_(RETENTION, problem=problem)
