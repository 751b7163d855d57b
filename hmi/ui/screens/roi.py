"""Inspection area (technicians): draw rectangles and polygons on the newest image, move or delete them,
see what the model will ignore, then apply with a signature; the next part is judged inside the new area only.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (QButtonGroup, QGraphicsRectItem, QHBoxLayout, QSizePolicy, QStackedWidget, QVBoxLayout,
                               QWidget)

from hmi.config.schema import InspectionRoi, Recipe
from hmi.core.errors import StationError
from hmi.core.part import Part
from hmi.inference.processing import roi_mask
from hmi.store.users import Permission
from hmi.ui import imaging, theme
from hmi.ui.context import ScreenContext
from hmi.ui.signature import SignaturePanel
from hmi.ui.touch import button
from hmi.ui.widgets import label, panel

MIN_RECT_PX = 4          # a drag shorter than this draws nothing (a tap, not a rectangle)
OUTSIDE_RGBA = (25, 25, 25, 170)   # what the model ignores is shaded, the inspection area left clear
HATCH_RGBA = (215, 215, 215, 150)  # light diagonal hatching, so the shade shows on dark parts too
HATCH_PERIOD = 14

RECTANGLE, POLYGON, SELECT = "rectangle", "polygon", "select"


def clip_rectangle(x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The rectangle between two corners in whole frame pixels, kept inside the frame; None when too small."""
    left, right = sorted((int(round(x0)), int(round(x1))))
    top, bottom = sorted((int(round(y0)), int(round(y1))))
    left, top = max(0, left), max(0, top)
    right, bottom = min(width, right), min(height, bottom)
    if right - left < MIN_RECT_PX or bottom - top < MIN_RECT_PX:
        return None
    return left, top, right - left, bottom - top


def clip_polygon(points: list[tuple[float, float]], width: int, height: int) -> list[tuple[int, int]]:
    """Polygon corners in whole frame pixels, kept inside the frame."""
    return [(int(min(max(round(x), 0), width)), int(min(max(round(y), 0), height))) for x, y in points]


def area_words(roi: InspectionRoi, shape: tuple[int, int] | None) -> str:
    """'2 rectangles, 1 polygon: 64 % of the image is inspected' (or the whole image)."""
    if not roi.rectangles and not roi.polygons:
        return "No shape: the whole image is inspected."
    n_r, n_p = len(roi.rectangles), len(roi.polygons)
    parts = [f"{n_r} rectangle{'s' if n_r != 1 else ''}"] if n_r else []
    parts += [f"{n_p} polygon{'s' if n_p != 1 else ''}"] if n_p else []
    if shape is None:
        return ", ".join(parts)
    mask = roi_mask(shape, [tuple(r) for r in roi.rectangles], [[tuple(p) for p in poly] for poly in roi.polygons])
    share = 100.0 * float((mask > 0).mean()) if mask is not None else 100.0
    return f"{', '.join(parts)}: {share:.0f} % of the image is inspected."


def outside_overlay(roi: InspectionRoi, shape: tuple[int, int]) -> np.ndarray | None:
    """RGBA image (at overlay size) shading what lies outside the area; None when the whole frame counts."""
    if not roi.rectangles and not roi.polygons:
        return None
    h, w = imaging.overlay_shape(shape)
    kx, ky = w / shape[1], h / shape[0]
    rects = [(round(x * kx), round(y * ky), max(1, round(rw * kx)), max(1, round(rh * ky)))
             for x, y, rw, rh in roi.rectangles]
    polys = [[(round(x * kx), round(y * ky)) for x, y in poly] for poly in roi.polygons]
    mask = roi_mask((h, w), rects, polys)
    rgba = np.zeros((h, w, 4), np.uint8)
    outside = mask == 0
    yy, xx = np.indices((h, w))
    hatch = ((xx + yy) % HATCH_PERIOD) < 2
    rgba[outside & ~hatch] = OUTSIDE_RGBA
    rgba[outside & hatch] = HATCH_RGBA
    return np.ascontiguousarray(rgba)


class DrawingView(pg.GraphicsView):
    """The image with editable shapes: drag draws a rectangle, taps add polygon corners, shapes move and resize.

    Shapes are pyqtgraph ROI items with handles the size of a fingertip; coordinates are frame pixels.
    """

    def __init__(self, touch_px: int, on_change, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=theme.IMAGE_BACKGROUND)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.box = pg.ViewBox(lockAspect=True, invertY=True, enableMouse=False, enableMenu=False, defaultPadding=0.0)
        self.setCentralItem(self.box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setLookupTable(imaging.grey_lut())
        self.image_item.setLevels(imaging.LEVELS)
        self.shade = pg.ImageItem(axisOrder="row-major")
        self.shade.setZValue(5)
        self.box.addItem(self.image_item)
        self.box.addItem(self.shade)
        self.handle_px = max(8, -(-touch_px // 2))  # radius: a handle is at least one touch target (9 mm) across
        self.on_change = on_change
        self.tool = RECTANGLE
        self.shape: tuple[int, int] | None = None
        self.rects: list[pg.RectROI] = []
        self.polys: list[pg.PolyLineROI] = []
        self.selected: pg.ROI | None = None
        self.points: list[tuple[float, float]] = []
        self._drag_from: QPointF | None = None
        self.rubber = QGraphicsRectItem()
        pen = QPen(QColor(theme.ON_COLOUR), 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.rubber.setPen(pen)
        self.rubber.setZValue(30)
        self.rubber.hide()
        self.box.addItem(self.rubber)
        self.open_line = pg.PlotDataItem(pen=pg.mkPen(theme.ON_COLOUR, width=2), symbol="o",
                                         symbolSize=2 * self.handle_px, symbolBrush=pg.mkBrush(theme.ON_COLOUR))
        self.open_line.setZValue(30)
        self.box.addItem(self.open_line)

    # --- image -------------------------------------------------------------------------------
    def show_image(self, image: np.ndarray) -> None:
        """The frame to draw on (the shapes stay where they are)."""
        frame = imaging.display_frame(image)
        self.image_item.setImage(frame, autoLevels=False)
        shape = frame.shape[:2]
        if self.shape != shape:
            self.shape = (int(shape[0]), int(shape[1]))
            self.box.setRange(QRectF(0, 0, shape[1], shape[0]), padding=0.0)
            self.refresh_shade()

    def refresh_shade(self) -> None:
        """Shade what lies outside the shapes drawn now."""
        if self.shape is None:
            return
        overlay = outside_overlay(self.roi(), self.shape)
        if overlay is None:
            self.shade.hide()
            return
        self.shade.setImage(overlay, autoLevels=False, levels=(0, 255))
        self.shade.setRect(QRectF(0, 0, self.shape[1], self.shape[0]))
        self.shade.show()

    # --- shapes ------------------------------------------------------------------------------
    def roi(self) -> InspectionRoi:
        """The shapes as the recipe keeps them (frame pixels)."""
        h, w = self.shape or (1_000_000, 1_000_000)
        rects = []
        for item in self.rects:
            pos, size = item.pos(), item.size()
            rect = clip_rectangle(pos.x(), pos.y(), pos.x() + size.x(), pos.y() + size.y(), w, h)
            if rect is not None:
                rects.append(rect)
        polys = []
        for item in self.polys:
            corners_at = [item.mapToParent(pos) for _name, pos in item.getLocalHandlePositions()]
            pts = [(p.x(), p.y()) for p in corners_at]
            corners = clip_polygon(pts, w, h)
            if len(corners) >= 3:
                polys.append(corners)
        return InspectionRoi(rectangles=rects, polygons=polys)

    def set_roi(self, roi: InspectionRoi) -> None:
        """Replace the shapes with `roi`'s."""
        for item in [*self.rects, *self.polys]:
            self.box.removeItem(item)
        self.rects, self.polys, self.selected = [], [], None
        self.cancel_polygon()
        for x, y, w, h in roi.rectangles:
            self.add_rectangle(x, y, w, h, notify=False)
        for poly in roi.polygons:
            self.add_polygon([tuple(p) for p in poly], notify=False)
        self.refresh_shade()

    def _touchable(self, item: pg.ROI) -> None:
        item.handleSize = self.handle_px
        item.handlePen = pg.mkPen(theme.ON_COLOUR, width=2)
        handle_pen = pg.mkPen(theme.ON_COLOUR, width=2)
        for handle in item.getHandles():
            handle.radius = self.handle_px
            handle.pen = handle.currentPen = handle_pen
            handle.buildPath()
        item.setZValue(20)
        item.sigRegionChangeFinished.connect(lambda _item: self._changed())
        item.sigClicked.connect(lambda it, _ev: self.select(it))
        item.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self._paint(item, False)

    def _paint(self, item: pg.ROI, selected: bool) -> None:
        colour = theme.ALARM_MEDIUM if selected else theme.ON_COLOUR
        item.setPen(pg.mkPen(colour, width=4 if selected else 2))

    def add_rectangle(self, x: float, y: float, w: float, h: float, notify: bool = True) -> pg.RectROI:
        """A movable, resizable rectangle."""
        item = pg.RectROI((x, y), (w, h), movable=True, removable=False, rotatable=False, invertible=False)
        self.box.addItem(item)
        self.rects.append(item)
        self._touchable(item)
        if notify:
            self._changed()
        return item

    def add_polygon(self, points: list[tuple[float, float]], notify: bool = True) -> pg.PolyLineROI:
        """A closed polygon whose corners can be dragged."""
        item = pg.PolyLineROI(points, closed=True, movable=True, removable=False)
        self.box.addItem(item)
        self.polys.append(item)
        self._touchable(item)
        if notify:
            self._changed()
        return item

    def select(self, item: pg.ROI | None) -> None:
        """Mark `item` as the selected shape (thicker, amber outline)."""
        if self.selected is not None:
            self._paint(self.selected, False)
        self.selected = item
        if item is not None:
            self._paint(item, True)
        self.on_change(False)

    def delete_selected(self) -> bool:
        """Remove the selected shape; False when none is selected."""
        item = self.selected
        if item is None:
            return False
        self.selected = None
        (self.rects if item in self.rects else self.polys).remove(item)
        self.box.removeItem(item)
        self._changed()
        return True

    def clear(self) -> None:
        """Remove every shape (the whole image is inspected)."""
        self.set_roi(InspectionRoi())
        self._changed()

    def _changed(self) -> None:
        self.refresh_shade()
        self.on_change(True)

    # --- polygon in progress -----------------------------------------------------------------
    def add_point(self, x: float, y: float) -> None:
        """A tapped corner; tapping near the first corner closes the polygon."""
        if len(self.points) >= 3:
            fx, fy = self.points[0]
            near = self.handle_px * 1.5 * self._pixels_per_screen_px()
            if (x - fx) ** 2 + (y - fy) ** 2 <= near ** 2:
                self.finish_polygon()
                return
        self.points.append((x, y))
        self._draw_open()

    def finish_polygon(self) -> bool:
        """Close the polygon being tapped; False when it has fewer than three corners."""
        if len(self.points) < 3:
            return False
        w, h = (self.shape[1], self.shape[0]) if self.shape else (1_000_000, 1_000_000)
        item = self.add_polygon([tuple(p) for p in clip_polygon(self.points, w, h)], notify=False)
        self.cancel_polygon()
        self.select(item)
        self._changed()
        return True

    def cancel_polygon(self) -> None:
        """Forget the corners tapped so far."""
        self.points = []
        self._draw_open()

    def _draw_open(self) -> None:
        if self.points:
            xs, ys = zip(*self.points, strict=True)
            self.open_line.setData(list(xs), list(ys))
        else:
            self.open_line.setData([], [])

    def _pixels_per_screen_px(self) -> float:
        rect = self.box.viewRect()
        return rect.width() / max(1.0, self.box.width())

    # --- pointer -----------------------------------------------------------------------------
    def _shape_at(self, pos) -> pg.ROI | None:
        scene = self.mapToScene(pos.toPoint())
        for item in reversed([*self.rects, *self.polys]):
            if item.mapToScene(item.shape()).contains(scene):
                return item
            if any(h.sceneBoundingRect().contains(scene) for h in item.getHandles()):
                return item
        return None

    def frame_point(self, pos) -> QPointF:
        """Frame coordinates of a point on the widget."""
        return self.box.mapSceneToView(self.mapToScene(pos.toPoint() if hasattr(pos, "toPoint") else pos))

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Rectangle: start a drag; polygon: add a corner; select: hand over to the shapes."""
        if self.tool == SELECT or event.button() != Qt.MouseButton.LeftButton or self.shape is None:
            if self.tool == SELECT and self._shape_at(event.position()) is None:
                self.select(None)  # a tap beside every shape clears the selection
            super().mousePressEvent(event)
            return
        point = self.frame_point(event.position())
        if self.tool == RECTANGLE:
            self._drag_from = point
            self.rubber.setRect(QRectF(point, point))
            self.rubber.show()
        else:
            self.add_point(point.x(), point.y())
        event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Stretch the rectangle being drawn."""
        if self._drag_from is None:
            super().mouseMoveEvent(event)
            return
        self.rubber.setRect(QRectF(self._drag_from, self.frame_point(event.position())).normalized())
        event.accept()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Finish the rectangle (a mere tap draws none)."""
        if self._drag_from is None:
            super().mouseReleaseEvent(event)
            return
        start, end = self._drag_from, self.frame_point(event.position())
        self._drag_from = None
        self.rubber.hide()
        h, w = self.shape or (0, 0)
        rect = clip_rectangle(start.x(), start.y(), end.x(), end.y(), w, h)
        if rect is not None:
            self.select(self.add_rectangle(*rect))
        event.accept()


class RoiScreen(QWidget):
    """Draw the inspection area on the newest image and apply it, signed, to the recipe in force."""

    def __init__(self, ctx: ScreenContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        touch = ctx.touch
        self.drawn_version = 0
        self.saved: InspectionRoi = ctx.station.recipe.roi
        self.dirty = False

        self.view = DrawingView(touch.px, self._shapes_changed)
        self.caption = label("Waiting for the first image", "dim")
        self.live = button("Take newest image", touch)
        self.live.clicked.connect(lambda: self.take_newest(force=True))
        image_box, image_col = panel("Inspection area (the shaded part is not inspected)")
        image_col.addWidget(self.view, 1)
        under = QHBoxLayout()
        under.addWidget(self.caption, 1)
        self.live.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.live.setMinimumWidth(self.live.sizeHint().width() + touch.px // 2)
        under.addWidget(self.live)
        image_col.addLayout(under)

        # Tools.
        tools_box, tools_col = panel("Draw")
        self.tool_group = QButtonGroup(self)
        self.tool_group.setExclusive(True)
        self.tools: dict[str, object] = {}
        for key, words in ((RECTANGLE, "▭ Rectangle: drag"), (POLYGON, "⬠ Polygon: tap corners"),
                           (SELECT, "✥ Select and move")):
            b = button(words, touch, checkable=True)
            b.setStyleSheet("text-align: left;")
            b.clicked.connect(lambda _=False, k=key: self.set_tool(k))
            self.tool_group.addButton(b)
            self.tools[key] = b
            tools_col.addWidget(b)
        polygon_row = QHBoxLayout()
        self.done = button("Close polygon", touch)
        self.done.clicked.connect(self.close_polygon)
        self.undo_point = button("Undo corner", touch)
        self.undo_point.clicked.connect(self._undo_point)
        polygon_row.addWidget(self.done)
        polygon_row.addWidget(self.undo_point)
        tools_col.addLayout(polygon_row)
        edit_row = QHBoxLayout()
        self.delete = button("Delete selected", touch)
        self.delete.clicked.connect(self.delete_selected)
        self.clear = button("Clear all", touch)
        self.clear.clicked.connect(self.view.clear)
        edit_row.addWidget(self.delete)
        edit_row.addWidget(self.clear)
        tools_col.addLayout(edit_row)
        self.hint = label("", "dim", wrap=True)
        tools_col.addWidget(self.hint)
        self.summary = label("", wrap=True)
        tools_col.addWidget(self.summary)
        tools_col.addStretch(1)
        actions = QHBoxLayout()
        self.revert = button("Revert", touch)
        self.revert.clicked.connect(self.revert_to_saved)
        self.apply = button("Apply…", touch, name="primary")
        self.apply.clicked.connect(self.ask_signature)
        actions.addWidget(self.revert, 1)
        actions.addWidget(self.apply, 2)
        tools_col.addLayout(actions)

        self.signature = SignaturePanel(touch, "Sign the new inspection area",
                                        reasons=("New product", "Fixture moved"))
        self.signature.signed.connect(self.apply_signed)
        self.signature.cancelled.connect(lambda: self.side.setCurrentWidget(tools_box))
        self.side = QStackedWidget()
        self.side.addWidget(tools_box)
        self.side.addWidget(self.signature)
        self.tools_box = tools_box

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(image_box, 5)
        right = QVBoxLayout()
        right.addWidget(self.side)
        row.addLayout(right, 3)

        self.view.set_roi(self.saved)
        self.set_tool(RECTANGLE)
        self._shapes_changed(False)

    # --- the window's calls ------------------------------------------------------------------------
    def on_show(self) -> None:
        """Start from the recipe's area in force and the newest image."""
        self.side.setCurrentWidget(self.tools_box)
        if not self.dirty:
            self.saved = self.ctx.station.recipe.roi
            self.view.set_roi(self.saved)
            self._shapes_changed(False)
        self.take_newest(force=True)

    def on_tick(self) -> None:
        """Take the first image when none is drawn yet (the image does not change under a drawing hand)."""
        if self.view.shape is None:
            self.take_newest(force=True)

    def prepare_screenshot(self) -> None:
        """The newest image with the recipe's area."""
        self.on_show()

    # --- image -------------------------------------------------------------------------------------
    def take_newest(self, force: bool = False) -> None:
        """Draw on the newest image."""
        version, part = self.ctx.station.newest.peek()
        if not isinstance(part, Part) or part.image is None or (version == self.drawn_version and not force):
            return
        self.drawn_version = version
        self.view.show_image(part.image)
        self.caption.setText(f"Part {part.seq} · {part.image.shape[1]} x {part.image.shape[0]} px · "
                             f"recipe {self.ctx.station.recipe.name}")
        self._shapes_changed(self.dirty)

    # --- tools -------------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        """Rectangle, polygon or select."""
        if tool != POLYGON:
            self.view.cancel_polygon()
        self.view.tool = tool
        self.tools[tool].setChecked(True)
        self.done.setEnabled(tool == POLYGON)
        self.undo_point.setEnabled(tool == POLYGON)
        self.hint.setText({
            RECTANGLE: "Drag across the image to draw a rectangle.",
            POLYGON: "Tap the corners one by one; tap the first corner again, or Close polygon, to finish.",
            SELECT: "Tap a shape to select it; drag it to move it, drag its round handles to reshape it.",
        }[tool])

    def close_polygon(self) -> None:
        """Finish the polygon being tapped."""
        if not self.view.finish_polygon():
            self.ctx.channel.warning("A polygon needs at least three corners", "tap more corners on the image")

    def _undo_point(self) -> None:
        if self.view.points:
            self.view.points.pop()
            self.view._draw_open()

    def delete_selected(self) -> None:
        """Remove the selected shape."""
        if not self.view.delete_selected():
            self.ctx.channel.warning("No shape is selected", "tap Select and move, then tap the shape to delete")

    def revert_to_saved(self) -> None:
        """Throw away the edits: back to the area in force."""
        self.view.set_roi(self.saved)
        self._shapes_changed(False)

    def _shapes_changed(self, _edited: bool = True) -> None:
        roi = self.view.roi()
        self.dirty = roi != self.saved
        text = area_words(roi, self.view.shape)
        self.summary.setText(("Not applied yet — " if self.dirty else "In force — ") + text)
        self.apply.setEnabled(self.dirty)
        self.revert.setEnabled(self.dirty)
        self.delete.setEnabled(self.view.selected is not None)

    # --- applying ----------------------------------------------------------------------------------
    def ask_signature(self) -> None:
        """Show the signature panel for the drawn area (technicians only)."""
        denial = self.ctx.session.denial(Permission.ROI)
        if denial is not None:
            self.ctx.channel.warning(denial.what, denial.todo)
            return
        user = self.ctx.session.user
        self.signature.reset()
        self.signature.set_signer(user.name, user.role.value)
        self.signature.set_meaning(f"Recipe {self.ctx.station.recipe.name}: {area_words(self.view.roi(), self.view.shape)}")
        self.side.setCurrentWidget(self.signature)

    def apply_signed(self, reason: str, pin: str) -> None:
        """Put the drawn area in force (background): signed, saved in the recipe, audited, model reloaded."""
        user = self.ctx.session.user
        if user is None:
            self.signature.show_failure("Nobody is logged in", "log in, then apply again")
            return
        roi = self.view.roi()
        changes = self.ctx.station.changes

        def done(recipe: Recipe) -> None:
            self.saved = recipe.roi
            self.view.set_roi(recipe.roi)
            self._shapes_changed(False)
            self.signature.reset()
            self.side.setCurrentWidget(self.tools_box)
            self.ctx.channel.info(f"Inspection area of recipe {recipe.name} applied by {user.name}: "
                                  f"{area_words(recipe.roi, self.view.shape)} It counts from the next part.")

        def failed(exc: BaseException) -> None:
            if isinstance(exc, StationError):
                self.signature.show_failure(exc.what, exc.todo)
            else:
                self.signature.show_failure("The inspection area could not be applied", "try again; if it repeats, "
                                            "call service")
                self.ctx.channel.error(exc)

        self.ctx.tasks.submit(lambda: changes.set_roi(roi, user, pin, reason), done, failed)


__all__ = ["DrawingView", "RoiScreen", "area_words", "clip_polygon", "clip_rectangle", "outside_overlay"]
