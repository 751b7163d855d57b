"""Recipes from the screen on a running line: edit, copy, create, changeover (the next part carries the recipe)."""

from __future__ import annotations

import json

from hmi.store.audit import AuditAction
from hmi.ui.screens.recipes import RecipesScreen
from hmi.ui.touch import undersized
from tests.support.stations import PIN
from tests.ui.technician.conftest import show_screen
from tests.ui.technician.teach_recipes_station import (  # noqa: F401 - tech_station is a fixture
    audit_entries, part_row, tap, tech_station)


def _saved(qtbot, screen, text: str) -> None:
    qtbot.waitUntil(lambda: screen.feedback.text().startswith(("✔", "✖")), timeout=15000)
    assert screen.feedback.text().startswith("✔") and text in screen.feedback.text(), screen.feedback.text()


def test_edit_copy_create_and_change_over_from_the_screen(qtbot, tech_station, screen_context):
    station = tech_station()
    station.start()
    ctx = screen_context(station, "theo")
    screen = RecipesScreen(ctx)
    show_screen(qtbot, screen)
    qtbot.waitUntil(lambda: {"tech-a", "tech-b"} <= set(screen.recipe_buttons), timeout=10000)
    assert "IN FORCE" in screen.recipe_buttons["tech-a"].text()
    assert "IN FORCE" not in screen.recipe_buttons["tech-b"].text()
    assert screen.name.text() == "tech-a" and "version 1" in screen.thresholds.text()
    assert not undersized(screen, ctx.touch), undersized(screen, ctx.touch)
    changes = station.changes

    # Edit: a reason is needed; the file changes and the audit trail has old and new with the reason.
    tap(qtbot, screen.recipe_buttons["tech-b"])
    assert screen.name.text() == "tech-b" and screen.exposure.text() == "6500"
    screen.description.setText("second product, new supplier")
    screen.hold_timeout.setText("120")
    assert (screen.target_reject.text(), screen.target_hold.text(), screen.escape_cost.text()) == ("1", "5", "20")
    screen.target_reject.setText("0.5")    # the default thresholds' targets that teaching takes from the recipe
    screen.escape_cost.setText("50")
    assert screen.backbone_float.isChecked() and not screen.backbone_int8.isChecked()
    tap(qtbot, screen.backbone_int8)  # the product's models are taught with the INT8 backbone from now on
    tap(qtbot, screen.save_button)
    assert "reason" in screen.feedback.text()
    screen.reason.setText("supplier change")
    tap(qtbot, screen.save_button)
    _saved(qtbot, screen, "Recipe tech-b saved")
    edited = changes.load("tech-b")
    assert edited.description == "second product, new supplier" and edited.hold.timeout_s == 120
    assert (edited.targets.false_reject, edited.targets.hold_share, edited.targets.escape_cost) == (0.005, 0.05, 50.0)
    assert edited.teach.backbone == "int8"
    qtbot.waitUntil(lambda: len(audit_entries(station, AuditAction.RECIPE_CHANGE.value)) == 1, timeout=5000)
    entry = audit_entries(station, AuditAction.RECIPE_CHANGE.value)[0]
    assert (entry["user"], entry["subject"], entry["reason"]) == ("theo", "recipe tech-b", "supplier change")
    assert json.loads(entry["old_value"])["hold"]["timeout_s"] == 300

    # Copy: a new name; the copy starts with threshold version 1 and no PLC number.
    qtbot.waitUntil(lambda: screen.copy_button.isEnabled(), timeout=5000)
    tap(qtbot, screen.copy_button)
    assert screen.form_title.text() == "Copy of tech-b" and not screen.name.isReadOnly()
    screen.name.setText("tech-c")
    screen.reason.setText("third variant")
    tap(qtbot, screen.save_button)
    _saved(qtbot, screen, "Recipe tech-c saved")
    copy = changes.load("tech-c")
    assert copy.description == "copy of tech-b" and copy.plc_recipe_number == 0
    assert copy.thresholds.version == 1 and copy.exposure_us == 6500 and copy.hold.timeout_s == 120
    assert copy.teach.backbone == "int8" and screen.backbone_int8.isChecked()
    qtbot.waitUntil(lambda: "tech-c" in screen.recipe_buttons, timeout=5000)

    # New: named, a model picked; it takes the model's taught thresholds.
    tap(qtbot, screen.new_button)
    assert screen.model.isEnabled() and screen.model.currentText() == "tiny"
    screen.name.setText("tech-new")
    screen.description.setText("new product")
    screen.plc_number.setText("7")
    screen.reason.setText("new product line")
    tap(qtbot, screen.save_button)
    _saved(qtbot, screen, "Recipe tech-new saved")
    new = changes.load("tech-new")
    assert (new.model.name, new.plc_recipe_number, new.thresholds.score, new.thresholds.hold_below) == \
        ("tiny", 7, 0.3, 0.05)
    assert new.model.sha256 == next(m.sha256 for m in changes.models() if m.name == "tiny")
    # A name that exists is refused in plain words.
    tap(qtbot, screen.new_button)
    screen.name.setText("tech-a")
    screen.reason.setText("oops")
    tap(qtbot, screen.save_button)
    qtbot.waitUntil(lambda: screen.feedback.text().startswith("✖"), timeout=10000)
    assert "exists already" in screen.feedback.text()

    # Changeover from the screen: the next part carries the new recipe, the camera its exposure.
    qtbot.waitUntil(lambda: "tech-b" in screen.recipe_buttons, timeout=5000)
    tap(qtbot, screen.recipe_buttons["tech-b"])
    screen.reason.setText("order 4711 starts")
    tap(qtbot, screen.changeover_button)
    # The setup screen's policy: a changeover is signed (reason and PIN) before anything changes.
    assert screen.right.currentWidget() is screen.signature and station.recipe.name == "tech-a"
    for digit in "9999":
        tap(qtbot, screen.signature.keys[digit])
    tap(qtbot, screen.signature.sign)
    qtbot.waitUntil(lambda: screen.signature.feedback.text().startswith("✖"), timeout=10000)
    assert station.recipe.name == "tech-a"                     # a wrong PIN changes nothing
    for digit in PIN["theo"]:
        tap(qtbot, screen.signature.keys[digit])
    tap(qtbot, screen.signature.sign)
    _saved(qtbot, screen, "Changed over to recipe tech-b")
    assert station.recipe.name == "tech-b"
    qtbot.waitUntil(lambda: (station.newest.peek()[1] or station).recipe == "tech-b", timeout=10000)
    part = station.newest.peek()[1]
    qtbot.waitUntil(lambda: part_row(station, part.seq) is not None, timeout=10000)
    assert part_row(station, part.seq)["recipe"] == "tech-b"
    assert abs(changes.camera_settings().exposure_us - 6500) < 1  # read back from the emulator's node
    def changeovers() -> list:
        return [e for e in audit_entries(station, AuditAction.RECIPE_CHANGE.value)
                if e["subject"] == "changeover to tech-b"]

    qtbot.waitUntil(lambda: len(changeovers()) > 0, timeout=10000)  # the store thread writes it
    over = changeovers()
    assert len(over) == 1 and over[0]["user"] == "theo" and over[0]["reason"] == "order 4711 starts"
    screen.on_tick()
    qtbot.waitUntil(lambda: "IN FORCE" in screen.recipe_buttons["tech-b"].text(), timeout=5000)
    assert not screen.changeover_button.isEnabled()  # already in force


def test_bad_values_and_roles_are_refused_in_plain_words(qtbot, tech_station, screen_context):
    station = tech_station()
    ctx = screen_context(station, "theo")
    screen = RecipesScreen(ctx)
    show_screen(qtbot, screen)
    qtbot.waitUntil(lambda: "tech-b" in screen.recipe_buttons, timeout=10000)
    tap(qtbot, screen.recipe_buttons["tech-b"])
    screen.reason.setText("test")
    screen.defect_types.setText(" , ")
    tap(qtbot, screen.save_button)
    assert "no defect types" in screen.feedback.text()
    screen.defect_types.setText("scratch, scratch")
    tap(qtbot, screen.save_button)
    assert "defect_types has a name twice" in screen.feedback.text()
    assert station.changes.load("tech-b").defect_types != ["scratch", "scratch"]

    operator = screen_context(station, "olga")
    other = RecipesScreen(operator)
    show_screen(qtbot, other)
    qtbot.waitUntil(lambda: "tech-b" in other.recipe_buttons, timeout=10000)
    tap(qtbot, other.recipe_buttons["tech-b"])
    other.reason.setText("want to")
    tap(qtbot, other.changeover_button)
    assert "✖" in other.feedback.text() and "technician" in other.feedback.text()
    assert station.recipe.name == "tech-a"
