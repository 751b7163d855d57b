"""Teach (technicians): collect good parts or pick a folder, build a model off the UI thread, check it, activate it signed.

The teaching itself runs on the station's teach thread (`station.teaching`, hmi.changes.teaching); this
screen only starts it, shows its progress ten times a second from memory, and cancels it.
The model list shows every model on the station with the one in force marked, so a previous model
stays selectable and is put back in force the same signed way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QIntValidator
from PySide6.QtWidgets import (QButtonGroup, QHBoxLayout, QLineEdit, QProgressBar, QPushButton, QStackedWidget,
                               QWidget)

from hmi.core.errors import StationError
from hmi.decision.policy import score_text
from hmi.inference.package import ModelPackage
from hmi.inference.teach_int8 import Int8Check
from hmi.inference.teach_thresholds import more_images_text
from hmi.store.users import Permission
from hmi.ui import theme
from hmi.ui.charts import style_chart
from hmi.ui.context import ScreenContext
from hmi.ui.signature import SignaturePanel
from hmi.ui.theme import Fonts
from hmi.ui.touch import button
from hmi.ui.widgets import ChoiceList, label, panel

PROGRESS_MS = 100
DEFAULT_PARTS = 100
INPUT_SIZES = (256, 320)
STAGE_WORDS = {"starting": "Starting", "collecting": "Step 1 of 2: collecting good parts from the line",
               "teaching": "Step 2 of 2: building the model", "done": "Done", "cancelled": "Cancelled",
               "failed": "Failed"}


class TeachJobPort(Protocol):
    """A teach run (hmi.changes.teaching.TeachJob): progress from memory, cancel, and its outcome."""

    name: str
    report: Any
    error: Any

    def progress(self) -> Any:
        """(stage, fraction, text) now."""
    def cancel(self) -> None:
        """Stop at the next step; nothing is kept."""


class TeachingPort(Protocol):
    """What the station must expose as `station.teaching` (hmi.changes.teaching.Teaching)."""

    def start(self, name: str, *, parts: int = 0, folder: str = "", input_size: int = 256,
              targets: Any = None) -> TeachJobPort:
        """Start teaching model `name` from the next `parts` parts on the line, or from `folder`."""


@dataclass(frozen=True)
class Validation:
    """How a model did on its held-out good parts, as the validation panel shows it."""

    name: str
    sha256: str
    scores: list[float]
    threshold: float
    hold_below: float
    hold_above: float
    images: int
    heldout: int
    bank_size: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)
    more_needed: int = 0   # good images to add for a reliable threshold (0: enough were held back)
    backbone: str = "float"  # the backbone's precision the model judges with
    int8_check: Int8Check | None = None  # teach's check, where INT8 was asked for

    @classmethod
    def of_report(cls, report: Any) -> "Validation":
        """From a finished teach run (hmi.inference.teach.TeachReport)."""
        return cls(Path(report.model_dir).name, report.sha256, list(report.heldout_scores), report.threshold,
                   report.hold_below, report.hold_above, report.images_used, report.heldout, report.bank_size,
                   report.seconds, [f"{Path(p).name}: {why}" for p, why in report.skipped],
                   int(report.more_images_needed), report.backbone, report.int8_check)

    @classmethod
    def of_package(cls, folder: Path) -> "Validation":
        """From a model package's manifest (what it was taught on); reads the disk: background thread only."""
        package = ModelPackage.load(folder)
        m, t = package.manifest, package.manifest.thresholds
        return cls(folder.name, package.sha256, list(m.training.heldout_scores), t.score, t.hold_below,
                   t.hold_above, m.training.images, m.training.heldout_images, m.training.bank_size,
                   m.training.seconds, more_needed=int(float(m.extra.get("more_images_needed", 0) or 0)),
                   backbone=m.backbone_precision, int8_check=Int8Check.from_extra(m.extra))

    def figures(self) -> str:
        """The figures beside the chart, in plain words."""
        lines = [f"Model {self.name}  (SHA-256 {self.sha256[:12]})",
                 f"Taught: NG from {score_text(self.threshold + self.hold_above)}; parts from "
                 f"{score_text(self.threshold - self.hold_below)} to {score_text(self.threshold + self.hold_above)} "
                 "are held for review"]
        if self.images:
            lines.append(f"Taught on {self.images} good images, {self.heldout} held back to check it"
                         + (f"; memory bank {self.bank_size} features" if self.bank_size else "")
                         + ("; INT8 backbone" if self.backbone == "int8" else "")
                         + (f"; {self.seconds:.1f} s" if self.seconds else ""))
        if self.int8_check is not None:
            lines.append(self.int8_check.text())
        if self.scores:
            s = np.asarray(self.scores)
            over = int(np.sum(s >= self.threshold - self.hold_below))
            lines.append(f"Held-out good parts scored {s.min():.3f} to {s.max():.3f} (mean {s.mean():.3f}); "
                         f"{over} of {len(s)} would be held or rejected")
            if self.more_needed > 0:
                lines.append(more_images_text(len(s), self.more_needed))
        else:
            lines.append("This model carries no held-out scores (imported, not taught here).")
        if self.skipped:
            lines.append(f"{len(self.skipped)} file(s) could not be used: " + "; ".join(self.skipped[:3]))
        return "\n".join(lines)


class ScoreHistogram(pg.PlotWidget):
    """Held-out good parts' scores as a histogram, with the threshold line and the HOLD band shaded."""

    def __init__(self, font_px: int) -> None:
        super().__init__(background=theme.PANEL)
        style_chart(self, font_px, "parts", "score of held-out good parts")
        self.bars = pg.BarGraphItem(x=[], height=[], width=1.0, brush=theme.NORMAL_SYMBOL, pen=pg.mkPen(theme.BORDER))
        r, g, b = theme.rgb(theme.HOLD_AMBER)
        self.band = pg.LinearRegionItem(values=(0, 0), movable=False, brush=pg.mkBrush(r, g, b, 70),
                                        pen=pg.mkPen(r, g, b, 160))
        self.line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(theme.TEXT, width=3,
                                                                           style=pg.QtCore.Qt.PenStyle.DashLine))
        self.caption = pg.TextItem("", color=theme.TEXT, anchor=(0, 0))
        for it in (self.band, self.bars, self.line, self.caption):
            self.addItem(it)
        self.set_scores([], 0.0, 0.0, 0.0)

    def set_scores(self, scores: list[float], threshold: float, hold_below: float, hold_above: float) -> None:
        """Draw `scores` against the threshold and its band (an empty list clears the chart)."""
        visible = bool(scores)
        for it in (self.band, self.line, self.caption):
            it.setVisible(visible)
        if not visible:
            self.bars.setOpts(x=[], height=[], width=1.0)
            return
        s = np.asarray(scores, np.float64)
        low = min(float(s.min()), threshold - hold_below)
        high = max(float(s.max()), threshold + hold_above)
        pad = 0.05 * (high - low or abs(high) or 1.0)
        bins = max(5, min(30, len(s) // 2))
        counts, edges = np.histogram(s, bins=bins, range=(low - pad, high + pad))
        self.bars.setOpts(x=(edges[:-1] + edges[1:]) / 2, height=counts, width=(edges[1] - edges[0]) * 0.9)
        self.band.setRegion((threshold - hold_below, threshold + hold_above))
        self.line.setValue(threshold)
        self.caption.setText(f"threshold {threshold:.3f}")
        # On the side of the line with room: the threshold usually lies right of every held-out good score.
        self.caption.setAnchor((1, 0) if threshold > (low + high) / 2 else (0, 0))
        self.caption.setPos(threshold, max(1, int(counts.max())) * 1.1)
        self.setXRange(low - pad, high + pad, padding=0)
        self.setYRange(0, max(1, int(counts.max())) * 1.2, padding=0)


def model_row_text(info: Any, in_force: str, limit: float | None = None) -> str:
    """A model list button's words: name, the model in force marked (with the NG limit in force), what it was
    taught on (with its taught threshold)."""
    mark = "  ● IN FORCE" if info.name == in_force else ""
    if info.problem:
        return f"{info.name}{mark}\nCANNOT BE USED: {info.problem}"
    taught = f"{info.taught_on[:10]}, {info.images} images" if info.taught_on else "imported"
    shipped = (" (shipped)" if info.shipped else "") + (" · INT8" if info.backbone == "int8" else "")
    judged = (f"NG from {score_text(limit)} in force" if mark and limit is not None
              else f"taught threshold {score_text(info.threshold)}")
    return f"{info.name}{mark}\n{info.kind} {info.input_size}{shipped}\n{taught}, {judged}"


class TeachScreen(QWidget):
    """Teach a model from good parts, check its validation, activate it (or a previous model) with a signature."""

    def __init__(self, ctx: ScreenContext, parent: QWidget | None = None, *,
                 input_sizes: tuple[int, ...] = INPUT_SIZES) -> None:
        super().__init__(parent)
        self.ctx = ctx
        touch = ctx.touch
        fonts = Fonts.for_touch(touch.px)
        self.job: TeachJobPort | None = None
        self.validation: Validation | None = None
        self.models: list[Any] = []
        self.selected: str | None = None
        self.signing: str | None = None   # the model the signature panel is for
        self._in_force = ""
        self._limit = float("nan")  # the NG limit in force the model list shows
        self._active = False  # a run was started here and its end not yet shown

        # 1. Teach: where the good parts come from, the model's name, start / cancel, progress.
        teach_panel, col = panel("1. Teach a new model")
        self.source_group = QButtonGroup(self)
        self.from_line = button("Parts from the line", touch, checkable=True)
        self.from_folder = button("Folder of images", touch, checkable=True)
        for b in (self.from_line, self.from_folder):
            self.source_group.addButton(b)
            b.clicked.connect(self._source_changed)
        self.from_line.setChecked(True)
        col.addWidget(self.from_line)
        col.addWidget(self.from_folder)
        self.parts = QLineEdit(str(DEFAULT_PARTS))
        self.parts.setValidator(QIntValidator(1, 5000, self))
        self.parts.setMinimumHeight(touch.px)
        self.parts_label = label("Good parts to collect (put only good parts on the line):", "dim", wrap=True)
        col.addWidget(self.parts_label)
        col.addWidget(self.parts)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("Full path of a folder of good-part images")
        self.folder.setMinimumHeight(touch.px)
        self.folder_label = label("Folder of good-part images:", "dim", wrap=True)
        col.addWidget(self.folder_label)
        col.addWidget(self.folder)
        col.addWidget(label("Name of the new model:", "dim", wrap=True))
        self.name = QLineEdit()
        self.name.setMinimumHeight(touch.px)
        col.addWidget(self.name)
        col.addWidget(label("Teach size: the parts' shorter side is scaled to this many pixels (never enlarged) "
                            "and larger parts are judged in tiles. 256 is the default measured on real parts "
                            "(docs/accuracy.md); 320 keeps more pixels and takes about 1.3 times as long.", "dim", wrap=True))
        self.size_group = QButtonGroup(self)
        self.size_buttons: dict[int, QPushButton] = {}
        sizes = QHBoxLayout()
        for size in input_sizes:
            b = button(f"{size} px", touch, checkable=True)
            self.size_group.addButton(b)
            self.size_buttons[size] = b
            sizes.addWidget(b)
        self.size_buttons[input_sizes[0]].setChecked(True)
        col.addLayout(sizes)
        actions = QHBoxLayout()
        self.start_button = button("Start teaching", touch, name="primary", wide=2)
        self.cancel_button = button("Cancel", touch)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        actions.addWidget(self.start_button, 2)
        actions.addWidget(self.cancel_button, 1)
        col.addLayout(actions)
        self.stage = label("Not teaching.", "figure", wrap=True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setMinimumHeight(touch.px // 2)
        self.step = label("", "dim", wrap=True)
        col.addWidget(self.stage)
        col.addWidget(self.bar)
        col.addWidget(self.step)
        col.addStretch(1)

        # 2. Validation: held-out good parts' scores against the chosen threshold.
        check_panel, check = panel("2. Check the model")
        self.check_title = label("Teach a model, or pick one in the list, to see how it scores good parts.",
                                 "dim", wrap=True)
        self.chart = ScoreHistogram(fonts.small)
        self.figures = label("", wrap=True)
        self.activate_new = button("Activate this model…", touch, name="primary")
        self.activate_new.clicked.connect(lambda: self.ask_signature(self.validation.name if self.validation else ""))
        check.addWidget(self.check_title)
        check.addWidget(self.chart, 1)
        check.addWidget(self.figures)
        check.addWidget(self.activate_new)

        # 3. Models on the station (the one in force marked), or the signature that activates one.
        list_panel, lcol = panel("Models on this station")
        self.model_list = ChoiceList(touch, "Loading the model list…")
        self.model_list.picked.connect(lambda name: self.select(name))
        lcol.addWidget(self.model_list, 1)
        self.activate_selected = button("Activate selected model…", touch)
        self.activate_selected.clicked.connect(lambda: self.ask_signature(self.selected or ""))
        lcol.addWidget(self.activate_selected)
        self.signature = SignaturePanel(touch, "Activate a model")
        self.signature.signed.connect(self._signed)
        self.signature.cancelled.connect(self._signature_closed)
        self.right = QStackedWidget()
        self.right.addWidget(list_panel)
        self.right.addWidget(self.signature)

        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(teach_panel, 3)
        outer.addWidget(check_panel, 4)
        outer.addWidget(self.right, 3)

        self.timer = QTimer(self)
        self.timer.setInterval(PROGRESS_MS)
        self.timer.timeout.connect(self._poll)
        self._source_changed()
        self._update_buttons()

    # --- screen life ------------------------------------------------------------------------
    @property
    def teaching(self) -> TeachingPort | None:
        """The station's teacher, or None when the station offers none."""
        return getattr(self.ctx.station, "teaching", None)

    def on_show(self) -> None:
        """Load the model list in the background; suggest a name for the next model."""
        if not self.name.text().strip():
            self.name.setText(self._suggested_name())
        self._show_signer()
        self.refresh_models()

    def on_tick(self) -> None:
        """Follow the model in force (a changeover may change it) and who would sign."""
        in_force = self.ctx.station.recipe.model.name
        limit = self.ctx.station.active.get().thresholds.ng_from
        if in_force != self._in_force or limit != self._limit:
            self._in_force = in_force
            self._show_models(self.models)
        self._show_signer()

    def prepare_screenshot(self) -> None:
        """Fill the list and the validation of the model in force synchronously (for --screenshot)."""
        self.name.setText(self._suggested_name())
        self._show_models(self.ctx.station.changes.models())
        info = next((m for m in self.models if m.name == self._in_force), self.models[0] if self.models else None)
        if info is not None and not info.problem:
            self.select(info.name, load=False)
            self._show_validation(Validation.of_package(info.folder), f"Model {info.name}: as taught")
        self._show_signer()

    def _suggested_name(self) -> str:
        return f"{self.ctx.station.recipe.name}-{datetime.now():%Y%m%d-%H%M}"

    def _show_signer(self) -> None:
        user = self.ctx.session.user
        self.signature.set_signer(user.name if user else "", user.role.value if user else "")

    # --- teaching ---------------------------------------------------------------------------
    def _source_changed(self) -> None:
        line = self.from_line.isChecked()
        for w in (self.parts, self.parts_label):
            w.setVisible(line)
        for w in (self.folder, self.folder_label):
            w.setVisible(not line)

    @property
    def running(self) -> bool:
        """True while a teach run started here has not ended."""
        return self._active

    def input_size(self) -> int:
        """The chosen teach size (the parts' shorter side, in pixels, at model scale)."""
        return next(size for size, b in self.size_buttons.items() if b.isChecked())

    def start(self) -> None:
        """Start teaching with what the form says (checked by the teach thread, which says what is wrong)."""
        denial = self.ctx.session.denial(Permission.TEACH)
        if denial is not None:
            self.ctx.channel.error(denial)
            return
        if self.teaching is None:
            self.ctx.channel.error(StationError("this station cannot teach from the screen",
                                                "teach with 'hmi teach' on the station's computer"))
            return
        line = self.from_line.isChecked()
        try:
            self.job = self.teaching.start(self.name.text().strip(), parts=int(self.parts.text() or 0) if line else 0,
                                           folder="" if line else (self.folder.text().strip() or " "),
                                           input_size=self.input_size(),
                                           targets=self.ctx.station.recipe.targets,
                                           teach=self.ctx.station.recipe.teach)
        except StationError as exc:
            self.ctx.channel.error(exc)
            return
        self._active = True
        self._show_validation(None, "")
        self.timer.start()
        self._poll()

    def cancel(self) -> None:
        """Stop the run in progress; nothing it made is kept."""
        if self.running and self.job is not None:
            self.job.cancel()
            self.step.setText("Cancelling…")

    def _poll(self) -> None:
        if self.job is None:
            return
        p = self.job.progress()
        stage = p.stage.value
        self.stage.setText(STAGE_WORDS.get(stage, stage))
        self.bar.setValue(round(p.fraction * 1000))
        self.step.setText(p.text)
        if p.stage.finished:
            self.timer.stop()
            self._active = False
            self._finished(self.job)
        self._update_buttons()

    def _finished(self, job: TeachJobPort) -> None:
        stage = job.progress().stage.value
        if stage == "done":
            self.stage.setText(f"Done: model {job.name} is ready to check and activate")
            self._show_validation(Validation.of_report(job.report), f"New model {job.name}: check before activating")
            self.ctx.channel.info(f"Model {job.name} was taught", "check its validation, then activate it")
            self.name.setText(self._suggested_name())
            self.refresh_models()
        elif stage == "cancelled":
            self.bar.setValue(0)
            self.ctx.channel.info("Teaching was cancelled; nothing was kept", "start again when ready")
        else:
            self.bar.setValue(0)
            self.ctx.channel.error(job.error if isinstance(job.error, StationError)
                                   else StationError(str(job.error), "try again"))

    def _update_buttons(self) -> None:
        running = self.running
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for w in (self.from_line, self.from_folder, self.parts, self.folder, self.name, *self.size_buttons.values()):
            w.setEnabled(not running)
        v = self.validation
        self.activate_new.setVisible(v is not None)
        self.activate_new.setEnabled(v is not None and v.name != self._in_force)
        if v is not None:
            self.activate_new.setText(f"Activate {v.name}…" if v.name != self._in_force else f"{v.name} is in force")
        sel = next((m for m in self.models if m.name == self.selected), None)
        self.activate_selected.setEnabled(sel is not None and not sel.problem and sel.name != self._in_force)

    # --- validation -------------------------------------------------------------------------
    def _show_validation(self, validation: Validation | None, title: str) -> None:
        self.validation = validation
        if validation is None:
            self.check_title.setText("The new model's validation shows here when teaching is done.")
            self.chart.set_scores([], 0.0, 0.0, 0.0)
            self.figures.setText("")
        else:
            self.check_title.setText(title)
            self.chart.set_scores(validation.scores, validation.threshold, validation.hold_below,
                                  validation.hold_above)
            self.figures.setText(validation.figures())
        self._update_buttons()

    # --- models -----------------------------------------------------------------------------
    def refresh_models(self) -> None:
        """Read the models on the station in the background."""
        self.ctx.tasks.submit(self.ctx.station.changes.models, self._show_models,
                              lambda exc: self.model_list.show_problem(f"The model list could not be read: {exc}"))

    def _show_models(self, models: list[Any]) -> None:
        self._in_force = self.ctx.station.recipe.model.name
        self.models = list(models)
        limit = self._limit = self.ctx.station.active.get().thresholds.ng_from
        self.model_list.fill([(m.name, model_row_text(m, self._in_force, limit)) for m in self.models],
                             "No model on this station yet: teach one.")
        if self.selected in self.model_buttons:
            self.model_list.check(self.selected)
        self._update_buttons()

    @property
    def model_buttons(self) -> dict:
        """The list's buttons by model name."""
        return self.model_list.buttons

    def select(self, name: str, *, load: bool = True) -> None:
        """Pick model `name` in the list and show its validation (read in the background)."""
        self.selected = name
        if name in self.model_buttons:
            self.model_list.check(name)
        self._update_buttons()
        info = next((m for m in self.models if m.name == name), None)
        if load and info is not None and not info.problem:
            self.ctx.tasks.submit(lambda: Validation.of_package(info.folder),
                                  lambda v: self._show_validation(v, f"Model {name}: as taught"))

    # --- activation, signed -----------------------------------------------------------------
    def ask_signature(self, name: str) -> None:
        """Show the signature panel for putting model `name` in force."""
        if not name:
            return
        denial = self.ctx.session.denial(Permission.MODELS)
        if denial is not None:
            self.ctx.channel.error(denial)
            return
        self.signing = name
        self.signature.reset()
        self._show_signer()
        shown = self.validation if self.validation is not None and self.validation.name == name else None
        warning = f" {more_images_text(len(shown.scores), shown.more_needed)}" if shown and shown.more_needed else ""
        self.signature.set_meaning(f"Model {name} judges from the next part of recipe "
                                   f"{self.ctx.station.recipe.name}; its taught thresholds come with it as a new "
                                   f"threshold-set version. The model in force now ({self._in_force}) stays "
                                   f"selectable.{warning}")
        self.right.setCurrentWidget(self.signature)

    def _signature_closed(self) -> None:
        self.signing = None
        self.right.setCurrentIndex(0)

    def _signed(self, reason: str, pin: str) -> None:
        name, user = self.signing, self.ctx.session.user
        if name is None:
            return
        if user is None:
            self.signature.show_failure("Nobody is logged in", "log in as a technician, then sign")
            return
        changes = self.ctx.station.changes

        def done(recipe: Any) -> None:
            self.signature.reset()
            self._signature_closed()
            self.ctx.channel.info(f"Model {name} judges from the next part (threshold set version "
                                  f"{recipe.thresholds.version}, signed by {user.name})")
            self._in_force = recipe.model.name
            self.refresh_models()
            self._update_buttons()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, StationError):
                self.signature.show_failure(exc.what, exc.todo)
            else:
                self.signature.show_failure(f"the model could not be activated ({exc})", "try again")

        self.ctx.tasks.submit(lambda: changes.activate_model(name, user, pin, reason), done, failed)


__all__ = ["TeachScreen", "ScoreHistogram", "Validation", "TeachingPort"]
