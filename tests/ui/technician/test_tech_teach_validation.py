"""The teach screen's validation figures say which backbone the model judges with, and teach's INT8 check."""

from __future__ import annotations

import numpy as np

from hmi.inference.teach_int8 import compare
from hmi.ui.screens.teach import Validation

SCORES = list(np.random.default_rng(0).gumbel(10.0, 0.4, 48))


def validation(**kw) -> Validation:
    return Validation("disc", "ab" * 32, SCORES, 12.0, 0.5, 0.0, 48, 48, 1000, 3.0, **kw)


def test_a_model_kept_in_int8_says_so_with_its_check() -> None:
    text = validation(backbone="int8", int8_check=compare(np.array(SCORES) * 1.2, np.array(SCORES), 45)).figures()
    assert "memory bank 1000 features; INT8 backbone; 3.0 s" in text
    assert "INT8 keeps the accuracy on the 48 held-out good parts" in text


def test_int8_refused_at_teach_shows_why_the_model_is_float() -> None:
    text = validation(backbone="float", int8_check=compare(np.array(SCORES[:20]), np.array(SCORES[:20]), 45)).figures()
    assert "INT8 backbone" not in text
    assert ("INT8 was asked for but taught with the float backbone: only 20 good parts could be held back, and "
            "showing that INT8 keeps the accuracy needs 45.") in text


def test_a_float_model_taught_without_asking_for_int8_says_nothing_of_it() -> None:
    assert "INT8" not in validation().figures()


def test_the_model_list_marks_a_model_that_judges_with_int8(tmp_path) -> None:
    from hmi.changes.setup import ModelInfo
    from hmi.ui.screens.teach import model_row_text

    def info(backbone: str) -> ModelInfo:
        return ModelInfo("disc", tmp_path, "anomaly", "ab" * 32, "scale 1", "2026-12-07T04:00:00+00:00", 60, 23.1,
                         False, backbone=backbone)

    assert model_row_text(info("int8"), "demo").splitlines()[1] == "anomaly scale 1 · INT8"
    assert model_row_text(info("float"), "demo").splitlines()[1] == "anomaly scale 1"
