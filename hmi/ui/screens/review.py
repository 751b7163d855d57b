"""Review queue: each HOLD part's image and heatmap side by side, then Good or Defect (with its type) and a note."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QButtonGroup, QHBoxLayout, QLineEdit, QPushButton, QScrollArea, QVBoxLayout,
                               QWidget)

from hmi.config.schema import InspectionRoi, Recipe
from hmi.core.verdict import Verdict
from hmi.decision.policy import confidence_text
from hmi.pipeline.holds import PendingHold
from hmi.ui.part_view import HeatScale, PartImageView
from hmi.ui.symbols import verdict_pixmap
from hmi.ui.theme import Fonts
from hmi.ui.touch import TouchSize, button
from hmi.ui.widgets import image_and_heatmap_panel, label, panel

MAX_LISTED = 40
ARM_S = 0.6  # the part put up after the operator's verdict takes one only after this long (never a double tap's)


def time_left(due_mono: float, now: float | None = None) -> str:
    """'4:32' until the recipe's default applies ('0:00' once due)."""
    left = max(0, int(due_mono - (now if now is not None else time.monotonic())))
    return f"{left // 60}:{left % 60:02d}"


def queue_row_text(hold: PendingHold, now: float | None = None) -> str:
    """The queue button's words: part, score, and when its recipe's default verdict applies."""
    part = hold.part
    score = f"score {part.inspection.score:.3f}" if part.inspection is not None else "no score"
    # three short lines: the queue column is narrow on a 1280-px panel
    return f"Part {part.seq}\n{score}\ndefault {hold.default.label} in {time_left(hold.due_mono, now)}"


def regions_text(hold: PendingHold) -> str:
    """The held part's regions, one line each (largest first)."""
    insp = hold.part.inspection
    if insp is None or not insp.regions:
        return "No region above the region threshold."
    lines = [f"{i + 1}.  {r.area_px} px²   peak {r.peak_score:.3f}   at {r.x}, {r.y}"
             for i, r in enumerate(insp.regions[:8])]
    if len(insp.regions) > 8:
        lines.append(f"… and {len(insp.regions) - 8} more")
    return "\n".join(lines)


def gone_words(gone: PendingHold) -> tuple[str, str]:
    """Title and text for a part that left the queue while on screen, without a verdict from this screen."""
    return (f"Part {gone.part.seq} is no longer waiting",
            f"Its review time ran out and the recipe's default verdict {gone.default.label} was applied. "
            "Good and Defect stay off until you tap a part in the list.")


class ReviewScreen(QWidget):
    """Emits `decided(seq, verdict, defect_type, note)`; the window checks the role and hands it to the station.

    A verdict is bound to the part on screen: when that part leaves the queue without a verdict from here
    (its time ran out), the screen says so and shows no other part until the operator picks one. Only after
    the operator's own verdict does it move on to the oldest part waiting, whose Good and Defect arm ARM_S
    later, so a double tap cannot decide it unseen.
    """

    decided = Signal(int, object, object, str)

    def __init__(self, touch: TouchSize, recipe: Recipe, hold_lane: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.touch = touch
        fonts = Fonts.for_touch(touch.px)
        self.recipe = recipe
        self.holds: list[PendingHold] = []
        self.selected: int | None = None
        self.busy_seqs: set[int] = set()
        self.gone: PendingHold | None = None   # the part that left the queue while on screen (time ran out)
        self._sent: set[int] = set()           # parts this screen's verdict was sent for
        self._armed_at = 0.0                   # monotonic s from which Good and Defect act on the part shown
        self._threshold = 1.0
        self._shown_hold: PendingHold | None = None
        self._roi: InspectionRoi | None = recipe.roi

        # Queue column: one touch button per held part, oldest first.
        self.queue_group = QButtonGroup(self)
        self.queue_group.setExclusive(True)
        self.queue_buttons: list[QPushButton] = []
        self.queue_box = QWidget()
        self.queue_col = QVBoxLayout(self.queue_box)
        self.queue_col.setContentsMargins(0, 0, 0, 0)
        self.queue_col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.queue_box)
        self.queue_title = label("Held parts: 0", "title")
        self.empty_note = label("No part is waiting for review.", "dim", wrap=True)
        queue_panel, queue_layout = panel()
        queue_layout.addWidget(self.queue_title)
        queue_layout.addWidget(self.empty_note)
        queue_layout.addWidget(scroll, 1)
        lane = ("This line has a hold lane: your verdict is sent to the PLC, which releases the part."
                if hold_lane else
                "This line has no hold lane: held parts were rejected by the line; your verdict goes to the records.")
        queue_layout.addWidget(label(lane, "dim", wrap=True))

        # Pictures: the image alone, then with heatmap and regions.
        self.image_view = PartImageView()
        self.image_view.set_overlays(heatmap=False, defects=False, roi=False)
        self.heat_view = PartImageView()
        self.scale = HeatScale(font_px=fonts.small)
        pictures_panel, pictures = image_and_heatmap_panel(self.image_view, self.heat_view, self.scale)

        # Decision column.
        self.part_title = label("—", "title")
        self.score = label("", wrap=True)
        self.regions = label("", "dim", wrap=True)
        self.countdown = label("", wrap=True)
        self.type_group = QButtonGroup(self)
        self.type_group.setExclusive(True)
        self.type_buttons: dict[str, QPushButton] = {}
        types_panel, types_col = panel("Defect type")
        for name in recipe.defect_types:
            b = button(name, touch, checkable=True)
            self.type_group.addButton(b)
            self.type_buttons[name] = b
            types_col.addWidget(b)
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note (optional)")
        self.note.setMinimumHeight(touch.px)
        self.good = button("Good", touch, tall=1.6, name="primary")
        self.good.setIcon(QIcon(verdict_pixmap(Verdict.OK, touch.px)))
        self.good.setIconSize(self.good.iconSize() * 2)
        self.defect = button("Defect", touch, tall=1.6, name="primary")
        self.defect.setIcon(QIcon(verdict_pixmap(Verdict.NG, touch.px)))
        self.defect.setIconSize(self.defect.iconSize() * 2)
        self.good.clicked.connect(lambda: self._decide(Verdict.OK))
        self.defect.clicked.connect(lambda: self._decide(Verdict.NG))
        decide_panel, decide_col = panel()
        decide_col.addWidget(self.part_title)
        decide_col.addWidget(self.score)
        decide_col.addWidget(self.countdown)
        decide_col.addWidget(label("Regions", "title"))
        decide_col.addWidget(self.regions)
        decide_col.addStretch(1)
        decide_col.addWidget(types_panel)
        decide_col.addWidget(self.note)
        buttons = QHBoxLayout()
        buttons.addWidget(self.good)
        buttons.addWidget(self.defect)
        decide_col.addLayout(buttons)

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(queue_panel, 2)
        row.addWidget(pictures_panel, 7)
        row.addWidget(decide_panel, 3)
        self._show_selected()

    # --- queue -------------------------------------------------------------------------------
    def show_queue(self, holds: list[PendingHold], region_threshold: float) -> None:
        """Refresh the queue from the station's pending holds (oldest first); keeps the selection if it is there."""
        self._threshold = region_threshold
        self.scale.set_threshold(region_threshold)
        now = time.monotonic()
        seqs = [h.part.seq for h in holds[:MAX_LISTED]]
        if seqs != [h.part.seq for h in self.holds[:MAX_LISTED]]:
            self._rebuild(holds[:MAX_LISTED])
        self.holds = holds
        for b, h in zip(self.queue_buttons, holds, strict=False):  # holds beyond MAX_LISTED have no button
            text = queue_row_text(h, now)
            if b.text() != text:
                b.setText(text)
        more = f" (showing the oldest {MAX_LISTED})" if len(holds) > MAX_LISTED else ""
        self.queue_title.setText(f"Held parts: {len(holds)}{more}")
        self.empty_note.setVisible(not holds)
        waiting = {h.part.seq for h in holds}
        shown = self.selected
        if shown is not None and shown not in waiting and shown not in self.busy_seqs:  # busy: wait for the answer
            if shown in self._sent:  # the operator's own verdict: on to the oldest part waiting
                self._put_up(holds[0].part.seq if holds else None, arm_later=True)
            else:  # it left without a verdict from here: say so, and show no other part until one is picked
                self.gone, self.selected = self._shown_hold, None
                self._show_selected()
            self._sent.discard(shown)
        elif shown is None and self.gone is None and holds:
            self._put_up(holds[0].part.seq, arm_later=False)
        self._check_selected()
        hold = self.current()
        if hold is not None:
            self.countdown.setText(f"{hold.default.label} by the recipe's default in {time_left(hold.due_mono, now)} "
                                   "if nobody decides")

    def _put_up(self, seq: int | None, *, arm_later: bool) -> None:
        """Show `seq`, chosen by the screen itself; `arm_later` right after a verdict: Good and Defect arm after
        ARM_S, so a tap meant for the part before (a double tap) cannot land on this one."""
        self.selected = seq
        self._armed_at = time.monotonic() + ARM_S if arm_later else 0.0
        if arm_later:
            QTimer.singleShot(int(ARM_S * 1000) + 20, self, self._enable)
        self._show_selected()

    def _rebuild(self, holds: list[PendingHold]) -> None:
        for b in self.queue_buttons:
            self.queue_group.removeButton(b)
            b.deleteLater()
        self.queue_buttons = []
        for i, h in enumerate(holds):
            b = button("", self.touch, checkable=True, tall=2.0)
            b.setStyleSheet("text-align: left;")
            seq = h.part.seq
            b.clicked.connect(lambda _=False, seq=seq: self.select(seq))
            self.queue_group.addButton(b)
            self.queue_col.insertWidget(i, b)
            self.queue_buttons.append(b)

    def _check_selected(self) -> None:
        for b, h in zip(self.queue_buttons, self.holds, strict=False):
            want = h.part.seq == self.selected
            if b.isChecked() != want:
                b.setChecked(want)

    def current(self) -> PendingHold | None:
        """The held part on screen."""
        return next((h for h in self.holds if h.part.seq == self.selected), None)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Coming back to the screen starts afresh: the oldest part waiting is shown."""
        if not event.spontaneous():  # not when the window itself comes back from being minimised
            self.gone = None
        super().showEvent(event)

    def select(self, seq: int) -> None:
        """Show held part `seq`."""
        self.selected, self.gone, self._armed_at = seq, None, 0.0  # picked by the operator: armed at once
        self._check_selected()
        self._show_selected()

    def _enable(self) -> None:
        """Good, Defect, note and types only for a part on screen once armed, never while a verdict is on its way."""
        enabled = self.current() is not None and not self.busy_seqs and time.monotonic() >= self._armed_at
        for w in (self.good, self.defect, self.note, *self.type_buttons.values()):
            w.setEnabled(enabled)

    def _show_selected(self) -> None:
        hold = self.current()
        self._shown_hold = hold
        self._enable()
        self.note.clear()
        checked = self.type_group.checkedButton()
        if checked is not None:
            self.type_group.setExclusive(False)
            checked.setChecked(False)
            self.type_group.setExclusive(True)
        if hold is None:
            title, words = gone_words(self.gone) if self.gone is not None else ("Nothing to review", "")
            self.part_title.setText(title)
            self.score.setText(words)
            self.regions.setText("")
            self.countdown.setText("")
            self.image_view.show_part(None, self._threshold, self._roi)
            self.heat_view.show_part(None, self._threshold, self._roi)
            return
        part = hold.part
        self.part_title.setText(f"Part {part.seq}")
        reason = part.decision.reason if part.decision else ""
        score = f"Score {part.inspection.score:.3f}" if part.inspection is not None else "No score"
        if part.decision is not None and part.decision.confidence is not None:
            score += " · " + confidence_text(part.decision.confidence).replace(" ", "\u00a0")  # never split over lines
        self.score.setText(f"{score}\n{reason}")
        self.regions.setText(regions_text(hold))
        self.scale.set_threshold(self._threshold)
        self.image_view.show_part(part, self._threshold, self._roi)
        self.heat_view.show_part(part, self._threshold, self._roi)

    # --- deciding ----------------------------------------------------------------------------
    def defect_type(self) -> str | None:
        """The chosen defect type, or None."""
        b = self.type_group.checkedButton()
        return next((name for name, tb in self.type_buttons.items() if tb is b), None)

    def _decide(self, verdict: Verdict) -> None:
        hold = self.current()
        if hold is None or self.busy_seqs or time.monotonic() < self._armed_at:
            return
        self.decided.emit(hold.part.seq, verdict, self.defect_type() if verdict is Verdict.NG else None,
                          self.note.text().strip())

    def mark_busy(self, seq: int, busy: bool) -> None:
        """Disable the buttons while a decision on `seq` is on its way to the station (it was sent from here)."""
        if busy:
            self.busy_seqs.add(seq)
            self._sent.add(seq)
        else:
            self.busy_seqs.discard(seq)
        self._enable()

    def refused(self, seq: int) -> None:
        """The station no longer had `seq` waiting when the verdict arrived: nothing was applied from here."""
        self._sent.discard(seq)
