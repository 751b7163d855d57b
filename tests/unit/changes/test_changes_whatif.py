"""What-if: stored PNG frames re-scored by a real ONNX Runtime session and judged under a proposed set."""

from __future__ import annotations

import os
import shutil
import threading

import pytest

from hmi.services.tuning.score_history import load_history
from hmi.services.tuning.whatif import WhatIfRun, inspector_for, rescore
from hmi.config.loader import load_station, save_recipe
from hmi.config.schema import Recipe, RecipeModel, RecipeThresholds
from hmi.core.errors import StationError
from hmi.core.verdict import Verdict
from hmi.decision.policy import ThresholdSet
from tests.support.tiny_model import build_tiny_model
from tests.unit.changes.thresholds_records import Row, write_records

IN_FORCE = ThresholdSet(1, 0.30, 0.05, 0.05)
STEP = 1 / 128  # the tiny model's scores are grey steps


def auto(score: float) -> str:
    return "OK" if score < 0.25 else "HOLD" if score < 0.35 else "NG"


@pytest.fixture
def line(tmp_path, tiny_model):
    """A data folder with the tiny model, recipe r1, and 12 recorded parts with their PNG frames."""
    data = tmp_path / "data"
    shutil.copytree(tiny_model, data / "models" / "tiny")
    cfg = load_station(data, ["station.recipe=r1", "station.mode=production", "camera.kind=replay", "plc.mode=off"])
    recipe = Recipe(name="r1", model=RecipeModel(name="tiny"),
                    thresholds=RecipeThresholds(version=1, score=0.3, hold_below=0.05, hold_above=0.05))
    save_recipe(data, recipe)
    scores = [k * STEP for k in (5, 20, 30, 34, 36, 38, 40, 42, 44, 46, 60, 70)]
    rows = [Row(s, auto(s), "OK" if i in (3, 5) else ("NG" if i == 7 else None),
                "olga" if i in (3, 5, 7) else None, image=f"images/2025-03-01/{i + 1:012d}_{auto(s)}.png")
            for i, s in enumerate(scores)]
    write_records(data / "hmi.db", rows, data_dir=data)
    return cfg, data, recipe, load_history(data / "hmi.db", "r1")


def test_the_model_in_force_reproduces_the_recorded_scores_and_verdicts(line):
    cfg, data, recipe, history = line
    inspector = inspector_for(cfg, data, recipe)
    result = rescore(history, inspector, data, IN_FORCE, in_force=IN_FORCE)
    assert len(result.parts) == 12 and not result.skipped and not result.cancelled
    for p in result.parts:
        assert p.new_score == pytest.approx(p.old_score, abs=1e-6)
        assert p.new_verdict is p.old_verdict
    assert result.changed == 0
    assert "0 verdicts would change" in result.summary()


def test_a_proposed_set_changes_the_verdicts_it_should(line):
    cfg, data, recipe, history = line
    proposal = ThresholdSet(2, 0.33, 0.0, 0.0)   # no HOLD band: 0.33 and up is NG
    result = rescore(history, inspector_for(cfg, data, recipe), data, proposal, in_force=IN_FORCE)
    expected = {p.seq: (Verdict.OK if p.score < 0.33 else Verdict.NG) for p in history.parts}
    assert {p.seq: p.new_verdict for p in result.parts} == expected
    changed = sum(1 for p in history.parts if expected[p.seq] is not p.auto_verdict)
    assert result.changed == changed > 0
    assert sum(result.moves.values()) == 12
    # the what-if's own consequences agree with the prediction from the logged scores
    assert result.comparison.proposed == history.predict(proposal)
    assert result.comparison.in_force == history.predict(IN_FORCE)


def test_a_proposed_model_is_loaded_from_a_recipe_copy(line, tmp_path):
    cfg, data, recipe, history = line
    build_tiny_model(data / "models" / "tiny-b", name="tiny-b", size=32)
    result = rescore(history, inspector_for(cfg, data, recipe, "tiny-b"), data, IN_FORCE)
    assert result.model_name == "tiny-b"
    assert len(result.parts) == 12
    # its coarser cells see the spot diluted: the proposed model, not the one in force, gave these scores
    assert all(p.new_score <= p.old_score + 1e-6 for p in result.parts)
    assert any(p.new_score < p.old_score - 0.05 for p in result.parts)


def test_only_the_last_n_images_and_cancel_keeps_what_was_done(line):
    cfg, data, recipe, history = line
    inspector = inspector_for(cfg, data, recipe)
    newest = rescore(history, inspector, data, IN_FORCE, limit=4)
    assert [p.seq for p in newest.parts] == [12, 11, 10, 9]

    stop = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 3:
            stop.set()

    result = rescore(history, inspector, data, IN_FORCE, progress=progress, cancel=stop)
    assert result.cancelled and len(result.parts) == 3
    assert seen == [(1, 12), (2, 12), (3, 12)]
    assert "stopped early" in result.summary()


def test_a_missing_image_is_skipped_in_plain_words(line):
    cfg, data, recipe, history = line
    (data / history.parts[0].image_path).unlink()
    result = rescore(history, inspector_for(cfg, data, recipe), data, IN_FORCE)
    assert len(result.parts) == 11
    assert len(result.skipped) == 1 and "does not exist" in result.skipped[0]
    assert "1 image could not be read" in result.summary()


def test_a_run_works_on_its_own_lower_priority_thread(line):
    cfg, data, recipe, history = line
    niceness: list[int] = []
    outcome: list[object] = []
    run = WhatIfRun(cfg, data, recipe, history, IN_FORCE, in_force=IN_FORCE,
                    progress=lambda d, t: niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())),
                    done=outcome.append, failed=outcome.append).start()
    assert run.wait(30)
    assert outcome == [run.result] and len(run.result.parts) == 12
    assert min(niceness) > os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_a_run_without_stored_images_says_so(line, tmp_path):
    cfg, data, recipe, _ = line
    write_records(tmp_path / "other.db", [Row(0.1, "OK")])
    failures: list[BaseException] = []
    run = WhatIfRun(cfg, data, recipe, load_history(tmp_path / "other.db", "r1"), IN_FORCE, failed=failures.append)
    assert run.start().wait(10)
    assert isinstance(failures[0], StationError) and "no stored images" in failures[0].what
