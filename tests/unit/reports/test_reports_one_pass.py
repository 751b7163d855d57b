"""The one-pass report against plain SQL, its stable bins and first-shift baseline, and the low-priority report thread."""

from __future__ import annotations

import os
import threading
from datetime import timedelta

import numpy as np
import pytest

from hmi.config.schema import ShiftsConfig
from hmi.services.reports.background import REPORT_NICE, ReportWorker
from hmi.services.reports.connection import open_reports
from hmi.services.reports.drift import binned
from hmi.services.reports.shifts import ShiftCalendar
from hmi.services.reports.summary import HISTOGRAM_BINS, build_report
from tests.unit.reports.conftest import SHA_A, T0, part, write

CAL = ShiftCalendar(ShiftsConfig())
LATER = T0 + timedelta(days=2)
SHA_B = "b" * 64


def _two_models_and_a_clock_step(tmp_path):
    """Early shift: model A then model B, plus parts written late with a clock set back (out of seq order)."""
    rng = np.random.default_rng(7)
    rows, seq = [], 0
    for i in range(600):
        seq += 1
        at = T0 + timedelta(seconds=20 * i + 3)
        sha = SHA_A if i < 300 else SHA_B
        score = float(rng.normal(0.2 if sha == SHA_A else 0.3, 0.05))
        auto = "NG" if score > 0.32 else "OK"
        final = "OK" if auto == "NG" and i % 7 == 0 else auto
        rows.append(part(seq, at, auto, final, score, by="anna" if final != auto else None,
                         defect="dent" if auto == "NG" and i % 3 == 0 else None, sha=sha))
    for i in range(30):  # the next shift's parts, then parts stamped back inside the Early shift
        seq += 1
        rows.append(part(seq, T0 + timedelta(hours=8, seconds=10 * i + 1), "OK", score=0.2))
    for i in range(20):
        seq += 1
        rows.append(part(seq, T0 + timedelta(hours=7, minutes=59, seconds=i), "NG", score=0.9, sha=SHA_B))
    regions = [(r[0], 0, "scratch") for r in rows if r[9] == "NG" and r[13] is None]
    return write(tmp_path / "data", rows, regions), rows


def test_one_pass_matches_plain_sql_per_verdict_model_bin_and_defect(tmp_path):
    data, rows = _two_models_and_a_clock_step(tmp_path)
    conn = open_reports(data)
    w = CAL.resolve("2026-03-02 Early")
    r = build_report(conn, w, now=LATER)
    inside = [row for row in rows if w.start_text <= row[1] < w.end_text]
    assert r.parts == len(inside) == 620                      # the 20 parts written late are counted
    assert r.tally.ng == sum(1 for row in inside if row[9] == "NG")
    assert sum(h.parts for h in r.hourly) == r.parts
    assert {p.defect: p.parts for p in r.pareto} == {
        "dent": sum(1 for row in inside if row[9] == "NG" and row[13] == "dent"),
        "scratch": sum(1 for row in inside if row[9] == "NG" and row[13] is None)}
    assert [o.user for o in r.operators] == ["anna"]
    assert r.operators[0].to_ok == sum(1 for row in inside if row[8] == "NG" and row[9] == "OK")
    for dist, health in zip(r.distributions, r.models):
        mine = [row for row in inside if row[5] == dist.model_sha256]
        assert health.parts == len(mine)
        assert health.ng_to_ok == sum(1 for row in mine if row[8] == "NG" and row[9] == "OK")
        good = binned([row[7] for row in mine if row[9] == "OK"], dist.edges).counts
        rejected = binned([row[7] for row in mine if row[9] == "NG"], dist.edges).counts
        assert np.abs(np.subtract(dist.good, good)).sum() <= 2   # a score exactly on an edge may land either side
        assert sum(dist.good) == sum(good) and sum(dist.rejected) == sum(rejected)
        assert len(dist.good) == HISTOGRAM_BINS
    conn.close()


def test_a_models_bins_are_the_same_every_shift_and_its_first_shift_is_the_drift_baseline(tmp_path):
    rng = np.random.default_rng(3)
    rows, seq = [], 0
    for day, shift, mean in ((0, 0, 0.2), (0, 8, 0.2), (1, 0, 0.35)):  # Early, Late, next day's Early moved up
        for i in range(400):
            seq += 1
            at = T0 + timedelta(days=day, hours=shift, seconds=60 * i + 1)
            rows.append(part(seq, at, "OK", score=float(rng.normal(mean, 0.03))))
    data = write(tmp_path / "data", rows)
    conn = open_reports(data)
    first = build_report(conn, CAL.resolve("2026-03-02 Early"), calendar=CAL, now=LATER)
    same = build_report(conn, CAL.resolve("2026-03-02 Late"), calendar=CAL, now=LATER)
    moved = build_report(conn, CAL.resolve("2026-03-03 Early"), calendar=CAL, now=LATER)
    assert first.distributions[0].edges == same.distributions[0].edges == moved.distributions[0].edges
    assert first.models[0].drift is None and "This is that shift" in " ".join(first.notes)
    assert same.models[0].drift.state == "stable" and same.models[0].drift.baseline_n == 400
    assert moved.models[0].drift.state == "drifted" and moved.models[0].drift.median_shift > 0.1
    again = build_report(conn, CAL.resolve("2026-03-03 Early"), calendar=CAL, now=LATER)  # baseline from memory
    assert again.models[0].drift == moved.models[0].drift
    conn.close()


def test_reports_are_built_on_a_thread_of_the_lowest_priority_and_only_it_is_lowered():
    def where() -> tuple[str, int, int | None]:
        tid = threading.get_native_id()
        policy = os.sched_getscheduler(0) if hasattr(os, "sched_getscheduler") else None
        return threading.current_thread().name, os.getpriority(os.PRIO_PROCESS, tid), policy

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    with ReportWorker() as reports:
        name, nice, policy = reports.submit(where).result(timeout=10)
        assert name.startswith("reports") and nice == REPORT_NICE
        if hasattr(os, "SCHED_IDLE"):
            assert policy == os.SCHED_IDLE
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine   # the caller keeps its priority
        assert "nice 19" in reports.applied_priority()
    assert not reports.alive   # its owner stopped it: no report thread is left behind


@pytest.mark.parametrize("shift", ["2026-03-02 Night"])
def test_a_shift_without_parts_is_an_empty_report(tmp_path, shift):
    data, _ = _two_models_and_a_clock_step(tmp_path)
    conn = open_reports(data)
    r = build_report(conn, CAL.resolve(shift), now=LATER)
    assert r.parts == 0 and r.distributions == () and r.pareto == () and sum(h.parts for h in r.hourly) == 0
    conn.close()
