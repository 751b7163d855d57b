"""The station's records forwarded to the plant database (PostgreSQL), in batches, exactly once, never slowing the line.

One low-priority thread ("plant database") reads the station's own SQLite read-only, through a connection
of its own (the store thread stays the one writer), and sends each stream in batches of at most
`plant.batch_size` records. Each batch is one PostgreSQL transaction that also moves that stream's
watermark (replication_watermarks), so a batch is in the plant database once or not at all, and after an
outage or a restart the station resumes from the plant's watermark. Streams, by local row id:

- part_changes: each part inserted or changed (review, PLC status) -> parts (upsert), its regions
  (replaced) and the models it was judged with (first and last use);
- audit: the hash-chained trail, with the exact text the station hashed (verifiable plant-side);
- alarm_events and threshold_sets, as recorded.

The thread wakes when the station judges a part (its feed only says that something new exists) or every
`plant.interval_s`. A plant server that is away raises PLANT_DB (MEDIUM) and is retried with a back-off
doubling up to `plant.retry_max_s`; the records wait in the station's SQLite, the line never waits.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import psycopg

from hmi import __version__
from hmi.config.schema import PlantConfig
from hmi.core.alarm_catalogue import PLANT_DB
from hmi.core.errors import ConfigError
from hmi.pipeline.outputs import OutputFeed
from hmi.pipeline.worker import Worker
from hmi.plant.database import (PlantDatabaseError, connect, ensure_partitions, first_line, migrate, month_of,
                                server_name)
from hmi.services.reports.shifts import ShiftCalendar, ShiftWindow
from hmi.store.database import database_path, open_readonly

log = logging.getLogger(__name__)

STREAMS = ("part_changes", "audit", "alarm_events", "threshold_sets")
LAST_ATTEMPT_S = 3.0      # on stop: what can be sent in this long is sent, the rest goes at the next start
QUIET_S = 0.4              # ...and it ends sooner once the records have been still for this long
FIRST_RETRY_S = 1.0
NEWS_POLL_S = 0.2          # how often the thread looks up from waiting (stop is honoured this fast)

_PART_COLUMNS = ("seq", "part_id", "lot_id", "captured_at", "decided_at", "recipe", "model_name", "model_sha256",
                 "threshold_version", "backend", "camera_source", "exposure_us", "gain_db", "score", "confidence",
                 "infer_ms", "latency_ms", "auto_verdict", "verdict", "reason", "reviewed_by", "reviewed_at",
                 "review_note", "defect_type", "defect_code", "plc_status")
_PLANT_PART_COLUMNS = ("station_id", "line", "shift", "shift_start", *_PART_COLUMNS)
_TIMES = {"captured_at", "decided_at", "reviewed_at", "shift_start"}
_UPSERT_PART = (
    f"INSERT INTO parts ({', '.join(_PLANT_PART_COLUMNS)}) VALUES "
    f"({', '.join('%s::timestamptz' if c in _TIMES else '%s' for c in _PLANT_PART_COLUMNS)}) "
    "ON CONFLICT (station_id, seq, captured_at) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _PLANT_PART_COLUMNS if c not in ("station_id", "seq", "captured_at"))
    + ", replicated_at = now()")
_REGION_COLUMNS = ("seq", "idx", "captured_at", "x", "y", "w", "h", "area_px", "peak_score", "label", "confidence")
_INSERT_REGION = (f"INSERT INTO regions (station_id, {', '.join(_REGION_COLUMNS)}) VALUES "
                  f"(%s, {', '.join('%s::timestamptz' if c == 'captured_at' else '%s' for c in _REGION_COLUMNS)})")
_UPSERT_MODEL = (
    "INSERT INTO models (station_id, model_sha256, model_name, first_used, last_used) "
    "VALUES (%s, %s, %s, %s::timestamptz, %s::timestamptz) ON CONFLICT (station_id, model_sha256) DO UPDATE SET "
    "model_name = EXCLUDED.model_name, first_used = LEAST(models.first_used, EXCLUDED.first_used), "
    "last_used = GREATEST(models.last_used, EXCLUDED.last_used)")
_INSERT_AUDIT = (
    'INSERT INTO audit (station_id, id, at, "user", action, subject, old_value, new_value, reason, at_text, '
    "prev_hash, hash) VALUES (%s, %s, %s::timestamptz, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (station_id, id) DO NOTHING")
_INSERT_ALARM_EVENT = (
    'INSERT INTO alarm_events (station_id, id, at, code, event, priority, message, "user") '
    "VALUES (%s, %s, %s::timestamptz, %s, %s, %s, %s, %s) ON CONFLICT (station_id, id) DO NOTHING")
_INSERT_THRESHOLD_SET = (
    'INSERT INTO threshold_sets (station_id, recipe, version, "values", created_by, created_at, reason) '
    "VALUES (%s, %s, %s, %s::jsonb, %s, %s::timestamptz, %s) ON CONFLICT (station_id, recipe, version) DO NOTHING")
_MOVE_WATERMARK = (
    "INSERT INTO replication_watermarks (station_id, stream, last_id) VALUES (%s, %s, %s) "
    "ON CONFLICT (station_id, stream) DO UPDATE SET last_id = EXCLUDED.last_id, updated_at = now() "
    "WHERE replication_watermarks.last_id = %s")
_UPSERT_STATION = (
    "INSERT INTO stations (station_id, name, line, timezone, software, local_high_seq, local_high_at, behind) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s::timestamptz, %s) ON CONFLICT (station_id) DO UPDATE SET "
    "name = EXCLUDED.name, line = EXCLUDED.line, timezone = EXCLUDED.timezone, software = EXCLUDED.software, "
    "last_seen = now(), local_high_seq = EXCLUDED.local_high_seq, local_high_at = EXCLUDED.local_high_at, "
    "behind = EXCLUDED.behind")


class PlantReplication:
    """The plant database output: one replication thread, started after the records and stopped before them."""

    def __init__(self, feed: OutputFeed) -> None:
        if not feed.cfg.plant.station_id:
            raise ConfigError("plant.database is set but plant.station_id is not: the plant could not tell this "
                              "station's parts from another's",
                              "give this station a unique id in station.toml, e.g. [plant] station_id = \"L1-S03\"")
        self.worker = ReplicationWorker(feed)

    def start(self) -> None:
        """Start the replication thread (it opens its connections on its own thread)."""
        self.worker.start()

    def stop(self) -> None:
        """One last attempt of a few seconds to send what is recorded, then end the thread."""
        self.worker.stop()
        self.worker.join(LAST_ATTEMPT_S + self.worker.cfg.connect_timeout_s + 10.0)

    def workers(self) -> list[Worker]:
        """The replication thread, for the health panel."""
        return [self.worker]


class _WatermarkMoved(Exception):
    """The plant's watermark is not where this station left it (another process with the same station_id?)."""


@dataclass(frozen=True)
class _Batch:
    """Rows of one stream read from the records, up to local row id `last_id`."""

    stream: str
    last_id: int
    rows: list[tuple]
    regions: list[tuple] = field(default_factory=list)


class LocalRecords:
    """The station's records, read-only, in the shape the plant database takes them."""

    def __init__(self, data_dir) -> None:
        self._conn = open_readonly(database_path(data_dir))
        self._conn.row_factory = None

    def close(self) -> None:
        """Release the read connection."""
        self._conn.close()

    def read(self, stream: str, after: int, limit: int) -> _Batch | None:
        """The next batch of `stream` after local row id `after`, or None when there is nothing new."""
        if stream == "part_changes":
            return self._part_changes(after, limit)
        sql = {
            "audit": 'SELECT id, id, at, "user", action, subject, old_value, new_value, reason, at, prev_hash, hash '
                     "FROM audit WHERE id > ? ORDER BY id LIMIT ?",
            "alarm_events": 'SELECT id, id, at, code, event, priority, message, "user" FROM alarm_events '
                            "WHERE id > ? ORDER BY id LIMIT ?",
            "threshold_sets": 'SELECT rowid, recipe, version, "values", created_by, created_at, reason '
                              "FROM threshold_sets WHERE rowid > ? ORDER BY rowid LIMIT ?",
        }[stream]
        rows = self._conn.execute(sql, (after, limit)).fetchall()
        if not rows:
            return None
        return _Batch(stream, int(rows[-1][0]), [r[1:] for r in rows])

    def _part_changes(self, after: int, limit: int) -> _Batch | None:
        last = self._conn.execute("SELECT max(id) FROM (SELECT id FROM part_changes WHERE id > ? ORDER BY id LIMIT ?)",
                                  (after, limit)).fetchone()[0]
        if last is None:
            return None
        changed = "SELECT seq FROM part_changes WHERE id > ? AND id <= ?"
        parts = self._conn.execute(f"SELECT {', '.join(_PART_COLUMNS)} FROM inspections WHERE seq IN ({changed}) "
                                   "ORDER BY seq", (after, last)).fetchall()
        regions = self._conn.execute(
            "SELECT r.seq, r.idx, i.captured_at, r.x, r.y, r.w, r.h, r.area_px, r.peak_score, r.label, r.confidence "
            f"FROM regions r JOIN inspections i ON i.seq = r.seq WHERE r.seq IN ({changed}) ORDER BY r.seq, r.idx",
            (after, last)).fetchall()
        return _Batch("part_changes", int(last), parts, regions)

    def high_ids(self) -> dict[str, int]:
        """The newest local row id of each stream (0: none)."""
        return {
            "part_changes": self._one("SELECT coalesce(max(id), 0) FROM part_changes"),
            "audit": self._one("SELECT coalesce(max(id), 0) FROM audit"),
            "alarm_events": self._one("SELECT coalesce(max(id), 0) FROM alarm_events"),
            "threshold_sets": self._one("SELECT coalesce(max(rowid), 0) FROM threshold_sets"),
        }

    def newest_part(self) -> tuple[int, str | None]:
        """The newest part number recorded here and its captured_at (0, None: no parts yet)."""
        row = self._conn.execute("SELECT seq, captured_at FROM inspections ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), row[1]) if row else (0, None)

    def parts_changed_after(self, change_id: int | None) -> int:
        """How many parts have changes not yet sent (all recorded parts while the plant's watermark is unknown)."""
        if change_id is None:
            return self._one("SELECT count(*) FROM inspections")
        return self._one("SELECT count(DISTINCT seq) FROM part_changes WHERE id > ?", (change_id,))

    def _one(self, sql: str, args: tuple = ()) -> int:
        return int(self._conn.execute(sql, args).fetchone()[0])


class ShiftLookup:
    """The station's shift (name, start) at a moment, from its shift calendar; windows reused between batches."""

    def __init__(self, calendar: ShiftCalendar) -> None:
        self._calendar = calendar
        self._windows: list[ShiftWindow] = []
        self._starts: list[datetime] = []
        self._span: tuple[datetime, datetime] | None = None

    def at(self, moment: datetime) -> ShiftWindow | None:
        """The shift whose window holds `moment` (the one that began last, as ShiftCalendar.containing), or None."""
        if self._span is None or not self._span[0] <= moment < self._span[1]:
            self._windows = self._calendar.between(moment - timedelta(days=3), moment + timedelta(days=3))
            self._starts = [w.start for w in self._windows]
            self._span = (moment - timedelta(days=1), moment + timedelta(days=2))
        i = bisect.bisect_right(self._starts, moment)
        for window in reversed(self._windows[max(0, i - 4):i]):
            if moment < window.end:
                return window
        return None


class ReplicationWorker(Worker):
    """The thread that sends the station's records to the plant database (see the module's description)."""

    role = "plant database"
    nice = 19

    def __init__(self, feed: OutputFeed) -> None:
        super().__init__()
        self.feed = feed
        self.cfg: PlantConfig = feed.cfg.plant
        self.station_id = self.cfg.station_id
        self.line = self.cfg.line or feed.cfg.station.line
        self.server = server_name(self.cfg)
        self._shifts = ShiftLookup(ShiftCalendar(feed.cfg.shifts))
        self._local: LocalRecords | None = None
        self._pg: psycopg.Connection | None = None
        self._watermarks: dict[str, int] | None = None  # the plant's, once connected
        self._months: set[date] = set()
        self._next_at = 0.0
        self._last_cycle = 0.0
        self._retry_s = FIRST_RETRY_S
        self._failing_since: float | None = None
        self.sent = {s: 0 for s in STREAMS}  # records sent since start, per stream (for tests and the drill)
        self.cycles = 0

    # --- the thread -------------------------------------------------------------------------------
    def setup(self) -> None:
        """Open the records read-only (the station migrated them before starting its outputs)."""
        self._local = LocalRecords(self.feed.data_dir)

    def run(self) -> None:
        """Send on news or every interval until stop, then make one last short attempt."""
        super().run()
        self._last_attempt()

    def loop_once(self) -> None:
        """Send what is new when due, then wait for news (a judged part) or the next due time."""
        if time.monotonic() >= self._next_at:
            self._cycle()
        self._await_news()

    def teardown(self) -> None:
        """Close both connections."""
        self._close_plant()
        if self._local is not None:
            self._local.close()
            self._local = None

    @property
    def connected(self) -> bool:
        """True while the thread holds a working connection to the plant database."""
        return self._pg is not None and self._failing_since is None

    @property
    def watermarks(self) -> dict[str, int]:
        """The plant's watermark of each stream, as last read or moved (empty before the first connection)."""
        return dict(self._watermarks or {})

    def _await_news(self) -> None:
        now = time.monotonic()
        wait = max(0.0, min(self._next_at - now, NEWS_POLL_S))
        if self.feed.parts.take(wait) is None:
            return
        while self.feed.parts.take_nowait() is not None:  # the parts themselves are read from the records
            pass
        if self._failing_since is None:
            # Soon, but not once per part: a busy line's parts go in small batches a quarter interval apart.
            self._next_at = min(self._next_at, self._last_cycle + self.cfg.interval_s / 4)

    # --- one cycle: connect if needed, send every stream, report the station -----------------------
    def _cycle(self) -> None:
        self._last_cycle = time.monotonic()
        self.cycles += 1
        try:
            self._ensure_connected()
            self._send_all(None)
            self._report_station()
        except (PlantDatabaseError, ConfigError, _WatermarkMoved) as exc:
            self._failed(exc, getattr(exc, "problem", None) or getattr(exc, "what", None) or str(exc))
            return
        except psycopg.Error as exc:
            self._failed(exc, first_line(str(exc)) or type(exc).__name__)
            return
        self._recovered()
        self._next_at = time.monotonic() + self.cfg.interval_s

    def _ensure_connected(self) -> None:
        if self._pg is not None and not self._pg.closed:
            return
        self._pg = connect(self.cfg)
        migrate(self._pg)
        self._load_watermarks()
        self._check_watermarks()

    def _check_watermarks(self) -> None:
        """Refuse to send when the plant holds more of this station's records than the station has."""
        high = self._records().high_ids()
        ahead = [s for s in STREAMS if self._watermarks[s] > high[s]]
        if ahead:
            raise PlantDatabaseError(
                f"the plant database holds more records of station {self.station_id} than the station itself "
                f"({', '.join(ahead)})",
                "give each station its own plant.station_id; if this station's records were replaced, ask the "
                "plant's database administrator", problem=f"it already holds more {', '.join(ahead)} of "
                                                          f"station '{self.station_id}' than this station has: is "
                                                          "plant.station_id used by another station?")

    def _send_all(self, deadline: float | None) -> None:
        for stream in STREAMS:
            while True:
                if deadline is not None and time.monotonic() > deadline:
                    return
                batch = self._records().read(stream, self._watermarks[stream], self.cfg.batch_size)
                if batch is None:
                    break
                self._send(batch)
                if self.stopping and deadline is None:
                    return  # the last attempt sends what is left

    def _send(self, batch: _Batch) -> None:
        pg = self._pg
        assert pg is not None and self._watermarks is not None
        if batch.stream == "part_changes":
            parts = [self._part_row(row) for row in batch.rows]
            self._ensure_months({month_of(datetime.fromisoformat(p[7])) for p in parts})
        expected = self._watermarks[batch.stream]
        with pg.transaction():
            with pg.cursor() as cur:
                if batch.stream == "part_changes":
                    self._write_parts(cur, parts, batch.regions)
                elif batch.stream == "audit":
                    cur.executemany(_INSERT_AUDIT, [(self.station_id, *r) for r in batch.rows])
                elif batch.stream == "alarm_events":
                    cur.executemany(_INSERT_ALARM_EVENT, [(self.station_id, *r) for r in batch.rows])
                else:
                    cur.executemany(_INSERT_THRESHOLD_SET, [(self.station_id, *r) for r in batch.rows])
                cur.execute(_MOVE_WATERMARK, (self.station_id, batch.stream, batch.last_id, expected))
                if cur.rowcount != 1:
                    raise _WatermarkMoved(f"the plant's {batch.stream} watermark of station {self.station_id} moved "
                                          "under this station: is plant.station_id used by another station?")
        self._watermarks[batch.stream] = batch.last_id
        self.sent[batch.stream] += len(batch.rows)

    def _part_row(self, row: tuple) -> tuple:
        captured = datetime.fromisoformat(row[3])
        shift = self._shifts.at(captured)
        return (self.station_id, self.line, shift.name if shift else "", shift.start if shift else None, *row)

    def _write_parts(self, cur: psycopg.Cursor, parts: list[tuple], regions: list[tuple]) -> None:
        if not parts:
            return  # the changed parts are gone from the records (retention): only the watermark moves
        seqs = [p[4] for p in parts]
        times = [p[7] for p in parts]
        window = (self.station_id, seqs, min(times), max(times))
        cur.execute("SELECT count(*) FROM parts WHERE station_id = %s AND seq = ANY(%s) "
                    "AND captured_at BETWEEN %s::timestamptz AND %s::timestamptz", window)
        inserted = len(parts) - cur.fetchone()[0]
        cur.executemany(_UPSERT_PART, parts)
        if inserted:
            cur.execute("UPDATE stations SET parts_in_plant = parts_in_plant + %s WHERE station_id = %s",
                        (inserted, self.station_id))
        cur.execute("DELETE FROM regions WHERE station_id = %s AND seq = ANY(%s) "
                    "AND captured_at BETWEEN %s::timestamptz AND %s::timestamptz", window)
        if regions:
            cur.executemany(_INSERT_REGION, [(self.station_id, *r) for r in regions])
        used: dict[str, list] = {}
        for p in parts:
            sha, name, at = p[11], p[10], p[7]
            if sha:
                first = used.setdefault(sha, [name, at, at])
                first[0], first[1], first[2] = name, min(first[1], at), max(first[2], at)
        if used:
            cur.executemany(_UPSERT_MODEL, [(self.station_id, sha, name, a, b) for sha, (name, a, b) in used.items()])

    def _ensure_months(self, months: Iterable[date]) -> None:
        missing = set(months) - self._months
        if not missing:
            return
        assert self._pg is not None
        ensure_partitions(self._pg, missing)
        self._months |= missing

    def _report_station(self) -> None:
        assert self._pg is not None
        with self._pg.transaction():
            self._upsert_station()

    def _upsert_station(self) -> None:
        assert self._pg is not None
        local = self._records()
        seq, at = local.newest_part()
        behind = local.parts_changed_after(self._watermarks["part_changes"] if self._watermarks else None)
        cfg = self.feed.cfg
        self._pg.execute(_UPSERT_STATION, (self.station_id, cfg.station.name, self.line, cfg.shifts.timezone,
                                           __version__, seq, at, behind))

    # --- outages ------------------------------------------------------------------------------------
    def _failed(self, exc: BaseException, problem: str) -> None:
        self._close_plant()
        local = self._records()
        behind = local.parts_changed_after(self._watermarks["part_changes"] if self._watermarks else None)
        self.feed.alarms.raise_(PLANT_DB, server=self.server, problem=problem, behind=behind)
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
            self._retry_s = min(FIRST_RETRY_S, self.cfg.retry_max_s)
            log.warning("plant database %s cannot take the records (%s); retrying, the line runs on",
                        self.server, problem)
        else:
            self._retry_s = min(self._retry_s * 2, self.cfg.retry_max_s)
        self._next_at = now + self._retry_s

    def _recovered(self) -> None:
        if self._failing_since is None:
            return
        log.info("plant database %s takes the records again after %.0f s", self.server,
                 time.monotonic() - self._failing_since)
        self._failing_since = None
        self._retry_s = FIRST_RETRY_S
        self.feed.alarms.clear(PLANT_DB)

    def _last_attempt(self) -> None:
        """On stop: send for at most a few seconds (the server may be away: a short connect), then give up.

        Outputs stop before the records: the store may still commit the last parts and their PLC statuses,
        so this sends until nothing new came for QUIET_S (or the time is up); the rest goes at the next start.
        """
        deadline = time.monotonic() + LAST_ATTEMPT_S
        try:
            if self._pg is None or self._pg.closed:
                self._pg = connect(self.cfg, timeout_s=min(self.cfg.connect_timeout_s, 2.0))
                migrate(self._pg)
                self._load_watermarks()
            self._pg.execute(f"SET statement_timeout = {int(LAST_ATTEMPT_S * 1000)}")
            self._pg.commit()
            quiet_since = time.monotonic()
            while time.monotonic() < deadline:
                before = sum(self.sent.values())
                self._send_all(deadline)
                if sum(self.sent.values()) != before:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= QUIET_S:
                    break
                time.sleep(QUIET_S / 4)
            self._report_station()
        except Exception as exc:  # noqa: BLE001 - stopping: what was not sent goes at the next start
            log.info("plant database %s: not everything was sent before stopping (%s); the rest goes at the "
                     "next start", self.server, first_line(str(exc)))

    def _load_watermarks(self) -> None:
        """Where the plant's copy of each stream ends: the one place a (re)connected station resumes from."""
        assert self._pg is not None
        with self._pg.transaction():
            rows = self._pg.execute("SELECT stream, last_id FROM replication_watermarks WHERE station_id = %s",
                                    (self.station_id,)).fetchall()
            self._watermarks = {s: 0 for s in STREAMS} | {s: int(v) for s, v in rows if s in STREAMS}
            self._upsert_station()

    def _records(self) -> LocalRecords:
        assert self._local is not None
        return self._local

    def _close_plant(self) -> None:
        if self._pg is not None:
            try:
                self._pg.close()
            except Exception:  # noqa: BLE001 - a connection already broken
                pass
            self._pg = None
