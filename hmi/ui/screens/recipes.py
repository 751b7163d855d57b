"""Recipes (technicians): list, create, copy, edit and put in force product recipes; every change audited.

Everything goes through `station.changes` on the background thread. Thresholds are shown, not edited
(they change on the thresholds screen, signed, as a new version); the lighting reference is set on the
camera screen and the inspection area on the ROI screen. A new recipe takes its model's taught thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from PySide6.QtGui import QDoubleValidator, QIntValidator
from PySide6.QtWidgets import QButtonGroup, QComboBox, QGridLayout, QHBoxLayout, QLineEdit, QStackedWidget, QWidget

from hmi.config.schema import JudgingTargets, Recipe, RecipeModel, RecipeThresholds
from hmi.core.errors import ConfigError, StationError
from hmi.inference.package import ModelPackage
from hmi.store.users import Permission
from hmi.ui import theme
from hmi.ui.context import ScreenContext
from hmi.ui.signature import SignaturePanel
from hmi.ui.touch import button
from hmi.ui.widgets import ChoiceList, label, panel, scrolling

MODE_TITLES = {"edit": "Recipe {name}", "new": "New recipe", "copy": "Copy of {name}"}
CHANGEOVER_REASONS = ("New order", "Product change", "Shift plan")  # quick starts; the reason can be typed on


@dataclass(frozen=True)
class RecipeEntry:
    """A recipe file as the list shows it: the recipe, or why it cannot be loaded."""

    name: str
    recipe: Recipe | None
    problem: str = ""


def recipe_row_text(entry: RecipeEntry, in_force: str) -> str:
    """A list button's words: name, the recipe in force marked, description, PLC number."""
    mark = "  ● IN FORCE" if entry.name == in_force else ""
    if entry.recipe is None:
        return f"{entry.name}{mark}\nCANNOT BE LOADED: {entry.problem}"
    r = entry.recipe
    plc = f"PLC number {r.plc_recipe_number}" if r.plc_recipe_number else "no PLC number"
    return f"{entry.name}{mark}\n{r.description or 'no description'}\nmodel {r.model.name} · {plc}"


def thresholds_text(recipe: Recipe) -> str:
    """The threshold set in words (read-only here)."""
    t = recipe.thresholds
    return (f"version {t.version}: NG from {t.score + t.hold_above:.3f}, HOLD from {t.score - t.hold_below:.3f}, "
            f"min area {t.min_defect_area_px} px — change on the thresholds screen")


def lighting_text(recipe: Recipe) -> str:
    """The lighting reference in words (set on the camera screen)."""
    light = recipe.lighting
    if light.mean <= 0:
        return "not set — save one on the camera screen"
    return f"mean {light.mean:.1f} grey levels; alarm beyond ±{light.limit_pct:.0f} %, checked every {light.every_n}th part"


def roi_text(recipe: Recipe) -> str:
    """The inspection area in words (edited on the ROI screen)."""
    roi = recipe.roi
    if not roi.rectangles and not roi.polygons:
        return "whole frame — draw one on the ROI screen"
    return f"{len(roi.rectangles)} rectangle(s), {len(roi.polygons)} polygon(s) — edit on the ROI screen"


def taught_thresholds(folder: Any) -> RecipeThresholds:
    """The thresholds a model was taught (or imported) with, as version 1 of a new recipe; reads the disk."""
    t = ModelPackage.load(folder).manifest.thresholds
    return RecipeThresholds(version=1, score=t.score, hold_below=t.hold_below, hold_above=t.hold_above,
                            min_defect_area_px=t.min_defect_area_px)


def _number(field: QLineEdit, what: str, kind: type = float, *, empty_ok: bool = False) -> Any:
    text = field.text().strip().replace(",", ".")
    if not text:
        if empty_ok:
            return None
        raise StationError(f"{what} is empty", f"type a number for {what}")
    try:
        return kind(text)
    except ValueError:
        raise StationError(f"{what} '{text}' is not a number", f"type a number for {what}") from None


class RecipesScreen(QWidget):
    """Recipes on the station, the one in force marked; New / Copy / Save (with reason) / Put in force."""

    def __init__(self, ctx: ScreenContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        touch = ctx.touch
        self.entries: list[RecipeEntry] = []
        self.models: list[Any] = []
        self.selected: str | None = None
        self.base: Recipe | None = None   # the recipe the form edits (edit and copy modes)
        self.mode = "edit"
        self._in_force = ""
        self._busy = False

        # The list of recipes, with New and Copy.
        list_panel, lcol = panel("Recipes")
        self.recipe_list = ChoiceList(touch, "Loading the recipes…")
        self.recipe_list.picked.connect(lambda name: self.select(name))
        lcol.addWidget(self.recipe_list, 1)
        row = QHBoxLayout()
        self.new_button = button("New", touch)
        self.copy_button = button("Copy", touch)
        self.new_button.clicked.connect(self.new_recipe)
        self.copy_button.clicked.connect(self.copy_recipe)
        row.addWidget(self.new_button)
        row.addWidget(self.copy_button)
        lcol.addLayout(row)

        # The form.
        form_panel, fcol = panel()
        self.form_title = label("Recipe", "title")
        fcol.addWidget(self.form_title)
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        self.name = self._field(touch, "letters, digits, - _ .")
        self.description = self._field(touch, "what the product is")
        self.model = QComboBox()
        self.model.setMinimumHeight(touch.px)
        self.model_note = label("", "dim", wrap=True)
        self.exposure = self._field(touch, "empty = station default", QDoubleValidator(1.0, 10_000_000.0, 1, self))
        self.gain = self._field(touch, "0 – 48", QDoubleValidator(0.0, 48.0, 2, self))
        self.defect_types = self._field(touch, "comma-separated: scratch, dent, …")
        self.hold_timeout = self._field(touch, "5 – 86400", QIntValidator(5, 86_400, self))
        self.hold_ok = button("OK", touch, checkable=True)
        self.hold_ng = button("NG", touch, checkable=True)
        self.hold_group = QButtonGroup(self)
        for b in (self.hold_ok, self.hold_ng):
            self.hold_group.addButton(b)
        self.plc_number = self._field(touch, "0 – 255, 0 = none", QIntValidator(0, 255, self))
        self.reject_limit = self._field(touch, "% of the last 100 parts", QDoubleValidator(0.0, 100.0, 1, self))
        self.target_reject = self._field(touch, "% rejected", QDoubleValidator(0.01, 49.0, 2, self))
        self.target_hold = self._field(touch, "% held", QDoubleValidator(0.0, 49.0, 2, self))
        self.escape_cost = self._field(touch, "false rejects", QDoubleValidator(0.01, 100_000.0, 2, self))
        self.backbone_float = button("Float", touch, checkable=True)
        self.backbone_int8 = button("INT8", touch, checkable=True)
        self.backbone_group = QButtonGroup(self)
        for b in (self.backbone_float, self.backbone_int8):
            self.backbone_group.addButton(b)
        self.backbone_note = label("INT8 judges about twice as fast on a CPU. Teach keeps it only where the held-out "
                                   "good parts show it holds the accuracy, and otherwise teaches float and says why",
                                   "dim", wrap=True)
        self.thresholds = label("", wrap=True)
        self.lighting = label("", wrap=True)
        self.roi = label("", wrap=True)
        hold_default = QHBoxLayout()
        hold_default.addWidget(self.hold_ok)
        hold_default.addWidget(self.hold_ng)
        backbone = QHBoxLayout()
        backbone.addWidget(self.backbone_float)
        backbone.addWidget(self.backbone_int8)
        targets = QHBoxLayout()
        targets.addWidget(self.target_reject)
        targets.addWidget(self.target_hold)
        rows: list[tuple[str, Any, str, Any]] = [
            ("Name", self.name, "Description", self.description),
            ("Model", self.model, "", self.model_note),
            ("Exposure (µs)", self.exposure, "Gain (dB)", self.gain),
            ("HOLD review within (s)", self.hold_timeout, "Then by default", hold_default),
            ("PLC recipe number", self.plc_number, "Reject-rate alarm (%)", self.reject_limit),
            ("Good parts rejected / held at most (%)", targets, "An escape costs (false rejects)", self.escape_cost),
            ("Teach new models with", backbone, "", self.backbone_note),
        ]
        for r, (t1, w1, t2, w2) in enumerate(rows):
            grid.addWidget(label(t1, "dim", wrap=True), r, 0)
            if isinstance(w1, QHBoxLayout):
                grid.addLayout(w1, r, 1)
            else:
                grid.addWidget(w1, r, 1)
            if t2:
                grid.addWidget(label(t2, "dim", wrap=True), r, 2)
            if isinstance(w2, QHBoxLayout):
                grid.addLayout(w2, r, 3)
            else:
                grid.addWidget(w2, r, 3 if t2 else 2, 1, 1 if t2 else 2)
        r = len(rows)
        grid.addWidget(label("Defect types", "dim", wrap=True), r, 0)
        grid.addWidget(self.defect_types, r, 1, 1, 3)
        for i, (t, w) in enumerate((("Thresholds", self.thresholds), ("Lighting reference", self.lighting),
                                    ("Inspection area", self.roi))):
            grid.addWidget(label(t, "dim", wrap=True), r + 1 + i, 0)
            grid.addWidget(w, r + 1 + i, 1, 1, 3)
        fcol.addWidget(scrolling(grid), 1)  # a long form: its fields scroll, the reason and actions stay
        fcol.addWidget(label("Reason for the change (goes to the audit trail with your name):", "dim", wrap=True))
        self.reason = self._field(touch, "why do you change or change over?")
        fcol.addWidget(self.reason)
        actions = QHBoxLayout()
        self.save_button = button("Save recipe", touch, name="primary")
        self.changeover_button = button("Put in force (changeover)…", touch, name="primary")
        self.save_button.clicked.connect(self.save)
        self.changeover_button.clicked.connect(self.changeover)
        actions.addWidget(self.save_button)
        actions.addWidget(self.changeover_button)
        fcol.addLayout(actions)
        self.feedback = label("", wrap=True)
        fcol.addWidget(self.feedback)

        # A changeover changes what parts are judged by: signed (reason and PIN), like thresholds.
        self.signature = SignaturePanel(touch, "Sign the changeover", reasons=CHANGEOVER_REASONS)
        self.signature.signed.connect(self._signed_changeover)
        self.signature.cancelled.connect(self._close_signature)
        self.right = QStackedWidget()
        self.right.addWidget(form_panel)
        self.right.addWidget(self.signature)

        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(list_panel, 3)
        outer.addWidget(self.right, 7)
        self._show_form(None)

    @staticmethod
    def _field(touch, placeholder: str, validator=None) -> QLineEdit:
        field = QLineEdit()
        field.setPlaceholderText(placeholder)
        field.setMinimumHeight(touch.px)
        if validator is not None:
            field.setValidator(validator)
        return field

    # --- screen life ------------------------------------------------------------------------
    def on_show(self) -> None:
        """Read the recipes and models in the background."""
        self.refresh()

    def on_tick(self) -> None:
        """Follow the recipe in force (the PLC may change it over)."""
        in_force = self.ctx.station.recipe.name
        if in_force != self._in_force:
            self._in_force = in_force
            self._show_list(self.entries, self.models)
        if self.right.currentWidget() is self.signature and self.ctx.session.user is None and not self._busy:
            self._close_signature()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        """A signature left open is forgotten when the screen is left."""
        if not self._busy:
            self._close_signature()
        super().hideEvent(event)

    def prepare_screenshot(self) -> None:
        """Fill the list and the form with the recipe in force synchronously (for --screenshot)."""
        entries, models = self._read()
        self._show_list(entries, models)
        self.select(self.ctx.station.recipe.name)
        self.reason.setText("new supplier batch: longer exposure")

    def refresh(self) -> None:
        """Read the recipes and the models again (background thread)."""
        self.ctx.tasks.submit(self._read, lambda result: self._show_list(*result),
                              lambda exc: self.recipe_list.show_problem(f"The recipes could not be read: {exc}"))

    def _read(self) -> tuple[list[RecipeEntry], list[Any]]:
        changes = self.ctx.station.changes
        entries = []
        for name in changes.recipe_names():
            try:
                entries.append(RecipeEntry(name, changes.load(name)))
            except StationError as exc:
                entries.append(RecipeEntry(name, None, exc.what))
        return entries, [m for m in changes.models() if not m.problem]

    # --- list -------------------------------------------------------------------------------
    def _show_list(self, entries: list[RecipeEntry], models: list[Any]) -> None:
        self._in_force = self.ctx.station.recipe.name
        self.entries, self.models = list(entries), list(models)
        self.recipe_list.fill([(e.name, recipe_row_text(e, self._in_force)) for e in self.entries],
                              "No recipe on this station.")
        current = self.model.currentText()
        self.model.clear()
        self.model.addItems([m.name for m in self.models])
        if current:
            self.model.setCurrentText(current)
        if self.mode == "edit":
            self.select(self.selected if self.selected in self.recipe_buttons else self._in_force, keep_feedback=True)

    @property
    def recipe_buttons(self) -> dict:
        """The list's buttons by recipe name."""
        return self.recipe_list.buttons

    def select(self, name: str | None, *, keep_feedback: bool = False) -> None:
        """Show recipe `name` in the form for editing (the last outcome stays shown after a refresh)."""
        feedback = (self.feedback.text(), self.feedback.styleSheet())
        self.mode = "edit"
        self.selected = name
        if name in self.recipe_buttons:
            self.recipe_list.check(name)
        entry = next((e for e in self.entries if e.name == name), None)
        self._show_form(entry.recipe if entry else None)
        if keep_feedback:
            self.feedback.setText(feedback[0])
            self.feedback.setStyleSheet(feedback[1])
        if entry is not None and entry.recipe is None:
            self._say(f"Recipe {name} cannot be loaded: {entry.problem}", error=True)

    # --- form -------------------------------------------------------------------------------
    def _show_form(self, recipe: Recipe | None) -> None:
        self.base = recipe
        self.feedback.setText("")
        self.form_title.setText(MODE_TITLES[self.mode].format(name=self.selected or ""))
        r = recipe
        self.name.setText(r.name if r and self.mode == "edit" else "")
        self.name.setReadOnly(self.mode == "edit")
        self.description.setText(r.description if r else "")
        if r is not None:
            if self.model.findText(r.model.name) < 0:
                self.model.addItem(r.model.name)
            self.model.setCurrentText(r.model.name)
        self.model.setEnabled(self.mode == "new")
        self.model_note.setText("the new recipe takes the model's taught thresholds" if self.mode == "new" else
                                "a recipe's model changes on the teach screen (activate, signed)")
        self.exposure.setText("" if r is None or r.exposure_us is None else f"{r.exposure_us:g}")
        self.gain.setText("" if r is None or r.gain_db is None else f"{r.gain_db:g}")
        self.defect_types.setText(", ".join(r.defect_types) if r else "scratch, dent, crack, contamination")
        self.hold_timeout.setText(str(r.hold.timeout_s) if r else "300")
        (self.hold_ok if r is not None and r.hold.default == "OK" else self.hold_ng).setChecked(True)
        self.plc_number.setText(str(r.plc_recipe_number) if r else "0")
        self.reject_limit.setText(f"{(r.reject_rate_limit if r else 0.2) * 100:g}")
        targets = r.targets if r else JudgingTargets()
        self.target_reject.setText(f"{targets.false_reject * 100:g}")
        self.target_hold.setText(f"{targets.hold_share * 100:g}")
        self.escape_cost.setText(f"{targets.escape_cost / targets.false_reject_cost:g}")
        (self.backbone_int8 if r is not None and r.teach.backbone == "int8" else self.backbone_float).setChecked(True)
        self.thresholds.setText(thresholds_text(r) if r and self.mode != "new" else
                                "the model's taught thresholds, as version 1 — change on the thresholds screen")
        self.lighting.setText(lighting_text(r) if r and self.mode != "new" else "not set — save one on the camera screen")
        self.roi.setText(roi_text(r) if r and self.mode != "new" else "whole frame — draw one on the ROI screen")
        self._update_buttons()

    def _update_buttons(self) -> None:
        idle = not self._busy
        editing = self.mode == "edit" and self.base is not None
        self.save_button.setEnabled(idle and (self.base is not None or self.mode == "new"))
        self.save_button.setText("Save recipe" if self.mode == "edit" else "Create recipe")
        self.changeover_button.setEnabled(idle and editing and self.selected != self._in_force)
        self.copy_button.setEnabled(idle and self.selected is not None and self.base is not None)
        self.new_button.setEnabled(idle)

    def form_values(self) -> dict[str, Any]:
        """The form's fields as recipe fields; StationError in plain words for what cannot be a value."""
        types = [t.strip() for t in self.defect_types.text().split(",") if t.strip()]
        if not types:
            raise StationError("the recipe has no defect types", "type at least one, e.g. scratch")
        limit = _number(self.reject_limit, "the reject-rate alarm")
        return {"description": self.description.text().strip(),
                "exposure_us": _number(self.exposure, "the exposure", empty_ok=True),
                "gain_db": _number(self.gain, "the gain", empty_ok=True),
                "defect_types": types,
                "hold": {"timeout_s": _number(self.hold_timeout, "the HOLD review time", int),
                         "default": "OK" if self.hold_ok.isChecked() else "NG"},
                "plc_recipe_number": _number(self.plc_number, "the PLC recipe number", int),
                "reject_rate_limit": limit / 100.0,
                "targets": {"false_reject": _number(self.target_reject, "the share of good parts rejected") / 100.0,
                            "hold_share": _number(self.target_hold, "the share of good parts held") / 100.0,
                            "false_reject_cost": 1.0,
                            "escape_cost": _number(self.escape_cost, "the cost of an escape")},
                "teach": {"backbone": "int8" if self.backbone_int8.isChecked() else "float"}}

    @staticmethod
    def apply(base: Recipe, values: dict[str, Any], name: str | None = None) -> Recipe:
        """`base` with the form's values (validated as a recipe file is); ConfigError in plain words."""
        data = base.model_dump()
        hold = {**data["hold"], **values["hold"]}
        data.update({**values, "hold": hold})
        if name is not None:
            data["name"] = name
        try:
            return Recipe.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"recipe field {where}: {first['msg']}", "correct it, then save again") from None

    def new_recipe(self) -> None:
        """Start a new recipe in the form (saved with Create recipe)."""
        self.mode = "new"
        self.recipe_list.check(None)
        self._show_form(None)
        if self.models:
            in_force = self.ctx.station.recipe.model.name
            self.model.setCurrentText(in_force if self.model.findText(in_force) >= 0 else self.models[0].name)
        self.description.setText("")

    def copy_recipe(self) -> None:
        """Start a copy of the selected recipe in the form (saved with Create recipe)."""
        if self.base is None or self.selected is None:
            return
        base = self.base
        self.mode = "copy"
        self._show_form(base)
        self.description.setText(f"copy of {self.selected}")
        self.plc_number.setText("0")

    # --- actions ----------------------------------------------------------------------------
    def _reason(self, permission: Permission) -> str | None:
        denial = self.ctx.session.denial(permission)
        if denial is not None:
            self._say(str(denial), error=True)
            return None
        reason = self.reason.text().strip()
        if not reason:
            self._say("Type a reason for the change: it goes to the audit trail with your name", error=True)
            return None
        return reason

    def save(self) -> None:
        """Save the form: edit the selected recipe, or create the new one / the copy."""
        reason = self._reason(Permission.RECIPES)
        if reason is None:
            return
        user = self.ctx.session.user
        changes = self.ctx.station.changes
        try:
            values = self.form_values()
            if self.mode == "edit":
                if self.base is None:
                    return
                recipe = self.apply(self.base, values)
                work = lambda: changes.save_recipe(recipe, user, reason)  # noqa: E731
            else:
                name = self.name.text().strip()
                if not name:
                    raise StationError("the new recipe has no name", "type a name for it")
                work = self._create_work(name, values, reason)
        except StationError as exc:
            self._say(str(exc), error=True)
            return
        self._run(work, lambda r: f"Recipe {r.name} saved" + (" and in force from the next part"
                                                              if r.name == self._in_force else ""))

    def _create_work(self, name: str, values: dict[str, Any], reason: str):
        changes, user, mode, source = self.ctx.station.changes, self.ctx.session.user, self.mode, self.selected
        model = next((m for m in self.models if m.name == self.model.currentText()), None)
        if mode == "new" and model is None:
            raise StationError("the new recipe has no model", "teach one on the teach screen, or pick one")

        def create() -> Recipe:
            if name in changes.recipe_names():
                raise ConfigError(f"a recipe called '{name}' exists already", "choose another name")
            if mode == "copy":
                copied = changes.copy_recipe(source, name, user, reason)
                edited = self.apply(copied, values)
                return changes.save_recipe(edited, user, reason) if edited != copied else copied
            base = Recipe(name=name, model=RecipeModel(name=model.name, sha256=model.sha256),
                          thresholds=taught_thresholds(model.folder))
            return changes.save_recipe(self.apply(base, values), user, reason)

        return create

    def changeover(self) -> None:
        """Ask the technician's signature for putting the selected recipe in force."""
        denial = self.ctx.session.denial(Permission.RECIPES)
        if denial is not None:
            self._say(str(denial), error=True)
            return
        if self.selected is None:
            return
        user = self.ctx.session.user
        self.signature.reset()
        self.signature.set_signer(user.name, user.role.value)
        self.signature.reason.setText(self.reason.text().strip())
        self.signature.set_meaning(f"Changeover from recipe {self._in_force} to recipe {self.selected}: its model, "
                                   "thresholds, inspection area, camera settings and HOLD rules judge from the "
                                   "next part.")
        self.right.setCurrentWidget(self.signature)

    def _signed_changeover(self, reason: str, pin: str) -> None:
        """Put the selected recipe in force (signed, audited with the reason); a refusal stays on the panel."""
        name, user, changes = self.selected, self.ctx.session.user, self.ctx.station.changes
        if user is None or name is None:
            self.signature.show_failure("Nobody is logged in", "log in, then sign again")
            return

        def refused(exc: BaseException) -> bool:
            if isinstance(exc, StationError):
                self.signature.show_failure(exc.what, exc.todo)
                return True
            self._close_signature()
            return False

        self._run(lambda: changes.changeover(name, user, reason, pin),
                  lambda r: f"Changed over to recipe {r.name}: it judges from the next part", refused=refused)

    def _close_signature(self) -> None:
        self.signature.reset()
        self.right.setCurrentIndex(0)

    def _run(self, work, said, refused=None) -> None:
        self._busy = True
        self._update_buttons()
        self._say("Working…")

        def done(recipe: Recipe) -> None:
            self._busy = False
            self._close_signature()
            self.reason.clear()
            text = said(recipe)
            self._say(f"✔ {text}.")
            self.ctx.channel.info(text)
            # The form shows what was saved at once; the list is read again in the background.
            entry = RecipeEntry(recipe.name, recipe)
            known = [e.name for e in self.entries]
            self.entries = ([entry if e.name == recipe.name else e for e in self.entries] if recipe.name in known
                            else [*self.entries, entry])
            self.mode = "edit"
            self.select(recipe.name, keep_feedback=True)
            self.refresh()

        def failed(exc: BaseException) -> None:
            self._busy = False
            self._update_buttons()
            if refused is not None and refused(exc):
                self._say("")
                return
            self._say(str(exc) if isinstance(exc, StationError) else f"the change failed ({exc}) — try again",
                      error=True)

        self.ctx.tasks.submit(work, done, failed)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.feedback.setStyleSheet(f"color: {theme.REJECT_RED}; font-weight: 600;" if error else "")
        self.feedback.setText(f"✖ {text}" if error else text)


__all__ = ["RecipesScreen", "RecipeEntry", "recipe_row_text"]
