"""Recent scores from a real records file, and the predicted consequences of a proposed threshold set."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import numpy as np
import pytest

from hmi.services.tuning.score_history import (CODE_VERDICT, Judgement, LoggedPart, ScoreHistory, load_history,
                                       verdicts_under)
from hmi.core.errors import StoreError
from hmi.core.part import DefectRegion, Inspection
from hmi.core.verdict import Verdict
from hmi.decision.policy import ThresholdSet, decide
from tests.unit.changes.thresholds_records import Row, write_records

IN_FORCE = ThresholdSet(1, 0.30, 0.05, 0.05)


def part(seq: int, score: float, auto: Verdict, final: Verdict | None = None, reviewer: str | None = None,
         largest: int = 0) -> LoggedPart:
    return LoggedPart(seq, score, auto, final or auto, reviewer, largest, 1, None)


def test_vectorised_verdicts_match_the_decision_policy_part_by_part():
    rng = np.random.default_rng(7)
    scores = rng.uniform(0.0, 0.8, 500)
    scores[:6] = [0.25, 0.35, 0.30, 0.2499999, 0.3500001, 0.0]  # the band's edges themselves
    largest = rng.integers(0, 400, 500)
    for t in (IN_FORCE, ThresholdSet(2, 0.42, 0.0, 0.1, 150), ThresholdSet(3, 0.2, 0.1, 0.0, 0)):
        codes = verdicts_under(scores, largest, t)
        for s, a, code in zip(scores, largest, codes):
            regions = (DefectRegion(0, 0, 1, 1, int(a), 0.5),) if a else ()
            expected, _ = decide(Inspection(float(s), regions, "cpu", "m", "", 1.0), t)
            assert CODE_VERDICT[code] is expected, (s, a, t)


def test_false_rejects_and_escapes_are_counted_against_the_operators_verdicts():
    history = ScoreHistory([
        part(1, 0.10, Verdict.OK),                                   # not reviewed, passes
        part(2, 0.28, Verdict.HOLD, Verdict.OK, "olga"),             # judged good
        part(3, 0.33, Verdict.HOLD, Verdict.OK, "olga"),             # judged good
        part(4, 0.31, Verdict.HOLD, Verdict.NG, "olga"),             # judged defect
        part(5, 0.60, Verdict.NG),                                   # auto NG, nobody overrode: defective
        part(6, 0.45, Verdict.NG, Verdict.OK, "olga"),               # override: judged good
        part(7, 0.27, Verdict.HOLD, Verdict.NG, "system"),           # timed out: no person's judgement
    ])
    assert history.scores_of(Judgement.GOOD).tolist() == [0.28, 0.33, 0.45]
    assert history.scores_of(Judgement.DEFECT).tolist() == [0.31]
    now = history.predict(IN_FORCE)
    assert (now.ok, now.hold, now.ng) == (1, 4, 2)
    assert (now.judged_good, now.false_rejects, now.good_held) == (3, 1, 2)   # part 6 rejected, 2 and 3 held
    assert (now.known_defective, now.escapes) == (2, 0)                        # parts 4 and 5
    assert now.false_reject_rate == pytest.approx(1 / 3)
    assert now.escape_rate == 0.0

    looser = ThresholdSet(2, 0.50, 0.0, 0.0)     # everything under 0.5 passes
    cmp = history.compare(looser, IN_FORCE)
    assert (cmp.proposed.ok, cmp.proposed.hold, cmp.proposed.ng) == (6, 0, 1)
    assert cmp.proposed.false_rejects == 0 and cmp.proposed.escapes == 1     # part 4 would pass
    assert cmp.proposed.escape_rate == 0.5
    assert cmp.change("ng") == -1 and cmp.change("hold") == -4 and cmp.change("escapes") == 1


def test_rates_are_none_without_judged_parts():
    result = ScoreHistory([part(1, 0.1, Verdict.OK)]).predict(IN_FORCE)
    assert result.false_reject_rate is None and result.escape_rate is None
    assert result.share(Verdict.OK) == 1.0
    assert ScoreHistory([]).predict(IN_FORCE).share(Verdict.NG) is None


def test_history_is_read_from_the_records_file_newest_first_for_one_recipe_and_model(tmp_path):
    db = tmp_path / "hmi.db"
    write_records(db, [
        Row(0.10, "OK"), Row(0.29, "HOLD", "OK", "olga"), Row(0.5, "NG", largest_px=300),
        Row(0.0, "NOT_INSPECTED"), Row(0.2, "OK", recipe="r2"), Row(0.2, "OK", sha="cd" * 32),
        Row(0.31, "HOLD", "NG", "system", image="images/x.png"),
    ])
    history = load_history(db, "r1", model_sha256="ab" * 32)
    assert [p.seq for p in history.parts] == [7, 3, 2, 1]
    assert history.not_inspected == 1
    newest = history.parts[0]
    assert newest.judgement is Judgement.NOT_REVIEWED and newest.image_path == "images/x.png"
    assert history.parts[1].largest_region_px == 300 and history.parts[1].auto_verdict is Verdict.NG
    assert history.parts[2].judgement is Judgement.GOOD and history.parts[2].reviewed_by == "olga"
    assert len(load_history(db, "r1")) == 5                       # any model
    assert [p.seq for p in load_history(db, "r1", limit=2).parts] == [7, 6]


def test_reading_the_history_never_writes_to_the_records(tmp_path):
    db = tmp_path / "hmi.db"
    write_records(db, [Row(0.1 * i, "OK") for i in range(5)])
    before = db.read_bytes()
    load_history(db, "r1")
    assert db.read_bytes() == before
    with pytest.raises(StoreError, match="no records database") as info:
        load_history(tmp_path / "missing.db", "r1")
    assert info.value.todo
    assert not (tmp_path / "missing.db").exists()


def test_a_defect_found_downstream_is_a_defect_whatever_its_verdict():
    found = [part(1, 0.12, Verdict.OK), part(2, 0.28, Verdict.HOLD, Verdict.OK, "olga"),
             part(3, 0.27, Verdict.HOLD, Verdict.OK, "system")]
    history = ScoreHistory([replace(p, downstream_defect=True) for p in found] + [
        part(4, 0.29, Verdict.HOLD, Verdict.OK, "olga"),      # a person's OK on a HOLD: good
        part(5, 0.45, Verdict.NG, Verdict.OK, "olga"),        # an overruled NG: good
        part(6, 0.31, Verdict.HOLD, Verdict.NG, "olga"),      # a person's NG on a HOLD: defect
        part(7, 0.60, Verdict.NG, Verdict.NG, "quinn"),       # a confirmed NG: defect
        part(8, 0.27, Verdict.HOLD, Verdict.OK, "system")])   # the station's timeout: nobody's judgement
    assert [p.judgement for p in history.parts] == [Judgement.DEFECT] * 3 + [
        Judgement.GOOD, Judgement.GOOD, Judgement.DEFECT, Judgement.DEFECT, Judgement.NOT_REVIEWED]
    assert history.downstream.tolist() == [True] * 3 + [False] * 5
    now = history.predict(IN_FORCE)
    assert (now.known_defective, now.escapes) == (5, 1)  # part 1 passed OK and was found downstream


def test_the_history_reads_which_parts_were_found_defective_downstream(tmp_path):
    db = tmp_path / "hmi.db"
    write_records(db, [Row(0.10, "OK"), Row(0.29, "HOLD", "OK", "olga"), Row(0.20, "OK")])
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("INSERT INTO downstream_defects (seq, reported_at, reported_by, defect_type) "
                     "VALUES (2, '2025-03-02T10:00:00.000Z', 'quinn', 'crack')")
    conn.close()
    history = load_history(db, "r1")
    by_seq = {p.seq: p for p in history.parts}
    assert by_seq[2].downstream_defect and by_seq[2].judgement is Judgement.DEFECT
    assert not by_seq[1].downstream_defect and by_seq[1].judgement is Judgement.NOT_REVIEWED
    assert history.scores_of(Judgement.DEFECT).tolist() == [0.29]
