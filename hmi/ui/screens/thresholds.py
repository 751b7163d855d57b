"""Thresholds: recent scores by the operators' verdicts, a draggable threshold and HOLD band with their
predicted consequences, a what-if on stored images, and a signed apply that makes a new threshold-set version.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLineEdit, QProgressBar, QSizePolicy, QStackedWidget,
                               QVBoxLayout, QWidget)

from hmi.services.tuning.score_history import Comparison, Judgement, ScoreHistory, load_history
from hmi.services.tuning.suggest import ThresholdSuggestion, suggest_thresholds
from hmi.services.tuning.whatif import DEFAULT_IMAGES, WhatIfResult, WhatIfRun, inspector_for, rescore
from hmi.config.schema import RecipeThresholds
from hmi.core.errors import StationError
from hmi.core.verdict import Verdict
from hmi.decision.policy import ThresholdSet, area_words, hold_words, score_text
from hmi.store.database import database_path
from hmi.store.users import Permission
from hmi.ui import theme
from hmi.ui.charts import style_chart
from hmi.ui.theme import Fonts
from hmi.ui.context import ScreenContext
from hmi.ui.keyboard import PROPERTY as KEYBOARD
from hmi.ui.signature import SignaturePanel
from hmi.ui.touch import button, sized
from hmi.ui.widgets import fill_table, label, panel, read_only_table

HISTORY_PARTS = 2000
BINS = 60
COARSE_STEP = 0.01   # one − / + tap moves a score by this share of the chart's score range
FINE_STEP = 0.001    # ... and by this share with fine steps on
REPEAT_DELAY_MS = 400     # press and hold: the first repeat after this long
REPEAT_INTERVAL_MS = 60   # then one step this often
AREA_STEP = 10
DECIMALS = 4
# Where each line's drag handle sits, as a share of the chart's height from the bottom: apart, so that
# lines a few pixels apart still have handles a finger can tell from each other.
HANDLE_AT = {"threshold": 0.85, "hold_low": 0.55, "ng_from": 0.25}
IN_FORCE_MODEL = "model in force"
# Bar colours: greys for what is normal, red only for what operators called a defect (ISA-101).
BAR_COLOURS = {Judgement.NOT_REVIEWED: "#8C8C8C", Judgement.GOOD: "#F4F4F4", Judgement.DEFECT: theme.REJECT_RED}
REASONS = ("False rejects", "Escapes", "New lot")  # quick starts; the reason can be typed on


def count_text(count: int, whole: int) -> str:
    """'3 / 120 (2.5 %)', or '—' when there is nothing to count against."""
    if not whole:
        return "—"
    return f"{count} / {whole} ({100.0 * count / whole:.1f} %)"


def change_text(change: int) -> str:
    """'+3', '−2' or '0'."""
    return f"+{change}" if change > 0 else (f"−{-change}" if change < 0 else "0")


def band_text(t: ThresholdSet) -> str:
    """'NG from 0.350, HOLD 0.250 – 0.350, threshold 0.300' in the words of the line (the NG limit first)."""
    return f"NG from {score_text(t.ng_from)}, {hold_words(t)}, threshold {score_text(t.score)}{area_words(t)}"


def consequence_rows(cmp: Comparison) -> list[tuple[str, ...]]:
    """The table's rows: verdict counts, then false rejects, good parts held and escapes."""
    now, new = cmp.in_force, cmp.proposed
    rows = [(f"{v.label}", str(getattr(now, f)), str(getattr(new, f)), change_text(cmp.change(f)))
            for v, f in ((Verdict.OK, "ok"), (Verdict.HOLD, "hold"), (Verdict.NG, "ng"))]
    rows += [("False rejects", count_text(now.false_rejects, now.judged_good),
              count_text(new.false_rejects, new.judged_good), change_text(cmp.change("false_rejects"))),
             ("Good, held", count_text(now.good_held, now.judged_good),
              count_text(new.good_held, new.judged_good), change_text(cmp.change("good_held"))),
             ("Escapes", count_text(now.escapes, now.known_defective),
              count_text(new.escapes, new.known_defective), change_text(cmp.change("escapes")))]
    return rows


class HandleLine(pg.InfiniteLine):
    """A vertical line dragged only by its handle, so lines a few pixels apart are told apart by their handles."""

    def __init__(self, at: float, handle_px: int, **options) -> None:
        super().__init__(angle=90, movable=True, **options)
        self.handle_at = at
        self.handle_px = handle_px
        self.addMarker("<|>", position=at, size=handle_px)

    def on_handle(self, local_x: float) -> bool:
        """Whether a point at `local_x` along the line (item coordinates) lies on the handle."""
        ends = getattr(self, "_endPoints", None)
        box = self.getViewBox()
        if not ends or box is None or ends[1] == ends[0]:
            return False
        along = (local_x - ends[0]) / (ends[1] - ends[0])
        half = 0.5 * self.handle_px / max(1.0, box.size().height())
        return abs(along - self.handle_at) <= max(half, 0.04)

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph override
        """Start a drag only on the handle; elsewhere the press falls through to the line beneath."""
        if ev.isStart() and not self.on_handle(ev.buttonDownPos().x()):
            ev.ignore()
            return
        super().mouseDragEvent(ev)

    def hoverEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph override
        """Highlight (and claim drags) only over the handle."""
        if not ev.isExit() and not self.on_handle(ev.pos().x()):
            self.setMouseHover(False)
            return
        super().hoverEvent(ev)


class ScoreChart(pg.PlotWidget):
    """Histogram of scores stacked by the operators' verdicts, with the threshold and the HOLD band's edges."""

    moved = Signal()

    def __init__(self, touch_px: int, handle_px: int, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="#E6E6E6")
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        style_chart(self, max(12, touch_px // 4), "parts", "score")
        self.bars: dict[Judgement, pg.BarGraphItem] = {}
        self.top = 0.05
        self.band = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(224, 138, 0, 45), pen=pg.mkPen(None))
        self.band.setZValue(-10)
        self.addItem(self.band)
        dark = pg.mkPen(theme.TEXT, width=3)
        amber = pg.mkPen(theme.HOLD_AMBER, width=3, style=Qt.PenStyle.DashLine)
        ng = pg.mkPen(theme.TEXT, width=3, style=Qt.PenStyle.DotLine)
        hover = pg.mkPen("#000000", width=5)
        # Labels above their handles, HOLD's to the left of its line (it lies left of the others), the rest right.
        self.threshold = self._line(dark, hover, handle_px, "threshold {value:.3f}", HANDLE_AT["threshold"], 0.0)
        self.hold_low = self._line(amber, hover, handle_px, "HOLD from {value:.3f}", HANDLE_AT["hold_low"], 1.0)
        self.ng_from = self._line(ng, hover, handle_px, "NG from {value:.3f}", HANDLE_AT["ng_from"], 0.0)
        self._placing = False

    def _line(self, pen, hover, handle_px: int, text: str, at: float, side: float) -> HandleLine:
        line = HandleLine(at, handle_px, pen=pen, hoverPen=hover, label=text,
                          labelOpts={"position": min(0.97, at + 0.12), "color": theme.TEXT,
                                     "anchors": [(side, 0.5), (side, 0.5)],
                                     "fill": pg.mkBrush(216, 216, 216, 230), "movable": False})
        line.label.setZValue(50)
        line.setZValue(5)
        line.sigPositionChanged.connect(self._on_drag)
        self.addItem(line)
        return line

    def show_history(self, history: ScoreHistory, t: ThresholdSet) -> None:
        """Draw the histogram of `history` with range enough for the lines of `t`."""
        for bar in self.bars.values():
            self.removeItem(bar)
        self.bars = {}
        top = max(float(history.scores.max()) if len(history) else 0.0, t.ng_from, 0.05) * 1.1
        self.top = top
        edges = np.linspace(0.0, top, BINS + 1)
        width = edges[1] - edges[0]
        base = np.zeros(BINS)
        for judgement in (Judgement.NOT_REVIEWED, Judgement.GOOD, Judgement.DEFECT):
            counts, _ = np.histogram(np.clip(history.scores_of(judgement), 0.0, top), edges)
            if counts.any():
                bar = pg.BarGraphItem(x0=edges[:-1], y0=base.copy(), width=width, height=counts,
                                      brush=pg.mkBrush(BAR_COLOURS[judgement]), pen=pg.mkPen(theme.BORDER))
                self.addItem(bar)
                self.bars[judgement] = bar
            base += counts
        self.setXRange(0.0, top, padding=0.0)
        self.setYRange(0.0, max(1.0, float(base.max()) * 1.08), padding=0.0)
        self.place(t)

    def place(self, t: ThresholdSet) -> None:
        """Put the lines and the shaded band where `t` says, without reporting a drag."""
        self._placing = True
        try:
            self.threshold.setPos(t.score)
            self.hold_low.setPos(t.hold_low)
            self.ng_from.setPos(t.ng_from)
            self.band.setRegion((t.hold_low, t.ng_from))
        finally:
            self._placing = False

    def _on_drag(self, _line=None) -> None:
        if not self._placing:
            self.moved.emit()


class NumberField(QWidget):
    """A value with − and + keys (touch; held down, they repeat) and a field to type into; emits `edited`."""

    edited = Signal()

    def __init__(self, ctx: ScreenContext, step: float, decimals: int, minimum: float = 0.0) -> None:
        super().__init__()
        self.step, self.decimals, self.minimum = step, decimals, minimum
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.minus = button("−", ctx.touch)
        self.plus = button("+", ctx.touch)
        for key in (self.minus, self.plus):
            key.setAutoRepeat(True)
            key.setAutoRepeatDelay(REPEAT_DELAY_MS)
            key.setAutoRepeatInterval(REPEAT_INTERVAL_MS)
        self.field = QLineEdit()
        self.field.setProperty(KEYBOARD, "numeric")  # the on-screen keyboard's number keys (hmi.ui.keyboard)
        sized(self.field, ctx.touch, wide=2.0)
        self.field.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.field.editingFinished.connect(self.edited.emit)
        self.minus.clicked.connect(lambda: self._nudge(-1))
        self.plus.clicked.connect(lambda: self._nudge(+1))
        row.addWidget(self.minus)
        row.addWidget(self.field, 2)
        row.addWidget(self.plus)

    def value(self) -> float | None:
        """The typed number, or None when the text is not one."""
        try:
            number = float(self.field.text().replace(",", "."))
        except ValueError:
            return None
        return number if math.isfinite(number) else None

    def set_value(self, value: float) -> None:
        """Show `value` (rounded to the field's decimals)."""
        self.field.setText(f"{value:.{self.decimals}f}")

    def _nudge(self, sign: int) -> None:
        current = self.value()
        self.set_value(max(self.minimum, (current if current is not None else self.minimum) + sign * self.step))
        self.edited.emit()


class ThresholdsScreen(QWidget):
    """Shows what a proposed threshold set would do, and puts it in force with the technician's signature."""

    _whatif_progress = Signal(int, int)
    _whatif_done = Signal(object)
    _whatif_failed = Signal(object)

    def __init__(self, ctx: ScreenContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.history: ScoreHistory | None = None
        self.in_force: ThresholdSet = ctx.station.active.get().thresholds
        self.proposal: ThresholdSet = self.in_force
        self.comparison: Comparison | None = None
        self.whatif: WhatIfRun | None = None
        self.whatif_result: WhatIfResult | None = None
        self.suggestion: ThresholdSuggestion | None = None
        self.applied_version: int | None = None
        self._loading = False

        # --- left: the chart and the what-if ----------------------------------------------------
        chart_panel, chart_col = panel()
        self.chart_title = label("Scores of recent parts", "title")
        self.legend = label("", wrap=True)
        self.history_note = label("Loading the recent parts…", "dim", wrap=True)
        self.chart = ScoreChart(ctx.touch.px, ctx.touch.primary_px)
        self.chart.moved.connect(self._on_drag)
        chart_col.addWidget(self.chart_title)
        chart_col.addWidget(self.legend)
        chart_col.addWidget(self.chart, 1)
        self.fine = button("", ctx.touch, checkable=True, wide=2.5)
        self.fine.toggled.connect(lambda _on: self._set_steps())
        below_chart = QHBoxLayout()
        below_chart.addWidget(self.history_note, 3)
        below_chart.addWidget(self.fine, 2)
        chart_col.addLayout(below_chart)
        # The table's words explained here, where there is room, so all its rows fit beside it at 768 px.
        chart_col.addWidget(label("False reject: judged good by an operator, NG under the set. Good, held: judged "
                                  "good, held for review. Escape: a known defect (operator or unreviewed NG) that "
                                  "passes as OK.", "dim", wrap=True))
        self._history_words = self.history_note.text()

        whatif_panel, whatif_col = panel("What-if on stored images")
        controls = QHBoxLayout()
        self.model_choice = QComboBox()
        sized(self.model_choice, ctx.touch, wide=3.0)
        self.model_choice.addItem(IN_FORCE_MODEL, "")
        self.run_whatif = button("Re-score stored images", ctx.touch, wide=3.0)
        self.run_whatif.clicked.connect(self.start_whatif)
        self.stop_whatif = button("Stop", ctx.touch, wide=1.5)
        self.stop_whatif.clicked.connect(self.cancel_whatif)
        self.stop_whatif.setEnabled(False)
        controls.addWidget(self.model_choice, 2)
        controls.addWidget(self.run_whatif, 2)
        controls.addWidget(self.stop_whatif, 1)
        self.whatif_progress = QProgressBar()
        self.whatif_progress.setTextVisible(True)
        self.whatif_progress.hide()
        self.whatif_text = label(f"Runs the last {DEFAULT_IMAGES} stored images through the chosen model and "
                                 "judges them under the proposed set, beside the line, at lower priority.",
                                 "dim", wrap=True)
        whatif_col.addLayout(controls)
        whatif_col.addWidget(self.whatif_progress)
        whatif_col.addWidget(self.whatif_text)

        left = QVBoxLayout()
        left.addWidget(chart_panel, 3)
        left.addWidget(whatif_panel, 0)

        # --- right: the proposal and its consequences, or the signature ---------------------------
        proposal_panel, col = panel("Proposed threshold set")
        self.in_force_text = label("", "dim", wrap=True)
        col.addWidget(self.in_force_text)
        self.score_field = NumberField(ctx, COARSE_STEP, DECIMALS)
        self.below_field = NumberField(ctx, COARSE_STEP, DECIMALS)
        self.above_field = NumberField(ctx, COARSE_STEP, DECIMALS)
        self.area_field = NumberField(ctx, AREA_STEP, 0)
        for text, field in (("Threshold (score)", self.score_field), ("HOLD band below", self.below_field),
                            ("HOLD band above", self.above_field), ("Min. area (px)", self.area_field)):
            row = QHBoxLayout()
            name = label(text)
            name.setMinimumWidth(ctx.touch.px * 2)
            row.addWidget(name, 2)
            row.addWidget(field, 3)
            field.edited.connect(self._on_typed)
            col.addLayout(row)
        self.table = read_only_table(["Logged parts", "In force", "Proposed", "Change"],
                                     font_px=Fonts.for_touch(ctx.touch.px).small)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        col.addWidget(self.table, 1)
        self.feedback = label("", wrap=True)
        col.addWidget(self.feedback)
        actions = QHBoxLayout()
        self.revert = button("Back to set in force", ctx.touch, wide=2.5)
        self.revert.clicked.connect(self.back_to_in_force)
        self.apply = button("Apply…", ctx.touch, wide=2.0, name="primary")
        self.apply.clicked.connect(self.ask_signature)
        self.suggest = button("Suggest", ctx.touch, wide=1.8)
        self.suggest.clicked.connect(self.suggest_from_reviews)
        actions.addWidget(self.suggest)
        actions.addWidget(self.revert)
        actions.addWidget(self.apply)
        col.addLayout(actions)

        self.signature = SignaturePanel(ctx.touch, "Sign the new threshold set", reasons=REASONS)
        self.signature.signed.connect(self._signed)
        self.signature.cancelled.connect(self._close_signature)
        self.right = QStackedWidget()
        self.right.addWidget(proposal_panel)
        self.right.addWidget(self.signature)

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addLayout(left, 3)
        row.addWidget(self.right, 2)

        self._whatif_progress.connect(self._on_whatif_progress)
        self._whatif_done.connect(self._on_whatif_done)
        self._whatif_failed.connect(self._on_whatif_failed)
        self._set_steps()
        self._show_proposal()

    # --- loading -----------------------------------------------------------------------------
    def _recipe_and_model(self) -> tuple[str, str]:
        setup = self.ctx.station.active.get()
        inspector = getattr(setup, "inspector", None)
        package = getattr(inspector, "package", None)
        return setup.recipe, getattr(package, "sha256", "") or ""

    def _load(self) -> tuple[ScoreHistory, list]:
        recipe, sha = self._recipe_and_model()
        history = load_history(database_path(self.ctx.station.data_dir), recipe, model_sha256=sha,
                               limit=HISTORY_PARTS)
        try:
            models = [m for m in self.ctx.station.changes.models() if not m.problem]
        except StationError:
            models = []
        return history, models

    def on_show(self) -> None:
        """Load the recent scores and the models in the background; the set in force is read from memory."""
        self._take_in_force()
        if self._loading:
            return
        self._loading = True
        self.history_note.setText("Loading the recent parts…")
        self.ctx.tasks.submit(self._load, self._loaded, self._load_failed)

    def _loaded(self, result: tuple[ScoreHistory, list]) -> None:
        self._loading = False
        self.show_history(*result)

    def _load_failed(self, exc: BaseException) -> None:
        self._loading = False
        self.history_note.setText(f"The recent parts could not be read: {exc}")
        self.ctx.channel.error(exc)

    def show_history(self, history: ScoreHistory, models: list | None = None) -> None:
        """Show `history` (and offer `models` for the what-if)."""
        self.history = history
        if models is not None:
            chosen = self.model_choice.currentData()
            self.model_choice.clear()
            self.model_choice.addItem(IN_FORCE_MODEL, "")
            for m in models:
                self.model_choice.addItem(f"{m.name} ({m.kind}, {m.images} images)", m.name)
            index = self.model_choice.findData(chosen)
            self.model_choice.setCurrentIndex(max(0, index))
        counts = {j: len(history.scores_of(j)) for j in Judgement}
        self.legend.setText("  ".join(
            f'<span style="color:{BAR_COLOURS[j] if j is not Judgement.GOOD else "#FFFFFF"}; '
            f'background:{theme.NORMAL_SYMBOL if j is Judgement.GOOD else "transparent"};">■</span> '
            f"{j.value} ({counts[j]})" for j in (Judgement.GOOD, Judgement.DEFECT, Judgement.NOT_REVIEWED)))
        self.chart_title.setText(f"Scores of the last {len(history)} parts — recipe {history.recipe}")
        images = sum(1 for p in history.parts if p.image_path)
        note = (f"{len(history)} scored parts of the model in force; {images} with a stored image"
                + (f"; {history.not_inspected} not inspected (no score, not shown)" if history.not_inspected else "")
                + ". Drag the lines or type the values.")
        self._history_words = (note if len(history) else
                               "No parts of this recipe and model are recorded yet: let the line run, then "
                               "open this screen again.")
        self._show_note()
        self.chart.show_history(history, self.proposal)
        self._set_steps()
        self._predict()

    # --- the proposal ------------------------------------------------------------------------
    def _take_in_force(self) -> None:
        current = self.ctx.station.active.get().thresholds
        if current != self.in_force:
            follow = self.proposal == self.in_force
            self.in_force = current
            if follow:
                self.proposal = current
            self._show_proposal()

    def set_proposal(self, t: ThresholdSet) -> None:
        """Propose `t` (version is the next one): fields, lines and predictions follow."""
        self.proposal = replace(t, version=self.in_force.version + 1)
        self._show_proposal()

    def back_to_in_force(self) -> None:
        """Forget the proposal: the set in force again."""
        self.proposal = self.in_force
        self._show_proposal()

    def _set_steps(self) -> None:
        """− / + move the scores by a share of the chart's score range (1 %, or 0.1 % with fine steps)."""
        share = FINE_STEP if self.fine.isChecked() else COARSE_STEP
        step = share * self.chart.top
        for field in (self.score_field, self.below_field, self.above_field):
            field.step = step
        self.fine.setText(f"{'Fine' if self.fine.isChecked() else 'Coarse'} steps: ± "
                          f"{score_text(step) if step >= 0.001 else f'{step:.2g}'} ({share * 100:g} % of range)")

    def _show_proposal(self) -> None:
        t = self.proposal
        self.score_field.set_value(t.score)
        self.below_field.set_value(t.hold_below)
        self.above_field.set_value(t.hold_above)
        self.area_field.set_value(t.min_defect_area_px)
        self.chart.place(t)
        self._show_note()
        self.in_force_text.setText(f"In force: version {self.in_force.version} — {band_text(self.in_force)}")
        self._predict()

    def _on_drag(self) -> None:
        c = self.chart
        score = round(c.threshold.value(), DECIMALS)
        moved = score - self.proposal.score
        low, high = c.hold_low.value(), c.ng_from.value()
        if abs(moved) > 1e-12:  # the threshold line carries the band with it
            below, above = self.proposal.hold_below, self.proposal.hold_above
        else:
            below, above = max(0.0, score - low), max(0.0, high - score)
        self.proposal = replace(self.proposal, version=self.in_force.version + 1, score=score,
                                hold_below=round(below, DECIMALS), hold_above=round(above, DECIMALS))
        self._show_proposal()

    def _on_typed(self) -> None:
        values = [f.value() for f in (self.score_field, self.below_field, self.above_field, self.area_field)]
        if any(v is None for v in values):
            self._say("A value is not a number", "type a number such as 0.32 (use a point for decimals)")
            return
        score, below, above, area = values
        if below < 0 or above < 0 or area < 0:
            self._say("The HOLD band and the minimum defect area cannot be negative", "type zero or more")
            return
        self.proposal = ThresholdSet(self.in_force.version + 1, round(score, DECIMALS), round(below, DECIMALS),
                                     round(above, DECIMALS), int(round(area)))
        self._show_proposal()

    def _predict(self) -> None:
        if self.history is None:
            return
        self.comparison = self.history.compare(self.proposal, self.in_force)
        fill_table(self.table, consequence_rows(self.comparison))
        if self._same_as_in_force():
            self._say_plain("This is the set in force. Drag a line or type a value to see what a change would do.")
        else:
            self._say_plain(f"Proposed: {band_text(self.proposal)}.")

    def _same_as_in_force(self) -> bool:
        return replace(self.proposal, version=self.in_force.version) == self.in_force

    def _say(self, what: str, todo: str) -> None:
        self.feedback.setStyleSheet(f"color: {theme.REJECT_RED}; font-weight: 600;")
        self.feedback.setText(f"✖ {what}. {todo[:1].upper() + todo[1:]}.")

    def _say_plain(self, text: str) -> None:
        self.feedback.setStyleSheet("")
        self.feedback.setText(text)

    # --- a suggestion from the operators' verdicts ------------------------------------------------
    def suggest_from_reviews(self) -> None:
        """Propose the set of least cost on the parts people judged; its consequences show as for any proposal."""
        if self.history is None:
            self._say("The recent parts are not loaded yet", "wait a moment, then try again")
            return
        history, in_force, changes = self.history, self.in_force, self.ctx.station.changes
        self.suggest.setEnabled(False)
        self._say_plain("Searching the threshold set of least cost on the parts people judged…")
        self.ctx.tasks.submit(lambda: suggest_thresholds(history, changes.recipe.targets, in_force),
                              self.show_suggestion, self._suggestion_failed)

    def show_suggestion(self, suggestion: ThresholdSuggestion) -> None:
        """Fill the proposal from `suggestion` and say why it is proposed."""
        self.suggest.setEnabled(True)
        self.suggestion = suggestion
        self.set_proposal(suggestion.proposed)
        if not suggestion.changes_anything:
            self._say_plain("The set in force is already the best on the parts people judged.")

    def _show_note(self) -> None:
        """Under the chart: why the suggestion is proposed while it is, else what the history holds."""
        s = self.suggestion
        if s is not None and replace(self.proposal, version=s.proposed.version) == s.proposed:
            self.history_note.setText(f"Suggested from the operators' verdicts. {s.explanation}")
        else:
            self.history_note.setText(self._history_words)

    def _suggestion_failed(self, exc: BaseException) -> None:
        self.suggest.setEnabled(True)
        if isinstance(exc, StationError):
            self._say(exc.what, exc.todo)
        else:
            self._say("The suggestion could not be made", "try again; if it fails again, call service")
            self.ctx.channel.error(exc)

    # --- apply with a signature ----------------------------------------------------------------
    def ask_signature(self) -> None:
        """Open the signature for the proposal (technician role needed)."""
        denial = self.ctx.session.denial(Permission.THRESHOLDS)
        if denial is not None:
            self._say(denial.what, denial.todo or "ask a technician")
            return
        if self._same_as_in_force():
            self._say("The proposed set is the set in force", "change a value first, then apply")
            return
        user = self.ctx.session.user
        self.signature.reset()
        self.signature.set_signer(user.name, user.role.value)
        self.signature.set_meaning(f"Version {self.in_force.version} → new version: {band_text(self.proposal)}.")
        self.right.setCurrentWidget(self.signature)

    def _signed(self, reason: str, pin: str) -> None:
        user = self.ctx.session.user
        if user is None:
            self.signature.show_failure("Nobody is logged in", "log in, then sign again")
            return
        t = self.proposal
        proposal = RecipeThresholds(score=t.score, hold_below=t.hold_below, hold_above=t.hold_above,
                                    min_defect_area_px=t.min_defect_area_px)
        changes = self.ctx.station.changes
        self.ctx.tasks.submit(lambda: changes.apply_thresholds(proposal, user, pin, reason),
                              self._applied, self._refused)

    def _applied(self, recipe) -> None:
        version = recipe.thresholds.version
        self.applied_version = version
        self.suggestion = None
        self.signature.reset()
        self.right.setCurrentIndex(0)
        self._take_in_force()
        self.proposal = self.in_force
        self._show_proposal()
        self.ctx.channel.info(f"Threshold set version {version} of recipe {recipe.name} is in force",
                              "the next part is judged by it; the change is in the audit trail")

    def _refused(self, exc: BaseException) -> None:
        if isinstance(exc, StationError):
            self.signature.show_failure(exc.what, exc.todo)
        else:
            self.signature.show_failure("The change could not be made", "try again; if it fails again, call service")
            self.ctx.channel.error(exc)

    def _close_signature(self) -> None:
        self.right.setCurrentIndex(0)

    # --- what-if -----------------------------------------------------------------------------
    def start_whatif(self) -> None:
        """Re-score the stored images with the chosen model under the proposal, on a low-priority thread."""
        if self.history is None:
            self._say("The recent parts are not loaded yet", "wait a moment, then try again")
            return
        if self.whatif is not None and self.whatif.running:
            return
        station = self.ctx.station
        self.whatif = WhatIfRun(station.cfg, station.data_dir, station.changes.recipe, self.history, self.proposal,
                                in_force=self.in_force, model=self.model_choice.currentData() or None,
                                progress=self._whatif_progress.emit, done=self._whatif_done.emit,
                                failed=self._whatif_failed.emit).start()
        self.run_whatif.setEnabled(False)
        self.stop_whatif.setEnabled(True)
        self.whatif_progress.setRange(0, 0)
        self.whatif_progress.show()
        self.whatif_text.setText("Loading the model…")

    def cancel_whatif(self) -> None:
        """Stop the what-if after the image being scored."""
        if self.whatif is not None:
            self.whatif.cancel()

    def _on_whatif_progress(self, done: int, total: int) -> None:
        self.whatif_progress.setRange(0, total)
        self.whatif_progress.setValue(done)
        self.whatif_progress.setFormat(f"{done} of {total} images")
        self.whatif_text.setText("Re-scoring stored images…")

    def _whatif_finished(self) -> None:
        self.run_whatif.setEnabled(True)
        self.stop_whatif.setEnabled(False)
        self.whatif_progress.hide()

    def _on_whatif_done(self, result: WhatIfResult) -> None:
        self._whatif_finished()
        self.show_whatif(result)

    def show_whatif(self, result: WhatIfResult) -> None:
        """Show the what-if's outcome in plain words."""
        self.whatif_result = result
        lines = [result.summary()]
        moves = [f"{old.label} → {new.label}: {n}" for (old, new), n in sorted(result.moves.items())
                 if old is not new]
        if moves:
            lines.append("Changes: " + ", ".join(moves) + ".")
        if result.comparison is not None:
            p = result.comparison.proposed
            lines.append(f"Under the proposed set: {p.ok} OK, {p.hold} HOLD, {p.ng} NG; false rejects "
                         f"{count_text(p.false_rejects, p.judged_good)}; escapes "
                         f"{count_text(p.escapes, p.known_defective)}.")
        self.whatif_text.setText("\n".join(lines))

    def _on_whatif_failed(self, exc: BaseException) -> None:
        self._whatif_finished()
        self.whatif_text.setText(f"The what-if did not run: {exc}")

    # --- window hooks --------------------------------------------------------------------------
    def on_tick(self) -> None:
        """Follow a threshold set put in force elsewhere; close the signature when the user logged out."""
        self._take_in_force()
        if self.right.currentWidget() is self.signature and self.ctx.session.user is None:
            self.signature.reset()
            self.right.setCurrentIndex(0)

    def prepare_screenshot(self) -> None:
        """Fill the screen synchronously: the recent parts, a proposal a little above the set in force, a what-if."""
        self._take_in_force()
        history, models = self._load()
        self.show_history(history, models)
        if len(history):
            self.set_proposal(replace(self.in_force, score=round(self.in_force.score + 0.02, DECIMALS)))
            station = self.ctx.station
            inspector = inspector_for(station.cfg, station.data_dir, station.changes.recipe)
            self.show_whatif(rescore(history, inspector, station.data_dir, self.proposal, in_force=self.in_force,
                                     limit=DEFAULT_IMAGES))

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        """A signature left open is forgotten when the screen is left."""
        self.signature.reset()
        self.right.setCurrentIndex(0)
        super().hideEvent(event)


__all__ = ["ScoreChart", "ThresholdsScreen", "consequence_rows"]
