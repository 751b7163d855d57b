"""The main screen: the newest part with its overlays, a large verdict, shift counters and the last parts."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from hmi.config.schema import InspectionRoi
from hmi.core.part import Part
from hmi.core.verdict import Verdict
from hmi.decision.policy import confidence_percent, confidence_text
from hmi.pipeline.metrics import StageSnapshot
from hmi.pipeline.outlet import VerdictCounts
from hmi.ui import theme
from hmi.ui.health import LineFault
from hmi.ui.part_view import HeatScale, PartImageView
from hmi.ui.strip import PartStrip
from hmi.ui.symbols import VerdictBadge, verdict_pixmap
from hmi.ui.theme import Fonts
from hmi.ui.touch import TouchSize, button
from hmi.ui.widgets import label, panel


def part_caption(part: Part) -> str:
    """One line under the image: which part, when, its score and defect confidence, and how long judging took."""
    when = part.captured_at.astimezone().strftime("%H:%M:%S")
    bits = [f"Part {part.seq}", when]
    if part.inspection is not None:
        bits.append(f"score {part.inspection.score:.3f}")
        if part.decision is not None and part.decision.confidence is not None:
            bits.append(confidence_text(part.decision.confidence))
        regions = len(part.inspection.regions)
        bits.append(f"{regions} region{'s' if regions != 1 else ''}")
    if part.latency_ms is not None:
        bits.append(f"{part.latency_ms:.0f} ms")
    return "  ·  ".join(bits)


HOLD_WAITING = "HOLD waiting"  # the one count of held parts waiting for review, as the Review screen shows it


class Counters(QWidget):
    """Shift counters per verdict (symbol, word, number), total, yield and rate.

    The HOLD row is the number of parts waiting for review now (`show_waiting`), the same number the
    Review button and screen show; a held part leaves it when someone decides it or its time runs out.
    """

    def __init__(self, touch: TouchSize, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(12)
        icon_px = max(20, touch.px // 2)
        self.values: dict[str, QLabel] = {}
        self.title: QLabel | None = None  # the panel's title, set by the live screen
        rows: list[tuple[Verdict | None, str]] = [(Verdict.OK, "OK"), (Verdict.NG, "NG"), (Verdict.HOLD, HOLD_WAITING),
                                                  (Verdict.NOT_INSPECTED, "NOT INSPECTED")]
        for r, (verdict, words) in enumerate(rows):
            sym = QLabel()
            sym.setPixmap(verdict_pixmap(verdict, icon_px))
            grid.addWidget(sym, r, 0)
            grid.addWidget(label(words), r, 1)
            value = label("0", "figure")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(value, r, 2)
            self.values[words] = value
        for r, words in enumerate(("Total", "Yield", "Rate", "Latency p50 / p99")):  # a second column: low screens
            grid.addWidget(label(words), r, 4)
            value = label("—", "figure")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(value, r, 5)
            self.values[words] = value
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(4, 1)
        grid.setColumnMinimumWidth(3, 12)

    def show_counts(self, counts: VerdictCounts, verdicts: StageSnapshot, title: str = "") -> None:
        """Refresh the figures (and the panel's title: which shift they count, or since when)."""
        if title and self.title is not None and self.title.text() != title:
            self.title.setText(title)
        figures = {
            "OK": f"{counts.ok}", "NG": f"{counts.ng}",
            "NOT INSPECTED": f"{counts.not_inspected}", "Total": f"{counts.total}",
            "Yield": f"{counts.yield_pct:.1f} %" if counts.total else "—",
            "Rate": f"{verdicts.fps * 60:.0f} /min" if verdicts.fps > 0 else "—",
            "Latency p50 / p99": (f"{verdicts.latency_p50_ms:.0f} / {verdicts.latency_p99_ms:.0f} ms"
                                  if verdicts.latency_p50_ms == verdicts.latency_p50_ms else "—"),
        }
        for key, text in figures.items():
            if self.values[key].text() != text:
                self.values[key].setText(text)

    def show_waiting(self, waiting: int) -> None:
        """The held parts waiting for review now (the station's HOLD queue)."""
        text = f"{waiting}"
        if self.values[HOLD_WAITING].text() != text:
            self.values[HOLD_WAITING].setText(text)


class LiveScreen(QWidget):
    """The newest part, drawn only when a newer one arrived; the strip opens any of the last parts."""

    part_requested = Signal(object)

    def __init__(self, touch: TouchSize, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        fonts = Fonts.for_touch(touch.px)
        self.view = PartImageView()
        self.scale = HeatScale(font_px=fonts.small)
        self.caption = label("Waiting for the first part", "dim")
        self.toggle_heatmap = button("", touch, checkable=True)
        self.toggle_defects = button("", touch, checkable=True)
        self.toggle_roi = button("", touch, checkable=True)
        self._toggle_words = {self.toggle_heatmap: "Heatmap", self.toggle_defects: "Defect outlines",
                              self.toggle_roi: "Inspection area"}
        for b in (self.toggle_heatmap, self.toggle_defects, self.toggle_roi):
            b.setChecked(True)
            b.toggled.connect(self._overlays_changed)
        self.badge = VerdictBadge(symbol_px=int(touch.px * 2.6), font_px=fonts.verdict)
        self.reason = label("", "dim", wrap=True)
        self.counters = Counters(touch)
        self.strip = PartStrip(touch)
        self.strip.part_requested.connect(self.part_requested)

        image_box, image_col = panel()
        picture = QHBoxLayout()
        picture.addWidget(self.view, 1)
        picture.addWidget(self.scale)
        image_col.addLayout(picture, 1)
        image_col.addWidget(self.caption)
        toggles = QHBoxLayout()
        toggles.addWidget(label("Show:"))
        for b in (self.toggle_heatmap, self.toggle_defects, self.toggle_roi):
            toggles.addWidget(b)
        image_col.addLayout(toggles)

        verdict_box, verdict_col = panel("Newest part")
        verdict_col.addWidget(self.badge)
        verdict_col.addWidget(self.reason)
        counts_box, counts_col = panel("This shift")
        self.counters.title = counts_box.findChild(QLabel, "title")
        counts_col.addWidget(self.counters)
        counts_col.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(verdict_box)
        right.addWidget(counts_box, 1)

        top = QHBoxLayout()
        top.addWidget(image_box, 5)
        top.addLayout(right, 3)
        strip_box, strip_col = panel("Last parts (tap for detail)")
        strip_col.addWidget(self.strip)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addLayout(top, 1)
        col.addWidget(strip_box)

        self.fault: LineFault | None = None
        self._part_reason = ""
        self.drawn_version = 0
        self.draw_listeners: list[Callable[[int, Part, float], None]] = []
        self._overlays_changed()

    def _overlays_changed(self) -> None:
        for b, words in self._toggle_words.items():
            b.setText(f"{words}: {'ON' if b.isChecked() else 'OFF'}")
        self.view.set_overlays(heatmap=self.toggle_heatmap.isChecked(), defects=self.toggle_defects.isChecked(),
                               roi=self.toggle_roi.isChecked())
        self.scale.setVisible(self.toggle_heatmap.isChecked())

    def show_fault(self, fault: LineFault | None) -> None:
        """PLC LOST, CAMERA LOST or NOT INSPECTED in the verdict area, in words and shape, with the alarm's whole
        text under it; None goes back to the newest part's verdict."""
        self.fault = fault
        self.badge.set_fault(fault.words if fault is not None else "")
        self._show_reason()

    def _show_reason(self) -> None:
        text = self.fault.detail if self.fault is not None else self._part_reason
        if self.reason.text() != text:
            self.reason.setText(text)
            self.reason.setStyleSheet(f"color: {theme.REJECT_RED}; font-weight: 600;" if self.fault else "")

    def draw(self, version: int, part: Part, region_threshold: float, roi: InspectionRoi | None) -> None:
        """Show the newest part (the caller only calls this when the version changed)."""
        self.view.show_part(part, region_threshold, roi)
        self.scale.set_threshold(region_threshold)
        self.badge.set_verdict(part.verdict)
        self._part_reason = part.decision.reason if part.decision else ""
        self._show_reason()
        confidence = part.decision.confidence if part.decision else None
        words = f"Defect confidence {confidence_percent(confidence)}" if confidence is not None else ""
        self.badge.set_detail(words)
        self.caption.setText(part_caption(part))
        self.drawn_version = version
        now = time.monotonic()
        for listener in self.draw_listeners:
            listener(version, part, now)
