"""A part's detail: image and heatmap side by side, regions, score, and the fields of its record."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QSizePolicy, QVBoxLayout, QWidget

from hmi.config.schema import InspectionRoi
from hmi.core.part import Part
from hmi.decision.policy import confidence_text
from hmi.store.audit import AuditAction, AuditEntry
from hmi.store.queries import PartRecord
from hmi.ui.part_view import HeatScale, PartImageView
from hmi.ui.symbols import VerdictBadge
from hmi.ui.theme import Fonts
from hmi.ui.touch import TouchSize, button
from hmi.ui.widgets import fill_table, image_and_heatmap_panel, label, panel, read_only_table


def _t(moment) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


def _n(value, fmt: str = "{:.3f}") -> str:
    return "—" if value is None else fmt.format(value)


def part_fields(part: Part) -> list[tuple[str, str]]:
    """What the station knows of a part in memory (before or without its stored record)."""
    insp, dec = part.inspection, part.decision
    verdict = f"{dec.verdict.label} — {dec.reason}" if dec else (part.capture_error or "—")
    ids = f"{part.part_id or '—'} / {part.lot_id or '—'}"
    timing = (f"inference {_n(insp.infer_ms if insp else None, '{:.1f} ms')}, "
              f"capture to verdict {_n(part.latency_ms, '{:.1f} ms')}")
    return [
        ("Captured", _t(part.captured_at)),
        ("Part / lot", ids),
        ("Recipe", part.recipe),
        ("Automatic verdict", verdict),
        ("Score", _n(insp.score if insp else None)),
        ("Defect confidence", confidence_text(dec.confidence if dec else None)),
        ("Threshold set", f"version {dec.threshold_version}" if dec else "—"),
        ("Model", f"{insp.model_name} ({insp.model_sha256[:12]}) on {insp.backend}" if insp else "—"),
        ("Camera", f"{part.camera.source}, exposure {part.camera.exposure_us:.0f} µs, "
                   f"gain {part.camera.gain_db:.1f} dB"),
        ("Timing", timing),
    ]


def record_fields(record: PartRecord) -> list[tuple[str, str]]:
    """The stored record's fields that only the records hold: final verdict, review, PLC delivery, images."""
    return [
        ("Final verdict", record.final_words),
        ("Reviewed by", f"{record.reviewed_by} at {_t(record.reviewed_at)}" if record.reviewed_by else "—"),
        ("Defect type", record.defect_type or "—"),
        ("Review note", record.review_note or "—"),
        ("PLC delivery", record.plc_status
         + (f" at {_t(record.plc_delivered_at)}" if record.plc_delivered_at else "")
         + (f" ({record.plc_detail})" if record.plc_detail else "")),
        ("Image on disk", record.image_path or "not kept"),
    ]


def history_lines(entries: list[AuditEntry]) -> str:
    """The part's audit history, one line per entry."""
    if not entries:
        return "No review or override recorded."
    return "\n".join(_history_line(e) for e in entries)


def _history_line(e: AuditEntry) -> str:
    when = f"{e.at[:19].replace('T', ' ')} UTC  {e.user}"
    note = f" ({e.reason})" if e.reason else ""
    if e.action == AuditAction.DOWNSTREAM_DEFECT.value:
        return f"{when}: defect found downstream — {e.new_value}{note}"
    return f"{when}: {e.action} {e.old_value or ''} → {e.new_value or ''}{note}"


class PartScreen(QWidget):
    """Detail of one part; `back_requested` returns to where the person came from."""

    back_requested = Signal()

    def __init__(self, touch: TouchSize, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        fonts = Fonts.for_touch(touch.px)
        self.part: Part | None = None
        self.record: PartRecord | None = None
        self.back = button("◀ Back", touch, wide=2.5)
        self.back.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.back.clicked.connect(self.back_requested)
        self.title = label("No part chosen", "title")
        self.image_view = PartImageView()
        self.image_view.set_overlays(heatmap=False, defects=False, roi=False)
        self.heat_view = PartImageView()
        self.scale = HeatScale(font_px=fonts.small)
        self.badge = VerdictBadge(symbol_px=touch.px, font_px=fonts.title)
        self.fields = read_only_table(["Field", "Value"], fonts.small)
        self.fields.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.regions = read_only_table(["#", "Area px²", "Peak", "x, y", "w × h"], fonts.small)
        self.history = label("", "dim", wrap=True)
        self.record_note = label("", "dim", wrap=True)

        head = QHBoxLayout()
        head.addWidget(self.back)
        head.addWidget(self.title)
        head.addWidget(self.badge, 1)
        pictures_panel, pictures = image_and_heatmap_panel(self.image_view, self.heat_view, self.scale)
        pictures.addWidget(label("Regions", "title"))
        pictures.addWidget(self.regions)
        self.regions.setMaximumHeight(touch.px * 2)

        info_panel, info = panel()
        info.addWidget(self.fields, 1)
        info.addWidget(self.record_note)
        info.addWidget(label("History", "title"))
        info.addWidget(self.history)

        body = QHBoxLayout()
        body.addWidget(pictures_panel, 3)
        body.addWidget(info_panel, 2)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addLayout(head)
        col.addLayout(body, 1)

    def show_part(self, part: Part, region_threshold: float, roi: InspectionRoi | None) -> None:
        """Show a part from memory at once; `show_record` adds the stored fields when they arrive."""
        self.part, self.record = part, None
        self.title.setText(f"Part {part.seq}")
        self.badge.set_verdict(part.verdict)
        self.scale.set_threshold(region_threshold)
        self.image_view.show_part(part, region_threshold, roi)
        self.heat_view.show_part(part, region_threshold, roi)
        fill_table(self.fields, part_fields(part))
        regions = part.inspection.regions if part.inspection is not None else ()
        fill_table(self.regions, [(str(i + 1), str(r.area_px), f"{r.peak_score:.3f}", f"{r.x}, {r.y}", f"{r.w} × {r.h}")
                             for i, r in enumerate(regions)])
        self.record_note.setText("Reading the stored record…")
        self.history.setText("")

    def show_record(self, seq: int, record: PartRecord | None, history: list[AuditEntry]) -> None:
        """Add the stored record's fields and the part's audit history (ignored if another part is shown)."""
        if self.part is None or self.part.seq != seq:
            return
        self.record = record
        if record is None:
            self.record_note.setText("Not in the records yet (it is written within a second of the verdict); "
                                     "open the part again to see its final verdict.")
        else:
            self.record_note.setText("")
            fill_table(self.fields, part_fields(self.part) + record_fields(record))
            self.badge.set_verdict(record.verdict)
        self.history.setText(history_lines(history))

    def show_record_missing(self, text: str) -> None:
        """Say why the stored record cannot be shown."""
        self.record_note.setText(text)
