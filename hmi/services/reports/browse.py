"""The record browser's questions: parts by time, shift, recipe, verdict, lot or part, one page at a time.

Pages are keyset-paged on (captured_at, seq), newest first, along the records' own indexes, so a
page costs the same on the first day and on a 6-million-part week; nothing ever loads every row.
Several verdicts are one index search each, merged. Lot and part id have no index: they are searched
in slices of the time index under a time budget, so such a page may come back short, saying how far
back it searched, and the next page carries on from there.
"""

from __future__ import annotations

import csv
import heapq
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np

from hmi.config.schema import ShiftsConfig
from hmi.core.errors import ConfigError, StoreError
from hmi.core.verdict import Verdict
from hmi.services.reports.connection import open_reports
from hmi.services.reports.shifts import ShiftCalendar
from hmi.store.audit import AuditEntry
from hmi.store.database import database_path, iso_utc
from hmi.store.queries import PART_COLUMNS, PartRecord, parse_utc, part_audit, part_by_seq, part_record

PAGE_SIZE = 100
BUDGET_S = 0.5          # a page searches no longer than this for lot or part id, then says how far it got
SLICE_ROWS = 10_000     # parts of the time index searched per step of an unindexed filter
OLDEST_SEQ = -(2 ** 63)  # a key with this seq stands just below every part captured at its time

RECORD_COLUMNS: tuple[str, ...] = PART_COLUMNS
_SELECT = f"SELECT {', '.join(RECORD_COLUMNS)} FROM inspections"
_AT = RECORD_COLUMNS.index("captured_at")
_SEQ = RECORD_COLUMNS.index("seq")
# Columns whose values may be offered as filter choices.
CHOICE_COLUMNS = frozenset({"recipe", "lot_id", "verdict", "auto_verdict", "defect_type", "reviewed_by",
                            "backend", "model_name", "plc_status"})


@dataclass(frozen=True)
class RecordFilter:
    """Which parts to list: a UTC time range [start, end), a shift by name, recipe, final verdicts, lot, part.

    Empty fields do not filter. `seq` picks one part by its sequence number; `part_id` and `lot_id`
    match exactly (as the station stored them).
    """

    start: datetime | None = None
    end: datetime | None = None
    shift: str | None = None
    recipe: str | None = None
    verdicts: frozenset[Verdict] = frozenset()
    lot_id: str | None = None
    part_id: str | None = None
    seq: int | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"RecordFilter.{name} must carry a time zone (the records are in UTC)")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise StoreError("the time range ends before it starts",
                             "choose a 'from' time earlier than the 'to' time")
        for name in ("shift", "recipe", "lot_id", "part_id"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value.strip() or None) if isinstance(value, str) else value)
        object.__setattr__(self, "verdicts", frozenset(Verdict(v) for v in self.verdicts))

    def words(self, tz=timezone.utc) -> str:
        """The filter in plain words, times in `tz` (a ZoneInfo of the plant), for titles and exports."""
        parts = []
        if self.start is not None or self.end is not None:
            a = self.start.astimezone(tz).strftime("%Y-%m-%d %H:%M") if self.start else "the first part"
            b = self.end.astimezone(tz).strftime("%Y-%m-%d %H:%M") if self.end else "now"
            parts.append(f"{a} to {b}")
        if self.shift:
            parts.append(f"{self.shift} shifts")
        if self.recipe:
            parts.append(f"recipe {self.recipe}")
        if self.verdicts:
            parts.append("/".join(v.label for v in sorted(self.verdicts)))
        if self.lot_id:
            parts.append(f"lot {self.lot_id}")
        if self.part_id:
            parts.append(f"part id {self.part_id}")
        if self.seq is not None:
            parts.append(f"part {self.seq}")
        return ", ".join(parts) or "all parts"


@dataclass(frozen=True, order=True)
class RecordKey:
    """A place in the newest-first order; the next page holds the parts just older than it."""

    captured_at: str  # as stored: ISO-8601 UTC text, which sorts as time
    seq: int


@dataclass(frozen=True)
class RecordPage:
    """One page of parts, newest first, and where the next page starts (None: no older part matches).

    `searched_to` is set when the time budget ran out before the page was full: every part captured
    at or after it was searched, and `next_after` carries on below it.
    """

    records: tuple[PartRecord, ...]
    next_after: RecordKey | None
    searched_to: datetime | None = None

    @property
    def more(self) -> bool:
        """True when older parts may match."""
        return self.next_after is not None


@dataclass(frozen=True)
class PartDetail:
    """Everything the part view shows: the record, its audit history, and its images read from disk."""

    record: PartRecord
    history: tuple[AuditEntry, ...]
    image: np.ndarray | None = field(default=None, compare=False, repr=False)    # Mono8 or RGB
    heatmap: np.ndarray | None = field(default=None, compare=False, repr=False)  # RGB overlay as stored
    image_note: str = ""


# --- time ----------------------------------------------------------------------------------------
def _text(moment: datetime | None) -> str | None:
    return iso_utc(moment)


def time_windows(conn: sqlite3.Connection, flt: RecordFilter, shifts: ShiftsConfig | None) -> list[tuple[str | None, str | None]]:
    """The filter's time as UTC windows [lo, hi), newest first (None: open); one window unless a shift is named."""
    lo, hi = _text(flt.start), _text(flt.end)
    if not flt.shift:
        return [(lo, hi)]
    if shifts is None:
        raise ValueError("filtering by shift needs the station's shifts")
    calendar = ShiftCalendar(shifts)
    start, end = flt.start, flt.end
    if start is None or end is None:
        # Two queries: min() and max() together in one would scan the table instead of seeking the index.
        first = conn.execute("SELECT min(captured_at) FROM inspections").fetchone()[0]
        last = conn.execute("SELECT max(captured_at) FROM inspections").fetchone()[0]
        if first is None:
            return []
        start = start or parse_utc(first)
        end = end or parse_utc(last) + timedelta(milliseconds=1)
    name = next((n for n in calendar.names if n.casefold() == flt.shift.casefold()), None)
    if name is None:
        raise ConfigError(f"there is no shift called '{flt.shift}'",
                          f"choose one of the configured shifts: {', '.join(calendar.names)}")
    windows = []
    for w in calendar.between(start - timedelta(days=1), end):
        if w.name == name and w.end > start and w.start < end:
            windows.append((iso_utc(max(w.start, start)), iso_utc(min(w.end, end))))
    return windows[::-1]


# --- pages ---------------------------------------------------------------------------------------
def _indexed_leads(conn: sqlite3.Connection) -> set[str]:
    """Columns of `inspections` that lead an index (a value is found by a seek, not a scan)."""
    leads = {"seq"}
    for row in conn.execute("PRAGMA index_list(inspections)").fetchall():
        first = conn.execute(f"PRAGMA index_info({_quote(row[1])})").fetchone()
        if first is not None and first[2] is not None:
            leads.add(first[2])
    return leads


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _where(flt: RecordFilter, lo: str | None, hi: str | None, after: RecordKey | None,
           verdict: Verdict | None, *, unindexed: bool = True) -> tuple[str, list]:
    """The WHERE clause of one search (empty when nothing filters) and its arguments."""
    terms: list[str] = []
    args: list = []
    if lo is not None:
        terms.append("captured_at >= ?")
        args.append(lo)
    if hi is not None:
        terms.append("captured_at < ?")
        args.append(hi)
    if after is not None:
        # The first term bounds the index range; the second drops the parts already shown at that time.
        terms.append("captured_at <= ? AND (captured_at < ? OR seq < ?)")
        args += [after.captured_at, after.captured_at, after.seq]
    if flt.recipe is not None:
        terms.append("recipe = ?")
        args.append(flt.recipe)
    if verdict is not None:
        # With a recipe, '+' keeps the planner on the recipe index, which holds the verdict too: a rare
        # recipe is then never looked for among every part of a common verdict, row by row.
        terms.append("+verdict = ?" if flt.recipe is not None else "verdict = ?")
        args.append(verdict.name)
    if flt.seq is not None:
        terms.append("seq = ?")
        args.append(int(flt.seq))
    if unindexed:
        for column in ("lot_id", "part_id"):
            value = getattr(flt, column)
            if value is not None:
                terms.append(f"{column} = ?")
                args.append(value)
    return (" WHERE " + " AND ".join(terms)) if terms else "", args


def _search(conn: sqlite3.Connection, flt: RecordFilter, lo: str | None, hi: str | None,
            after: RecordKey | None, limit: int) -> list[tuple]:
    """Up to `limit` matching rows of [lo, hi) newest first: one index search per verdict, merged."""
    runs = []
    for verdict in sorted(flt.verdicts) or [None]:
        where, args = _where(flt, lo, hi, after, verdict)
        runs.append(conn.execute(f"{_SELECT}{where} ORDER BY captured_at DESC, seq DESC LIMIT ?",
                                 (*args, limit)).fetchall())
    if len(runs) == 1:
        return runs[0]
    merged = heapq.merge(*runs, key=lambda r: (r[_AT], r[_SEQ]), reverse=True)
    return [row for _, row in zip(range(limit), merged)]


def _slice_floor(conn: sqlite3.Connection, flt: RecordFilter, lo: str | None, hi: str | None,
                 after: RecordKey | None) -> str | None:
    """The capture time SLICE_ROWS parts below the top of [lo, hi) (read from the index alone); None if fewer."""
    where, args = _where(flt, lo, hi, after, None, unindexed=False)
    row = conn.execute(f"SELECT captured_at FROM inspections{where} ORDER BY captured_at DESC LIMIT 1 OFFSET ?",
                       (*args, SLICE_ROWS)).fetchone()
    return row[0] if row else None


def _search_sliced(conn: sqlite3.Connection, flt: RecordFilter, lo: str | None, hi: str | None,
                   after: RecordKey | None, limit: int, deadline: float) -> tuple[list[tuple], str | None]:
    """Like `_search` for filters no index serves, slice by slice; (rows, searched down to) when time runs out."""
    found: list[tuple] = []
    top = hi
    while True:
        began = time.monotonic()
        floor = _slice_floor(conn, flt, lo, top, after)
        found += _search(conn, flt, floor if floor is not None else lo, top, after, limit - len(found))
        if len(found) >= limit or floor is None:
            return found, None
        top = floor  # every part at or after `floor` has been searched
        now = time.monotonic()
        if now + (now - began) >= deadline:  # stop before a slice like the last one would overrun
            return found, top


def find_records(conn: sqlite3.Connection, flt: RecordFilter, *, after: RecordKey | None = None,
                 limit: int = PAGE_SIZE, shifts: ShiftsConfig | None = None,
                 budget_s: float | None = None) -> RecordPage:
    """One page of parts matching `flt`, newest first, starting just below `after` (None: the newest).

    `budget_s` (default BUDGET_S) bounds the search for lot or part id; other filters follow an index.
    """
    if limit < 1:
        raise ValueError("a page holds at least one part")
    deadline = time.monotonic() + (BUDGET_S if budget_s is None else budget_s)
    leads = _indexed_leads(conn)
    sliced = flt.seq is None and any(getattr(flt, c) is not None and c not in leads for c in ("lot_id", "part_id"))
    rows: list[tuple] = []
    windows = time_windows(conn, flt, shifts)
    if after is not None:
        windows = [(lo, hi) for lo, hi in windows if lo is None or lo <= after.captured_at]
    for i, (lo, hi) in enumerate(windows):
        want = limit + 1 - len(rows)  # one more than the page, to know whether older parts match
        if sliced:
            found, stopped = _search_sliced(conn, flt, lo, hi, after, want, deadline)
        else:
            found, stopped = _search(conn, flt, lo, hi, after, want), None
        rows += found
        if len(rows) > limit:
            break
        if stopped is not None:
            return RecordPage(tuple(part_record(r) for r in rows), RecordKey(stopped, OLDEST_SEQ), parse_utc(stopped))
        if sliced and time.monotonic() >= deadline and lo is not None and i + 1 < len(windows):
            return RecordPage(tuple(part_record(r) for r in rows), RecordKey(lo, OLDEST_SEQ), parse_utc(lo))
    page = rows[:limit]
    more = len(rows) > limit
    last = page[-1] if page else None
    return RecordPage(tuple(part_record(r) for r in page),
                      RecordKey(last[_AT], last[_SEQ]) if more and last is not None else None)


# --- filter choices --------------------------------------------------------------------------------
def distinct_values(conn: sqlite3.Connection, column: str, *, samples: int = 500, newest: int = 2000) -> list[str]:
    """The values of `column` to offer as filter choices, sorted; cheap on any size of records.

    A column that leads an index (recipe, verdict) is listed exactly, one index seek per value. Any
    other (lot) is sampled: the newest `newest` parts, and `samples` parts spread evenly over the
    whole history, each a primary-key seek; a lot shorter than the spacing may be missing, and
    can still be typed in.
    """
    if column not in CHOICE_COLUMNS:
        raise ValueError(f"{column!r} is not a column offered as a filter choice")
    col = _quote(column)
    found: set[str] = set()
    if column in _indexed_leads(conn):
        row = conn.execute(f"SELECT {col} FROM inspections WHERE {col} IS NOT NULL ORDER BY {col} LIMIT 1").fetchone()
        while row is not None:
            found.add(row[0])
            row = conn.execute(f"SELECT {col} FROM inspections WHERE {col} > ? ORDER BY {col} LIMIT 1",
                               (row[0],)).fetchone()
        return sorted(found)
    found.update(r[0] for r in conn.execute(
        f"SELECT {col} FROM (SELECT {col} FROM inspections ORDER BY seq DESC LIMIT ?) WHERE {col} IS NOT NULL",
        (newest,)))
    low = conn.execute("SELECT min(seq) FROM inspections").fetchone()[0]
    high = conn.execute("SELECT max(seq) FROM inspections").fetchone()[0]
    if low is not None and samples > 0:
        step = max(1, (high - low) // samples)
        for at in range(low, high + 1, step):
            row = conn.execute(f"SELECT {col} FROM inspections WHERE seq >= ? ORDER BY seq LIMIT 1", (at,)).fetchone()
            if row is not None and row[0] is not None:
                found.add(row[0])
    return sorted(found)


# --- images --------------------------------------------------------------------------------------
def _read_picture(data_dir: Path, relative: str, colour: bool) -> np.ndarray:
    """A stored picture as Mono8 or RGB; StoreError when the file is gone or unreadable."""
    root = Path(data_dir).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise StoreError(f"the record names a picture outside the data folder ({relative})",
                         "the record was changed outside the station; check the database")
    try:
        data = np.fromfile(path, np.uint8)  # not cv2.imread: it cannot open non-ASCII paths on Windows
    except OSError as exc:
        raise StoreError(f"the picture {relative} cannot be read ({exc.strerror or exc})",
                         "it may have been removed by hand; the record itself is complete") from None
    picture = cv2.imdecode(data, cv2.IMREAD_UNCHANGED if not colour else cv2.IMREAD_COLOR)
    if picture is None:
        raise StoreError(f"the picture {relative} is damaged", "the record itself is complete")
    if picture.ndim == 3 and picture.shape[2] == 4:
        picture = cv2.cvtColor(picture, cv2.COLOR_BGRA2RGB)
    elif picture.ndim == 3:
        picture = cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(picture)


def _images_note(record: PartRecord) -> str:
    if record.verdict is Verdict.OK and record.auto_verdict is Verdict.OK:
        return "No image kept: images of good parts are kept only as a sample, within the disk quota."
    return "No image kept: it was removed to keep the image folder within its disk quota, or could not be saved."


# --- the browser's connection ---------------------------------------------------------------------
class RecordBrowser:
    """The record browser's own read-only connection to DATA_DIR/hmi.db; use it from one thread at a time.

    Opened at the first question; a query holds no read transaction once it returns, so it never
    keeps the line's writer from folding back its log.
    """

    def __init__(self, data_dir: Path, shifts: ShiftsConfig) -> None:
        self.data_dir = Path(data_dir)
        self.shifts = shifts
        self._conn: sqlite3.Connection | None = None

    @property
    def db_path(self) -> Path:
        """The records database file."""
        return database_path(self.data_dir)

    def connection(self) -> sqlite3.Connection:
        """The read-only connection (opened now if need be); StoreError in plain words when there are no records."""
        if self._conn is None:
            self._conn = open_reports(self.db_path)
        return self._conn

    def page(self, flt: RecordFilter, after: RecordKey | None = None, limit: int = PAGE_SIZE,
             budget_s: float | None = None) -> RecordPage:
        """One page of parts (see find_records)."""
        return self._ask(lambda c: find_records(c, flt, after=after, limit=limit, shifts=self.shifts,
                                                budget_s=budget_s))

    def choices(self, column: str) -> list[str]:
        """Filter choices of `column` (see distinct_values)."""
        return self._ask(lambda c: distinct_values(c, column))

    def detail(self, seq: int) -> PartDetail:
        """Part `seq` with its regions, audit history and pictures; StoreError when no part has that number."""
        record, history = self._ask(lambda c: (part_by_seq(c, seq), part_audit(c, seq)))
        if record is None:
            raise StoreError(f"there is no part {seq} in the records", "check the number, or widen the filter")
        image = heatmap = None
        notes = []
        if record.image_path:
            try:
                image = _read_picture(self.data_dir, record.image_path, colour=False)
            except StoreError as exc:
                notes.append(str(exc))
        else:
            notes.append(_images_note(record))
        if record.heatmap_path:
            try:
                heatmap = _read_picture(self.data_dir, record.heatmap_path, colour=True)
            except StoreError as exc:
                notes.append(str(exc))
        return PartDetail(record, tuple(history), image, heatmap, " ".join(notes))

    def _ask(self, question):
        try:
            return question(self.connection())
        except sqlite3.Error as exc:
            self.close()  # the next question opens afresh
            raise StoreError(f"the records could not be read ({exc})",
                             "try again; if it persists, check the data disk or call service") from None

    def close(self) -> None:
        """Close the connection (a later question opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# --- CSV ---------------------------------------------------------------------------------------------
def _csv_value(value, column: str = "") -> object:
    if value is None:
        return ""
    if column == "confidence":
        return f"{value:.4f}"  # a fraction 0..1, as in the shift export
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, Verdict):
        return value.name
    return value


def record_rows(records: Iterable[PartRecord]) -> Iterable[list]:
    """CSV rows of parts in RECORD_COLUMNS order: ISO-8601 UTC times, verdict names, empty for none."""
    for record in records:
        yield [_csv_value(getattr(record, c), c) for c in RECORD_COLUMNS]


class RecordExport:
    """Writes every part a filter finds to a UTF-8 CSV file, one page per `step`, so no step runs long.

    The rows go to NAME.csv.part first and the file is renamed when the last page is written, so a
    file with the final name is always complete.
    """

    def __init__(self, browser: RecordBrowser, flt: RecordFilter, path: Path, rows_per_step: int = 5000) -> None:
        self.browser = browser
        self.filter = flt
        self.path = Path(path)
        self.rows_per_step = rows_per_step
        self.written = 0
        self.done = False
        self._after: RecordKey | None = None
        self._partial = self.path.with_name(self.path.name + ".part")

    def step(self) -> int:
        """Append the next page; returns the parts written so far (`done` is True after the last)."""
        if self.done:
            return self.written
        page = self.browser.page(self.filter, self._after, self.rows_per_step, budget_s=2.0)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            first = self._after is None and self.written == 0
            with open(self._partial, "w" if first else "a", encoding="utf-8", newline="") as fh:
                out = csv.writer(fh)
                if first:
                    out.writerow(RECORD_COLUMNS)
                out.writerows(record_rows(page.records))
            self.written += len(page.records)
            self._after = page.next_after
            if page.next_after is None:
                os.replace(self._partial, self.path)
                self.done = True
        except OSError as exc:
            self.abort()
            raise StoreError(f"the export file {self.path} cannot be written ({exc.strerror or exc})",
                             "free disk space or check the export folder, then export again") from None
        return self.written

    def abort(self) -> None:
        """Stop and remove the unfinished file."""
        self._partial.unlink(missing_ok=True)
        self.done = True
