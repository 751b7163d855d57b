"""The on-screen keyboard on the technician screens, by taps only: a recipe named on the text keys is created with
the PLC number typed on the number keys; the teach count typed there is the count the teach run collects."""

from __future__ import annotations

from hmi.ui.keyboard import ScreenKeyboard
from hmi.ui.screens.recipes import RecipesScreen
from hmi.ui.screens.teach import TeachScreen
from tests.ui.keyboard_taps import open_keys, tap, type_on
from tests.ui.technician.conftest import show_screen
from tests.ui.technician.teach_recipes_station import TEACH_SIZE, tech_station  # noqa: F401 - a fixture


def test_keyboard_names_a_recipe_and_sets_a_teach_count(qtbot, tech_station, screen_context):
    station = tech_station()
    station.start()
    ctx = screen_context(station, "theo")

    # A new recipe named on the text keys, with a preset-free reason typed there too.
    recipes = show_screen(qtbot, RecipesScreen(ctx), (1280, 640))
    keyboard = ScreenKeyboard(ctx.touch, recipes)
    keyboard.install()
    try:
        qtbot.waitUntil(lambda: "tech-a" in recipes.recipe_buttons, timeout=10000)
        tap(qtbot, recipes.new_button)
        open_keys(qtbot, keyboard, recipes.name, "text")
        type_on(qtbot, keyboard, "tech-osk_2")
        open_keys(qtbot, keyboard, recipes.plc_number, "numeric")
        type_on(qtbot, keyboard, "7")
        open_keys(qtbot, keyboard, recipes.reason, "text")
        type_on(qtbot, keyboard, "New product")
        tap(qtbot, recipes.save_button)
        qtbot.waitUntil(lambda: recipes.feedback.text().startswith(("✔", "✖")), timeout=15000)
        assert "tech-osk_2" in recipes.feedback.text() and recipes.feedback.text().startswith("✔")
        made = station.changes.load("tech-osk_2")
        assert made.plc_recipe_number == 7
    finally:
        keyboard.remove()

    # The teach count on the number keys; the run collects that many parts (cancelled at once).
    teach = show_screen(qtbot, TeachScreen(ctx, input_sizes=(TEACH_SIZE,)), (1280, 640))
    keyboard = ScreenKeyboard(ctx.touch, teach)
    keyboard.install()
    try:
        open_keys(qtbot, keyboard, teach.parts, "numeric")
        type_on(qtbot, keyboard, "40")
        assert teach.parts.text() == "40"
        open_keys(qtbot, keyboard, teach.name, "text")
        for _ in teach.name.text():  # the suggested name goes, key by key
            tap(qtbot, keyboard.keyboard.keys["backspace"])
        type_on(qtbot, keyboard, "osk-model")
        tap(qtbot, teach.start_button)
        assert teach.running and (teach.job.name, teach.job.parts) == ("osk-model", 40)
        tap(qtbot, teach.cancel_button)
        qtbot.waitUntil(lambda: not teach.running, timeout=10000)
    finally:
        keyboard.remove()
