"""Teach from the screen, end to end on a running line: cancel leaves nothing, a run completes and is checked,
activation is signed and the next part names the new model, and the previous model is put back from the list."""

from __future__ import annotations

import json
import os

import pytest

from hmi.store.audit import AuditAction
from hmi.ui.screens.teach import TeachScreen
from hmi.ui.touch import undersized
from tests.ui.technician.conftest import show_screen
from tests.ui.technician.teach_recipes_station import (  # noqa: F401 - fixtures
    TEACH_SIZE, audit_entries, part_row, tap, tech_station, type_pin, write_good_frames)


def _next_part_judged_by(qtbot, station, sha256: str, after_seq: int):
    """Wait for a part after `after_seq` judged by the model with `sha256`; return it."""
    found = {}

    def judged() -> bool:
        _, part = station.newest.peek()
        if part is not None and part.seq > after_seq and part.inspection is not None \
                and part.inspection.model_sha256 == sha256:
            found["part"] = part
            return True
        return False

    qtbot.waitUntil(judged, timeout=15000)
    return found["part"]


def _newest_seq(station) -> int:
    _, part = station.newest.peek()
    return part.seq if part is not None else 0


def test_teach_cancel_then_teach_check_activate_and_go_back(qtbot, tech_station, screen_context):
    station = tech_station()
    station.start()
    ctx = screen_context(station, "theo")
    screen = TeachScreen(ctx, input_sizes=(TEACH_SIZE,))
    show_screen(qtbot, screen)
    qtbot.waitUntil(lambda: "tiny" in screen.model_buttons, timeout=10000)
    assert "IN FORCE" in screen.model_buttons["tiny"].text()
    assert not undersized(screen, ctx.touch), undersized(screen, ctx.touch)
    data = station.data_dir

    # A run collecting many parts is cancelled while it collects: nothing is left behind.
    screen.name.setText("cancelled-model")
    screen.parts.setText("500")
    tap(qtbot, screen.start_button)
    assert screen.running and not screen.start_button.isEnabled() and screen.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: screen.bar.value() > 0, timeout=10000)
    assert "collecting" in screen.stage.text()
    tap(qtbot, screen.cancel_button)
    qtbot.waitUntil(lambda: not screen.running, timeout=10000)
    assert screen.stage.text() == "Cancelled"
    assert not (data / "models" / "cancelled-model").exists()
    assert [p.name for p in (data / "teach").iterdir()] == []
    assert [p.name for p in (data / "models").iterdir()] == ["tiny"]
    assert any("cancelled" in m.what for m in ctx.channel.history)

    # A second run completes; its validation is shown on the chart with the chosen threshold.
    screen.name.setText("teach-new")
    screen.parts.setText("12")
    tap(qtbot, screen.start_button)
    qtbot.waitUntil(lambda: not screen.running, timeout=60000)
    job = station.teaching.job
    assert screen.stage.text().startswith("Done"), (screen.stage.text(), screen.step.text())
    assert job.child_pid not in (None, os.getpid())  # built in its own process, away from the UI's GIL
    report = job.report
    assert (data / "models" / "teach-new" / "manifest.json").exists()
    assert len(list((data / "teach" / "teach-new").glob("*.png"))) == 12  # what it was taught on is kept
    v = screen.validation
    assert v is not None and v.name == "teach-new" and v.scores == report.heldout_scores
    heights = screen.chart.bars.opts["height"]
    assert int(sum(heights)) == report.heldout == len(report.heldout_scores)
    assert screen.chart.line.value() == report.threshold and screen.chart.line.isVisible()
    assert f"Taught: NG from {report.threshold:.3f}" in screen.figures.text()   # taught sets have no band above
    # 12 parts are too few for a reliable threshold: the screen says how many more, before activation too.
    assert report.more_images_needed == v.more_needed == 33
    assert "33 more good images" in screen.figures.text()
    qtbot.waitUntil(lambda: "teach-new" in screen.model_buttons, timeout=10000)
    assert "tiny" in screen.model_buttons  # the previous model stays selectable

    # Activate with a signature: reason and PIN again; the next part names the new model's hash.
    assert screen.activate_new.isEnabled()
    tap(qtbot, screen.activate_new)
    assert screen.right.currentWidget() is screen.signature
    assert "33 more good images" in screen.signature.meaning.text()
    screen.signature.reason.setText("new product batch taught from the line")
    type_pin(qtbot, screen.signature, "theo")
    before = _newest_seq(station)
    tap(qtbot, screen.signature.sign)
    qtbot.waitUntil(lambda: station.recipe.model.name == "teach-new", timeout=15000)
    qtbot.waitUntil(lambda: screen.right.currentIndex() == 0, timeout=5000)
    part = _next_part_judged_by(qtbot, station, report.sha256, before)
    qtbot.waitUntil(lambda: part_row(station, part.seq) is not None, timeout=10000)
    assert part_row(station, part.seq)["model_sha256"] == report.sha256
    assert part_row(station, part.seq)["model_name"] == "teach-new"
    qtbot.waitUntil(lambda: len(audit_entries(station, AuditAction.MODEL_ACTIVATE.value)) == 1, timeout=5000)
    entry = audit_entries(station, AuditAction.MODEL_ACTIVATE.value)[0]
    assert entry["user"] == "theo" and entry["reason"] == "new product batch taught from the line"
    assert json.loads(entry["new_value"])["sha256"] == report.sha256
    qtbot.waitUntil(lambda: "IN FORCE" in screen.model_buttons.get("teach-new", screen.start_button).text(),
                    timeout=10000)

    # The previous model is put back from the list, signed the same way.
    tap(qtbot, screen.model_buttons["tiny"])
    assert screen.activate_selected.isEnabled()
    tap(qtbot, screen.activate_selected)
    screen.signature.reason.setText("back to the previous model")
    type_pin(qtbot, screen.signature, "theo")
    tiny_sha = next(m.sha256 for m in screen.models if m.name == "tiny")
    before = _newest_seq(station)
    tap(qtbot, screen.signature.sign)
    qtbot.waitUntil(lambda: station.recipe.model.name == "tiny", timeout=15000)
    _next_part_judged_by(qtbot, station, tiny_sha, before)
    qtbot.waitUntil(lambda: len(audit_entries(station, AuditAction.MODEL_ACTIVATE.value)) == 2, timeout=5000)
    assert audit_entries(station, AuditAction.MODEL_ACTIVATE.value)[1]["reason"] == "back to the previous model"


def test_wrong_pin_is_refused_and_nothing_changes(qtbot, tech_station, screen_context, tmp_path):
    station = tech_station()
    ctx = screen_context(station, "theo")
    screen = TeachScreen(ctx, input_sizes=(TEACH_SIZE,))
    show_screen(qtbot, screen)
    qtbot.waitUntil(lambda: "tiny" in screen.model_buttons, timeout=10000)
    
    folder = tmp_path / "good"
    write_good_frames(folder, 12, first=100)
    tap(qtbot, screen.from_folder)
    assert screen.folder.isVisible() and not screen.parts.isVisible()
    screen.folder.setText(str(folder))
    screen.name.setText("from-folder")
    tap(qtbot, screen.start_button)
    qtbot.waitUntil(lambda: not screen.running, timeout=60000)
    assert screen.validation is not None and screen.validation.name == "from-folder"
    assert not (station.data_dir / "teach" / "from-folder").exists()  # a folder's images are not copied

    tap(qtbot, screen.activate_new)
    screen.signature.reason.setText("try")
    for digit in "0000":
        tap(qtbot, screen.signature.keys[digit])
    tap(qtbot, screen.signature.sign)
    qtbot.waitUntil(lambda: screen.signature.sign.isEnabled(), timeout=10000)
    assert "✖" in screen.signature.feedback.text()
    assert station.recipe.model.name == "tiny"
    assert audit_entries(station, AuditAction.MODEL_ACTIVATE.value) == []


@pytest.mark.expected_errors("does not exist or is not a folder", "a model called 'tiny' exists already")
def test_teaching_errors_are_said_in_plain_words(qtbot, tech_station, screen_context, tmp_path):
    station = tech_station()
    ctx = screen_context(station, "theo")
    screen = TeachScreen(ctx, input_sizes=(TEACH_SIZE,))
    show_screen(qtbot, screen)
    tap(qtbot, screen.from_folder)
    screen.folder.setText(str(tmp_path / "nowhere"))
    screen.name.setText("x1")
    tap(qtbot, screen.start_button)
    qtbot.waitUntil(lambda: not screen.running, timeout=10000)
    assert screen.stage.text() == "Failed"
    assert "does not exist" in ctx.channel.history[-1].what
    # A name that is taken is refused; the existing model is untouched.
    screen.folder.setText(str(tmp_path))
    screen.name.setText("tiny")
    tap(qtbot, screen.start_button)
    qtbot.waitUntil(lambda: not screen.running, timeout=10000)
    assert "exists already" in ctx.channel.history[-1].what


@pytest.mark.expected_errors("Only a technician can teach a product")
def test_an_operator_cannot_teach(qtbot, tech_station, screen_context):
    station = tech_station()
    ctx = screen_context(station, "olga")
    screen = TeachScreen(ctx, input_sizes=(TEACH_SIZE,))
    show_screen(qtbot, screen)
    tap(qtbot, screen.start_button)
    assert station.teaching.job is None
    assert "teach" in ctx.channel.history[-1].what
