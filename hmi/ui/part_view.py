"""A part's image with toggled overlays (heatmap, defect contours with area, ROI), on pyqtgraph's fast path.

The frame goes to the ImageItem as C-contiguous uint8 with fixed levels and a 256-entry grey LUT;
the heatmap is a second uint8 ImageItem with a 256-entry RGBA LUT, so neither needs per-pixel Python.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QLinearGradient, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QSizePolicy, QWidget

from hmi.config.schema import InspectionRoi
from hmi.core.part import DefectRegion, Part
from hmi.decision.policy import score_text
from hmi.ui import imaging, theme

MAX_LABELS = 8


def _path_of(points) -> QPainterPath:
    path = QPainterPath()
    pts = list(points)
    if len(pts) >= 2:
        path.moveTo(QPointF(*pts[0]))
        for x, y in pts[1:]:
            path.lineTo(QPointF(x, y))
        path.closeSubpath()
    return path


def contour_path(regions: tuple[DefectRegion, ...]) -> QPainterPath:
    """One path holding every region's outline (its bounding box when the model gave no contour)."""
    path = QPainterPath()
    for r in regions:
        if len(r.contour) >= 3:
            path.addPath(_path_of(r.contour))
        else:
            path.addRect(QRectF(r.x, r.y, r.w, r.h))
    return path


def roi_path(roi: InspectionRoi | None) -> QPainterPath:
    """The recipe's region of interest as an outline (empty when the whole frame counts)."""
    path = QPainterPath()
    if roi is None:
        return path
    for x, y, w, h in roi.rectangles:
        path.addRect(QRectF(x, y, w, h))
    for poly in roi.polygons:
        if len(poly) >= 3:
            path.addPath(_path_of(poly))
    return path


def area_words(region: DefectRegion) -> str:
    """'412 px²' for a region's label on the image."""
    return f"{region.area_px} px²"


class PartImageView(pg.GraphicsView):
    """One part's frame with optional overlays; the view fits the frame and does not pan or zoom."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=theme.IMAGE_BACKGROUND)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.box = pg.ViewBox(lockAspect=True, invertY=True, enableMouse=False, enableMenu=False, defaultPadding=0.0)
        self.setCentralItem(self.box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setLookupTable(imaging.grey_lut())
        self.image_item.setLevels(imaging.LEVELS)
        self.heat_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item.setLookupTable(imaging.heat_lut())
        self.heat_item.setLevels(imaging.LEVELS)
        self.heat_item.setZValue(10)
        self.contours = QGraphicsPathItem()
        pen = QPen(QColor(theme.REJECT_RED), 3)
        pen.setCosmetic(True)
        self.contours.setPen(pen)
        self.contours.setZValue(20)
        self.roi_outline = QGraphicsPathItem()
        roi_pen = QPen(QColor("#F4F4F4"), 2, Qt.PenStyle.DashLine)
        roi_pen.setCosmetic(True)
        self.roi_outline.setPen(roi_pen)
        self.roi_outline.setZValue(15)
        for item in (self.image_item, self.heat_item, self.contours, self.roi_outline):
            self.box.addItem(item)
        self.labels: list[pg.TextItem] = []
        self.notice = pg.TextItem("", color=theme.ON_COLOUR, anchor=(0.5, 0.5), fill=pg.mkBrush(60, 60, 60, 220))
        self.notice.setZValue(30)
        self.box.addItem(self.notice)
        self.notice.hide()
        self.show_heatmap = True
        self.show_defects = True
        self.show_roi = True
        self._shape: tuple[int, int] | None = None
        self._part: Part | None = None
        self._threshold = 1.0
        self._roi: InspectionRoi | None = None

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """A comfortable default; layouts stretch it."""
        return QSize(640, 480)

    # --- what is shown -----------------------------------------------------------------------
    def set_overlays(self, *, heatmap: bool | None = None, defects: bool | None = None,
                     roi: bool | None = None) -> None:
        """Switch overlays on or off and redraw the current part."""
        if heatmap is not None:
            self.show_heatmap = heatmap
        if defects is not None:
            self.show_defects = defects
        if roi is not None:
            self.show_roi = roi
        if self._part is not None:
            self.show_part(self._part, self._threshold, self._roi)

    def show_part(self, part: Part | None, region_threshold: float, roi: InspectionRoi | None) -> None:
        """Draw `part` (None clears the view); the heatmap's defect colour starts at `region_threshold` (NG from)."""
        self._part, self._threshold, self._roi = part, region_threshold, roi
        if part is None or part.image is None:
            self._no_image(part)
            return
        frame = imaging.display_frame(part.image)
        h, w = frame.shape[:2]
        self.notice.hide()
        self.image_item.setImage(frame, autoLevels=False)
        if self._shape != (h, w):
            self._shape = (h, w)
            self.box.setRange(QRectF(0, 0, w, h), padding=0.0)
        self._draw_heatmap(part, (h, w))
        self._draw_defects(part)
        self.roi_outline.setPath(roi_path(roi) if self.show_roi else QPainterPath())

    def _draw_heatmap(self, part: Part, shape: tuple[int, int]) -> None:
        amap = part.inspection.anomaly_map if part.inspection is not None else None
        if not self.show_heatmap or amap is None or self._threshold <= 0:
            self.heat_item.hide()
            return
        self.heat_item.setImage(imaging.heat_index(amap, self._threshold, shape), autoLevels=False)
        self.heat_item.setRect(QRectF(0, 0, shape[1], shape[0]))
        self.heat_item.show()

    def _draw_defects(self, part: Part) -> None:
        regions = part.inspection.regions if (self.show_defects and part.inspection is not None) else ()
        self.contours.setPath(contour_path(regions))
        while len(self.labels) < min(len(regions), MAX_LABELS):
            label = pg.TextItem("", color=theme.ON_COLOUR, anchor=(0, 1), fill=pg.mkBrush(150, 20, 20, 230))
            font = QFont()
            font.setPixelSize(16)
            font.setBold(True)
            label.setFont(font)
            label.setZValue(25)
            self.box.addItem(label)
            self.labels.append(label)
        for i, label in enumerate(self.labels):
            if i < len(regions) and i < MAX_LABELS:
                r = regions[i]
                label.setText(area_words(r))
                label.setPos(r.x, r.y)
                label.show()
            else:
                label.hide()

    def _no_image(self, part: Part | None) -> None:
        self.image_item.clear()
        self.heat_item.hide()
        self.contours.setPath(QPainterPath())
        self.roi_outline.setPath(QPainterPath())
        for label in self.labels:
            label.hide()
        if part is None:
            self.notice.hide()
            return
        reason = part.capture_error or (part.decision.reason if part.decision else "")
        self.notice.setText(f"Part {part.seq}: no image\n{reason}")
        w, h = (self._shape[1], self._shape[0]) if self._shape else (100, 100)
        if self._shape is None:
            self.box.setRange(QRectF(0, 0, w, h), padding=0.0)
        self.notice.setPos(w / 2, h / 2)
        self.notice.show()

    @property
    def drawn_part(self) -> Part | None:
        """The part on screen."""
        return self._part


class HeatScale(QWidget):
    """The heatmap's colour bar, saying what the colours mean."""

    def __init__(self, parent: QWidget | None = None, font_px: int = 16) -> None:
        super().__init__(parent)
        self.threshold = 1.0
        self.font_px = font_px
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self._lut = imaging.heat_lut()
        self._fit_width()

    def set_threshold(self, threshold: float) -> None:
        """The defect limit in force (NG from) the scale is drawn around."""
        if threshold != self.threshold:
            self.threshold = threshold
            self._fit_width()
            self.update()

    def caption(self) -> str:
        """The scale's meaning in words."""
        return f"anomaly score\n≥ {score_text(self.threshold)} = defect"

    def ticks(self) -> list[tuple[float, str]]:
        """(position 0..1 from the bottom, words) of the scale's marks."""
        t = self.threshold
        return [(0.0, "0"), (0.5, f"{score_text(t)} NG"), (1.0, f"≥ {score_text(t * imaging.HEAT_SCALE_TOP)}")]

    def _font(self) -> QFont:
        font = QFont()
        font.setPixelSize(self.font_px)
        return font

    def _fit_width(self) -> None:
        fm = QFontMetrics(self._font())
        tick_w = max(fm.horizontalAdvance(words) for _, words in self.ticks())
        caption_w = max(fm.horizontalAdvance(line) for line in self.caption().split("\n"))
        self.setFixedWidth(int(max(caption_w + 8, 4 + self.font_px * 1.6 + 12 + tick_w + 6)))

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Bar (colours over the image's grey), tick labels, and the caption on top."""
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setFont(self._font())
        caption_h = self.font_px * 3
        p.setPen(QColor(theme.TEXT))
        p.drawText(QRectF(0, 0, self.width(), caption_h), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop),
                   self.caption())
        top, bottom = caption_h + self.font_px * 0.6, self.height() - self.font_px
        bar = QRectF(4, top, self.font_px * 1.6, max(10.0, bottom - top))
        p.fillRect(bar, QColor(theme.IMAGE_BACKGROUND))
        grad = QLinearGradient(bar.bottomLeft(), bar.topLeft())
        for i in range(256):
            grad.setColorAt(i / 255.0, QColor(*(int(v) for v in self._lut[i])))
        p.fillRect(bar, grad)
        p.setPen(QPen(QColor(theme.TEXT), 1))
        p.drawRect(bar)
        for frac, words in self.ticks():
            y = bar.bottom() - frac * bar.height()
            p.setPen(QPen(QColor(theme.TEXT), 3 if frac == 0.5 else 1))
            p.drawLine(QPointF(bar.left(), y), QPointF(bar.right() + 8, y))
            p.drawText(QRectF(bar.right() + 12, y - self.font_px, self.width() - bar.right() - 12, self.font_px * 2),
                       int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), words)
        p.end()

