"""The record browser's queries on a real SQLite records file: keyset pages, shifts, slices, choices, export."""

from __future__ import annotations

import csv
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from hmi.config.schema import ShiftsConfig
from hmi.core.errors import ConfigError, StoreError
from hmi.core.verdict import Verdict
from hmi.services.reports import browse
from hmi.services.reports.browse import (RECORD_COLUMNS, RecordBrowser, RecordExport, RecordFilter, distinct_values,
                                find_records)
from hmi.services.reports.connection import open_reports
from hmi.store.database import iso_utc, open_database, transaction

T0 = datetime(2024, 3, 29, 12, 0, tzinfo=timezone.utc)   # the clocks change in Berlin on 31 March
STEP = timedelta(minutes=10)
N = 600
VERDICTS = ["OK"] * 7 + ["NG", "HOLD", "NOT_INSPECTED"]
SHIFTS = ShiftsConfig(timezone="Europe/Berlin")
_INSERT = ("INSERT INTO inspections (seq, part_id, lot_id, captured_at, captured_mono, recipe, score, auto_verdict, "
           "verdict, reason, image_path, heatmap_path, confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _row(seq: int) -> tuple:
    # Every third part shares its capture time with the one before: keys must break ties by seq.
    at = T0 + STEP * (seq - seq // 3)
    verdict = VERDICTS[seq % len(VERDICTS)]
    return (seq, f"P{seq:05d}", f"LOT-Ä{seq // 50}", iso_utc(at), float(seq), "gear" if seq % 4 else "housing",
            seq / N, verdict, verdict, "", None, None, None if verdict == "NOT_INSPECTED" else seq / (N + 1))


@pytest.fixture
def data_dir(tmp_path):
    """A data folder whose records hold N parts over about three days, some sharing a capture time."""
    conn = open_database(tmp_path / "hmi.db")
    with transaction(conn):
        conn.executemany(_INSERT, [_row(seq) for seq in range(1, N + 1)])
    conn.close()
    return tmp_path


@pytest.fixture
def conn(data_dir):
    """The reports' read-only connection to the records."""
    with closing(open_reports(data_dir)) as c:
        yield c


def _expected(conn, where: str = "", args: tuple = ()) -> list[int]:
    return [r[0] for r in conn.execute(f"SELECT seq FROM inspections {where} ORDER BY captured_at DESC, seq DESC", args)]


def _walk(conn, flt: RecordFilter, limit: int, **options) -> tuple[list[int], list]:
    seqs, pages, after = [], [], None
    while True:
        page = find_records(conn, flt, after=after, limit=limit, shifts=SHIFTS, **options)
        pages.append(page)
        seqs += [r.seq for r in page.records]
        if not page.more:
            return seqs, pages
        after = page.next_after


def test_browse_pages_walk_every_part_once_newest_first(conn):
    seqs, pages = _walk(conn, RecordFilter(), 7)
    assert seqs == _expected(conn) and len(seqs) == N
    assert all(len(p.records) == 7 for p in pages[:-1]) and pages[-1].next_after is None
    first = pages[0].records[0]
    assert first.seq == N and first.captured_at.tzinfo is not None and first.verdict is Verdict[_row(N)[8]]


def test_browse_several_verdicts_and_a_recipe_are_merged_in_order(conn):
    flt = RecordFilter(verdicts=frozenset({Verdict.NG, Verdict.HOLD}), recipe="gear")
    seqs, _ = _walk(conn, flt, 5)
    assert seqs == _expected(conn, "WHERE verdict IN ('NG', 'HOLD') AND recipe = 'gear'")
    start, end = T0 + timedelta(hours=10), T0 + timedelta(hours=30)
    seqs, _ = _walk(conn, RecordFilter(start=start, end=end, verdicts=frozenset({Verdict.OK})), 9)
    assert seqs == _expected(conn, "WHERE verdict = 'OK' AND captured_at >= ? AND captured_at < ?",
                             (iso_utc(start), iso_utc(end)))
    assert [r.seq for r in find_records(conn, RecordFilter(seq=123)).records] == [123]


def test_browse_shift_filter_keeps_that_shift_across_the_clock_change(conn):
    flt = RecordFilter(start=T0, end=T0 + timedelta(days=4), shift="night")
    seqs, _ = _walk(conn, flt, 20)
    berlin = ZoneInfo("Europe/Berlin")
    night = [seq for seq in _expected(conn)
             if not 6 <= datetime.fromisoformat(_row(seq)[3].replace("Z", "+00:00")).astimezone(berlin).hour < 22]
    assert seqs == night and len(seqs) > 100
    with pytest.raises(ConfigError, match="no shift called 'Weekend'"):
        find_records(conn, RecordFilter(shift="Weekend"), shifts=SHIFTS)


def test_browse_lot_search_goes_back_in_slices_and_resumes_where_it_stopped(data_dir, conn, monkeypatch):
    monkeypatch.setattr(browse, "SLICE_ROWS", 25)
    flt = RecordFilter(lot_id="LOT-Ä3")
    seqs, pages = _walk(conn, flt, 100, budget_s=0.0)
    assert seqs == _expected(conn, "WHERE lot_id = 'LOT-Ä3'") and len(seqs) == 50
    searched = [p.searched_to for p in pages if p.searched_to is not None]
    assert len(searched) > 5 and searched == sorted(searched, reverse=True)

    # With an index on lot_id (a later schema), the same question is one seek, never cut short.
    with closing(sqlite3.connect(data_dir / "hmi.db")) as writable:
        writable.execute("CREATE INDEX inspections_lot ON inspections (lot_id, captured_at)")
    with closing(open_reports(data_dir)) as fresh:
        seqs, pages = _walk(fresh, flt, 100, budget_s=0.0)
    assert len(pages) == 1 and pages[0].searched_to is None and len(seqs) == 50


def test_browse_choices_are_exact_for_indexed_columns_and_sampled_for_lots(conn):
    assert distinct_values(conn, "recipe") == ["gear", "housing"]
    assert distinct_values(conn, "verdict") == sorted(set(VERDICTS))
    assert distinct_values(conn, "lot_id", samples=100, newest=10) == sorted({_row(s)[2] for s in range(1, N + 1)})
    with pytest.raises(ValueError):
        distinct_values(conn, "reason; DROP TABLE inspections")


def test_browse_connection_cannot_write_and_missing_records_are_named(data_dir, tmp_path):
    browser = RecordBrowser(data_dir, SHIFTS)
    with pytest.raises(sqlite3.OperationalError):
        browser.connection().execute("DELETE FROM inspections")
    browser.close()
    with pytest.raises(StoreError, match="no records"):
        RecordBrowser(tmp_path / "elsewhere", SHIFTS).page(RecordFilter())


def test_browse_filter_refuses_naive_and_reversed_times():
    with pytest.raises(ValueError, match="time zone"):
        RecordFilter(start=datetime(2024, 1, 1))
    with pytest.raises(StoreError, match="ends before it starts"):
        RecordFilter(start=T0, end=T0)
    assert RecordFilter(lot_id="  ", recipe=" gear ").lot_id is None
    assert RecordFilter(recipe=" gear ").words() == "recipe gear"


def test_browse_export_writes_every_part_of_the_filter_as_utf8_csv(data_dir, conn):
    browser = RecordBrowser(data_dir, SHIFTS)
    target = data_dir / "exports" / "ng.csv"
    export = RecordExport(browser, RecordFilter(verdicts=frozenset({Verdict.NG})), target, rows_per_step=16)
    steps = 0
    while not export.done:
        export.step()
        steps += 1
        assert target.exists() == export.done  # the final name appears only when complete
    browser.close()
    with open(target, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == RECORD_COLUMNS
    assert [int(r[0]) for r in rows[1:]] == _expected(conn, "WHERE verdict = 'NG'") and steps == 4
    at = rows[1][RECORD_COLUMNS.index("captured_at")]
    assert datetime.fromisoformat(at.replace("Z", "+00:00")).tzinfo is not None and at.endswith("Z")
    assert rows[1][RECORD_COLUMNS.index("lot_id")].startswith("LOT-Ä")
    assert all(r[RECORD_COLUMNS.index("confidence")] == f"{int(r[0]) / (N + 1):.4f}" for r in rows[1:])
    assert not list(target.parent.glob("*.part"))


def test_browse_detail_reads_pictures_and_says_what_is_missing(data_dir):
    folder = data_dir / "images" / "2024-03-29"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "000000000008_NG.png"), np.full((48, 64), 200, np.uint8))
    with closing(sqlite3.connect(data_dir / "hmi.db")) as writable, writable:
        writable.execute("UPDATE inspections SET image_path = ?, heatmap_path = ? WHERE seq = 8",
                         ("images/2024-03-29/000000000008_NG.png", "images/2024-03-29/000000000008_NG_heatmap.jpg"))
        writable.execute("UPDATE inspections SET image_path = '../../etc/passwd' WHERE seq = 18")
    browser = RecordBrowser(data_dir, SHIFTS)
    detail = browser.detail(8)
    assert detail.image.shape == (48, 64) and detail.heatmap is None
    assert "cannot be read" in detail.image_note
    assert "outside the data folder" in browser.detail(18).image_note
    assert "sample" in browser.detail(1).image_note  # an OK part without a kept image
    with pytest.raises(StoreError, match="no part 99999"):
        browser.detail(99999)
    browser.close()
