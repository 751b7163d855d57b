"""CSV rows per part and a PDF whose pages render (pypdfium2) with charts on them."""

from __future__ import annotations

import csv
import sqlite3
from contextlib import closing
from datetime import timedelta

import numpy as np
import pypdfium2 as pdfium

from hmi.config.schema import ShiftsConfig
from hmi.services.reports.connection import open_reports
from hmi.services.reports.export import COLUMNS, write_csv
from hmi.services.reports.pdf import write_pdf
from hmi.services.reports.shifts import ShiftCalendar
from hmi.services.reports.summary import build_report
from tests.unit.reports.conftest import T0

CAL = ShiftCalendar(ShiftsConfig())


def test_csv_has_one_row_per_part_with_every_column(known_shift, tmp_path):
    with closing(sqlite3.connect(known_shift / "hmi.db")) as writable, writable:
        writable.execute("UPDATE inspections SET confidence = 0.734567 WHERE auto_verdict = 'NG'")
        writable.execute("UPDATE inspections SET confidence = 0.01 WHERE auto_verdict = 'OK'")
    conn = open_reports(known_shift)
    w = CAL.resolve("2026-03-02 Early")
    out = tmp_path / "exports" / "early.csv"
    assert write_csv(conn, w, out) == 460
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 460 and list(rows[0])[:len(COLUMNS)] == list(COLUMNS)
    assert rows[0]["captured_at"] == "2026-03-02T06:00:05.000Z"
    assert [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)
    ng = next(r for r in rows if r["verdict"] == "NG" and r["reviewed_by"] == "")
    assert ng["regions"].startswith("dent 0,0,4,4 10px")
    assert ng["confidence"] == "0.7346"
    assert {r["confidence"] for r in rows if r["verdict"] == "OK" and r["reviewed_by"] == ""} == {"0.0100"}
    assert {r["confidence"] for r in rows if r["verdict"] == "NOT_INSPECTED"} == {""}
    assert not (tmp_path / "exports" / "early.csv.part").exists()
    conn.close()


def test_csv_of_records_older_than_the_confidence_leaves_it_empty(known_shift, tmp_path):
    with closing(sqlite3.connect(known_shift / "hmi.db")) as writable, writable:
        writable.execute("ALTER TABLE inspections DROP COLUMN confidence")  # as written before schema 4
    conn = open_reports(known_shift)
    out = tmp_path / "old.csv"
    assert write_csv(conn, CAL.resolve("2026-03-02 Early"), out) == 460
    with out.open(encoding="utf-8", newline="") as fh:
        assert {r["confidence"] for r in csv.DictReader(fh)} == {""}
    conn.close()


def test_pdf_renders_pages_with_charts(known_shift, tmp_path):
    conn = open_reports(known_shift)
    a = build_report(conn, CAL.resolve("2026-03-02 Early"), now=T0 + timedelta(days=1))
    b = build_report(conn, CAL.resolve("2026-03-02 Late"), now=T0 + timedelta(days=1))
    out = write_pdf(a, tmp_path / "early.pdf", station="Station 1", other=b)
    pdf = pdfium.PdfDocument(str(out))
    assert len(pdf) == 3
    first = np.asarray(pdf[0].render(scale=1).to_pil().convert("RGB"))
    reds = np.all(np.abs(first.astype(int) - [200, 30, 30]) < 30, axis=-1).sum()
    assert reds > 500                     # the Pareto's red bars are drawn
    text = pdf[0].get_textpage().get_text_range()
    assert "Shift report" in text and "First-pass yield" in text
    assert "Side by side" in pdf[2].get_textpage().get_text_range()
    pdf.close()
    conn.close()
