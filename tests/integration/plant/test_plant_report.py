"""`hmi plant report` on a real PostgreSQL holding three stations' parts, written into the plant schema as the
replication writes them (monthly partitions, shift name and start from the station's calendar): every figure
is checked against counts made here from the same rows; the CSV is parsed, the PDF opened and its text read.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
import pytest

from hmi.config.schema import ShiftsConfig
from hmi.plant.database import connect, ensure_partitions, migrate
from hmi.plant.reports import explain_report, run_report_command
from hmi.services.reports.shifts import ShiftCalendar

TZ = "Europe/Berlin"
FIRST = datetime(2026, 3, 1, 21, 0, tzinfo=timezone.utc)   # rows begin before the window ...
LAST = datetime(2026, 3, 4, 3, 0, tzinfo=timezone.utc)     # ... and end after it
STATIONS = {"L1-S1": "L1", "L1-S2": "L1", "L2-S1": "L2"}
MODEL_A, MODEL_A2, MODEL_B = "a" * 64, "a2" * 32, "b" * 64
ENV = {k: v for k, v in os.environ.items() if k != "DISPLAY"}


@dataclass(frozen=True)
class Row:
    """One part as the test wrote it (what the report must count)."""

    station: str
    line: str
    seq: int
    at: datetime
    shift: str
    shift_start: datetime | None
    recipe: str
    model: str | None
    score: float | None
    auto: str
    verdict: str
    reviewer: str | None
    defect_type: str | None
    labels: tuple[str, ...]

    @property
    def kind(self) -> str | None:
        """The reject kind the report must give this part (None: not a reject)."""
        if self.verdict == "NOT_INSPECTED":
            return "not inspected"
        if self.verdict != "NG":
            return None
        kind = self.defect_type or (self.labels[0] if self.labels else "")
        return kind if kind and kind != "anomaly" else "not classified"


def _part(station: str, seq: int, at: datetime, calendar: ShiftCalendar) -> Row:
    """A deterministic mix: OK, NG by region label, overrides both ways, reviewed and timed-out holds, NOT INSPECTED."""
    line = STATIONS[station]
    recipe, model, base = ("flange-b", MODEL_B, 0.1) if line == "L2" else ("demo", MODEL_A, 19.5)
    if station == "L1-S2" and at >= datetime(2026, 3, 3, 0, 0, tzinfo=timezone.utc):
        model = MODEL_A2  # a new model version on one station half-way
    k = seq % 50
    auto, verdict, who, defect, labels, score = "OK", "OK", None, None, (), base + (seq % 7) * 0.01
    if k == 7:
        auto, verdict, labels = "NG", "NG", (("scratch", "dent", "anomaly")[seq % 3], "dent")
    elif k == 13:
        auto, verdict, who, labels = "NG", "OK", "anna", ("dent",)
    elif k == 21:
        auto, verdict, who, defect = "HOLD", "NG", "ben", "crack"
    elif k == 29:
        auto, verdict, who = "HOLD", "NG", "system"
    elif k == 33:
        auto, verdict, model, score = "NOT_INSPECTED", "NOT_INSPECTED", None, None
    elif k == 41:
        auto, verdict = "HOLD", "HOLD"
    elif seq % 97 == 5:
        auto, verdict, who, defect = "OK", "NG", "carla", "contamination"
    window = calendar.containing(at)
    return Row(station, line, seq, at, window.name if window else "", window.start if window else None, recipe,
               model, score, auto, verdict, who, defect, labels)


def _rows() -> list[Row]:
    calendar = ShiftCalendar(ShiftsConfig(timezone=TZ))
    rows = []
    for n, station in enumerate(STATIONS):
        at, seq = FIRST + timedelta(seconds=17 * n), 1
        while at < LAST:
            rows.append(_part(station, seq, at, calendar))
            at += timedelta(seconds=90 if station != "L2-S1" else 120)
            seq += 1
    return rows


def seed(db, rows: list[Row], now: datetime) -> None:
    """Write `rows` and the stations' own rows into the plant schema, as the replication would."""
    with connect(db.plant_config("REPORTS")) as conn:
        migrate(conn)
        ensure_partitions(conn, [date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)])
        with conn.transaction():
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO parts (station_id, seq, line, shift, shift_start, captured_at, decided_at, recipe, "
                    "model_name, model_sha256, threshold_version, backend, score, auto_verdict, verdict, reason, "
                    "reviewed_by, defect_type, plc_status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, 'cpu', "
                    "%s, %s, %s, '', %s, %s, 'delivered')",
                    [(r.station, r.seq, r.line, r.shift, r.shift_start, r.at, r.at, r.recipe,
                      {MODEL_A: "demo-part", MODEL_A2: "demo-part", MODEL_B: "flange-b"}.get(r.model or ""),
                      r.model, r.score, r.auto, r.verdict, r.reviewer, r.defect_type) for r in rows])
                cur.executemany(
                    "INSERT INTO regions (station_id, seq, idx, captured_at, x, y, w, h, area_px, label) "
                    "VALUES (%s, %s, %s, %s, 10, 10, 20, 20, 400, %s)",
                    [(r.station, r.seq, i, r.at, lab) for r in rows for i, lab in enumerate(r.labels)])
                newest = {s: max(r.at for r in rows if r.station == s) for s in STATIONS}
                seen = {"L1-S1": now, "L1-S2": now, "L2-S1": newest["L2-S1"]}  # L2-S1 has gone silent
                # L1-S2 runs 12 parts (ten minutes) ahead of what reached the plant
                ahead = {"L1-S1": timedelta(0), "L1-S2": timedelta(minutes=10), "L2-S1": timedelta(0)}
                cur.executemany(
                    "INSERT INTO stations (station_id, name, line, timezone, last_seen, local_high_seq, "
                    "local_high_at, behind) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    [(s, f"Station {s}", STATIONS[s], TZ, seen[s], 10_000, newest[s] + ahead[s],
                      12 if s == "L1-S2" else 0)
                     for s in STATIONS])


ROWS = _rows()
START = datetime(2026, 3, 2, tzinfo=ZoneInfo(TZ))   # --from 2026-03-02, plant time
END = datetime(2026, 3, 4, tzinfo=ZoneInfo(TZ))     # --to 2026-03-04 (not included)


def _within(line: str | None = None, station: str | None = None) -> list[Row]:
    return [r for r in ROWS if START <= r.at < END and (line is None or r.line == line)
            and (station is None or r.station == station)]


def _expected(rows: list[Row]) -> dict[str, int]:
    final, auto = Counter(r.verdict for r in rows), Counter(r.auto for r in rows)
    person = [r for r in rows if r.reviewer not in (None, "system")]
    return {"parts": len(rows), "ok": final["OK"], "ng": final["NG"], "hold": final["HOLD"],
            "not_inspected": final["NOT_INSPECTED"], "auto_ok": auto["OK"], "auto_hold": auto["HOLD"],
            "overrides": sum(1 for r in person if r.auto != "HOLD" and r.verdict != r.auto),
            "hold_reviews": sum(1 for r in person if r.auto == "HOLD"),
            "hold_timed_out": sum(1 for r in rows if r.reviewer == "system" and r.auto == "HOLD"),
            "ng_to_ok": sum(1 for r in person if r.auto == "NG" and r.verdict == "OK")}


def _settings(db) -> list[str]:
    return [*db.overrides("REPORTS"), f"shifts.timezone={TZ}"]


def _table(rows: list[dict], name: str) -> list[dict]:
    return [r for r in rows if r["table"] == name]


def _check(row: dict, expected: dict[str, int]) -> None:
    got = {k: int(row[k]) for k in expected}
    assert got == expected
    parts = expected["parts"]
    assert row["final_yield_pct"] == f"{100 * expected['ok'] / parts:.2f}"
    assert row["first_pass_yield_pct"] == f"{100 * expected['auto_ok'] / parts:.2f}"
    assert int(row["rejects"]) == expected["ng"] + expected["not_inspected"]


@pytest.fixture
def seeded(plant_db):
    """The plant database with the three stations' rows; `now` per the server's clock."""
    seed(plant_db, ROWS, datetime.now(timezone.utc))
    return plant_db


def test_report_figures_csv_and_pdf_match_the_parts_written(tmp_path, seeded, capsys):
    out_csv, out_pdf = tmp_path / "plant.csv", tmp_path / "plant.pdf"
    code = run_report_command(tmp_path / "office", _settings(seeded), start="2026-03-02", end="2026-03-04",
                              csv_path=out_csv, pdf_path=out_pdf)
    text = capsys.readouterr().out
    assert code == 0, text
    within = _within()
    assert f"Parts                      {len(within):,}" in text
    assert "2026-03-02 00:00 – 2026-03-04 00:00 Europe/Berlin" in text

    with out_csv.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    report = _table(rows, "report")[0]
    assert (report["from"], report["to"]) == ("2026-03-02T00:00:00+01:00", "2026-03-04T00:00:00+01:00")
    _check(_table(rows, "plant")[0], _expected(within))
    for row in _table(rows, "station"):
        _check(row, _expected(_within(station=row["station"])))
    assert [r["station"] for r in _table(rows, "station")] == list(STATIONS)
    for row in _table(rows, "line"):
        _check(row, _expected(_within(line=row["line"])))
    for row in _table(rows, "recipe"):
        _check(row, _expected([r for r in within if r.recipe == row["recipe"]]))
    shifts = _table(rows, "shift")
    keys = Counter((r.station, r.shift, r.shift_start.astimezone(ZoneInfo(TZ)).isoformat()) for r in within)
    assert {(s["station"], s["shift"], s["from"]): int(s["parts"]) for s in shifts} == dict(keys)
    assert len(shifts) == 3 * 7  # per station: the night begun on 03-01, then three shifts a day for two days

    kinds = Counter(r.kind for r in within if r.kind)
    pareto = _table(rows, "pareto")
    assert {p["defect"]: int(p["parts"]) for p in pareto} == dict(kinds)
    assert [int(p["parts"]) for p in pareto] == sorted(kinds.values(), reverse=True)
    assert pareto[-1]["cumulative_pct"] == "100.00"
    assert {"scratch", "dent", "crack", "contamination", "not classified", "not inspected"} == set(kinds)

    pairs = Counter((r.auto, r.verdict) for r in within
                    if r.reviewer not in (None, "system") and r.auto != "HOLD" and r.verdict != r.auto)
    assert {(o["auto_verdict"], o["verdict"]): int(o["parts"]) for o in _table(rows, "override")} == dict(pairs)

    models = {m["model_sha256"]: m for m in _table(rows, "model")}
    assert set(models) == {MODEL_A, MODEL_A2, MODEL_B, ""}
    for sha, m in models.items():
        mine = [r for r in within if (r.model or "") == sha]
        _check(m, _expected(mine))
        if sha:
            mean = sum(r.score for r in mine) / len(mine)
            assert abs(float(m["mean_score"]) - mean) < 1e-3
            assert m["auto_hold_pct"] == f"{100 * sum(r.auto == 'HOLD' for r in mine) / len(mine):.2f}"
    assert models[MODEL_A]["station"] == "L1-S1 L1-S2" and models[MODEL_B]["station"] == "L2-S1"

    fresh = {f["station"]: f for f in _table(rows, "freshness")}
    assert fresh["L1-S2"]["behind"] == "12" and fresh["L2-S1"]["last_part_at"].startswith("2026-03-04T03:5")
    assert "L1-S2: 12 of its parts" not in text  # the window ends before its newest part in the plant
    assert "L2-S1: not heard from" not in text

    pdf = pdfium.PdfDocument(str(out_pdf))
    try:
        pages = ["".join(pdf[i].get_textpage().get_text_range().split()) for i in range(len(pdf))]
        size = pdf[0].get_size()
    finally:
        pdf.close()
    whole = "".join(pages)
    assert abs(size[0] - 595.3) < 1 and abs(size[1] - 841.9) < 1   # A4
    assert "Plantreport—alllines,allstations2026-03-0200:00–2026-03-0400:00Europe/Berlin" in pages[0]
    for words in ("Bystation", "Byline", "Rejectsbydefecttype(Pareto)", "Byrecipe", "Overrides", "Modelhealth",
                  "Replicationfreshness", "Byshift", f"{len(within):,}", "L2-S1", "contamination"):
        assert words in whole, words
    assert all(f"page{i + 1}of{len(pages)}" in page for i, page in enumerate(pages))


def test_a_line_or_a_station_alone_and_what_is_missing_is_named(tmp_path, seeded, capsys):
    code = run_report_command(tmp_path / "office", _settings(seeded), start="2026-03-03 06:00",
                              end="2026-03-05", line="L1", csv_path=tmp_path / "l1.csv")
    text = capsys.readouterr().out
    assert code == 0, text
    with (tmp_path / "l1.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    tz = ZoneInfo(TZ)
    mine = [r for r in ROWS
            if r.line == "L1" and datetime(2026, 3, 3, 6, tzinfo=tz) <= r.at < datetime(2026, 3, 5, tzinfo=tz)]
    _check(_table(rows, "plant")[0], _expected(mine))
    assert {r["station"] for r in _table(rows, "station")} == {"L1-S1", "L1-S2"}
    assert "line L1" in text
    # The window runs past L1-S2's newest part in the plant, and it reported 12 parts (ten minutes) not yet sent.
    assert "L1-S2: 12 of its parts, up to 2026-03-04 04:" in text and "were not yet in the plant database" in text
    assert "L1-S1:" not in text.split("Note:", 1)[-1]   # running and up to date: nothing to say

    code = run_report_command(tmp_path / "office", _settings(seeded), start="2026-03-03", end="2026-03-05",
                              station="L2-S1")
    text = capsys.readouterr().out
    assert code == 0 and "station L2-S1" in text
    parts = len([r for r in ROWS if r.station == "L2-S1" and r.at >= datetime(2026, 3, 3, tzinfo=tz)])
    assert f"Parts                      {parts:,}" in text
    assert "L2-S1: not heard from since" in text


def test_wrong_requests_are_refused_in_one_message(tmp_path, seeded, capsys):
    office = tmp_path / "office"
    for kwargs, words in (
            ({"start": "2026-03-02", "end": "2027-03-04"}, "longer than a year"),
            ({"start": "2026-03-04", "end": "2026-03-02"}, "is not after --from"),
            ({"start": "yesterday", "end": "2026-03-02"}, "'yesterday' is not a date"),
            ({"start": "2026-03-02", "end": "2026-03-04", "station": "L9-S9"}, "no station 'L9-S9'")):
        assert run_report_command(office, _settings(seeded), **kwargs) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
    assert "L1-S1, L1-S2, L2-S1" in err  # the stations it does know


def test_the_report_reads_only_the_windows_partitions(seeded):
    with connect(seeded.plant_config("REPORTS")) as conn:
        plan = explain_report(conn, START, END)
    assert "parts_2026_03" in plan
    assert "parts_2026_02" not in plan and "parts_2026_04" not in plan and "parts_default" not in plan


def test_no_plant_configured_or_a_server_away_is_one_plain_message_and_exit_2(tmp_path, seeded):
    office = tmp_path / "office"
    run = [sys.executable, "-m", "hmi", "plant", "report", "--data-dir", str(office), "--from", "2026-03-02",
           "--to", "2026-03-03"]
    none = subprocess.run(run, capture_output=True, text=True, timeout=120, env=ENV)
    assert none.returncode == 2 and "no plant database is configured" in none.stderr, none.stderr
    assert none.stderr.count("\n") == 1 and none.stdout == ""

    closed = seeded.url.replace(f":{seeded.server.port}/", ":9/")   # nothing listens on the discard port
    away = subprocess.run([*run, "--set", f"plant.database={closed}", "--set", "plant.station_id=REPORTS"],
                          capture_output=True, text=True, timeout=120, env={**ENV, **seeded.env})
    assert away.returncode == 2 and "is not answering" in away.stderr, away.stderr
    assert away.stderr.count("\n") == 1 and seeded.password not in away.stderr + away.stdout
