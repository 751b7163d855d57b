"""Touch targets sized in millimetres at the panel's DPI, and a walk that finds any that are too small.

Two sizes: every target at least `min_mm` (9 mm), primary actions (Good/Defect, Log in, the navigation bar,
keypads, the screen's main action) at least `primary_mm` (15 mm). A primary target carries the Qt property
PRIMARY, so the walk checks it against the larger size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QAbstractSlider, QComboBox, QHeaderView, QLineEdit,
                               QPushButton, QSizePolicy, QToolButton, QWidget)

from hmi.config.schema import UiConfig

MM_PER_INCH = 25.4
PRIMARY = "touchPrimary"  # Qt property set on primary targets


@dataclass(frozen=True)
class TouchSize:
    """The smallest edge a touch target may have, in millimetres and in panel pixels (any target, primary action)."""

    panel_dpi: float
    min_mm: float
    primary_mm: float = 15.0

    @property
    def px(self) -> int:
        """Smallest edge of any target in pixels, rounded up so a target is never under the limit."""
        return self.pixels(self.min_mm)

    @property
    def primary_px(self) -> int:
        """Smallest edge of a primary action in pixels (never less than `px`)."""
        return max(self.px, self.pixels(self.primary_mm))

    def pixels(self, mm: float) -> int:
        """`mm` millimetres in panel pixels, rounded up."""
        return math.ceil(mm / MM_PER_INCH * self.panel_dpi - 1e-9)

    def mm(self, px: float) -> float:
        """Length in millimetres of `px` panel pixels."""
        return px / self.panel_dpi * MM_PER_INCH

    @classmethod
    def of(cls, ui: UiConfig) -> "TouchSize":
        """The size the station file asks for (ui.panel_dpi, ui.min_touch_mm, ui.min_primary_mm)."""
        return cls(ui.panel_dpi, ui.min_touch_mm, ui.min_primary_mm)


def sized(widget: QWidget, touch: TouchSize, *, wide: float = 1.0, tall: float = 1.0,
          primary: bool = False) -> QWidget:
    """Give `widget` a minimum size of at least one touch target (times `wide` and `tall`).

    A `primary` widget is at least a primary target each way, and is marked so the walk checks it as one.
    """
    least = touch.primary_px if primary else touch.px
    if primary:
        widget.setProperty(PRIMARY, True)
    widget.setMinimumSize(max(widget.minimumWidth(), least, math.ceil(touch.px * wide)),
                          max(widget.minimumHeight(), least, math.ceil(touch.px * tall)))
    return widget


def is_primary(widget: QWidget) -> bool:
    """Whether `widget` was sized as a primary action."""
    return bool(widget.property(PRIMARY))


def button(text: str, touch: TouchSize, *, checkable: bool = False, wide: float = 1.0, tall: float = 1.0,
           name: str = "", primary: bool = False, parent: QWidget | None = None) -> QPushButton:
    """A push button no smaller than a touch target; `name` picks a style (primary, abnormal, warning).

    The style "primary" (or `primary`) makes it a primary action: at least `touch.primary_px` each way.
    """
    b = QPushButton(text, parent)
    b.setCheckable(checkable)
    if name:
        b.setObjectName(name)
    vertical = QSizePolicy.Policy.Fixed if tall == 1.0 else QSizePolicy.Policy.Expanding
    b.setSizePolicy(QSizePolicy.Policy.Expanding, vertical)
    return sized(b, touch, wide=wide, tall=tall, primary=primary or name == "primary")  # type: ignore[return-value]


def tool_button(text: str, touch: TouchSize, *, wide: float = 1.0, tall: float = 1.0,
                parent: QWidget | None = None) -> QToolButton:
    """A tool button (icon above text) no smaller than a touch target."""
    b = QToolButton(parent)
    b.setText(text)
    b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
    return sized(b, touch, wide=wide, tall=tall)  # type: ignore[return-value]


@dataclass(frozen=True)
class TouchTarget:
    """A widget a finger can act on, with its size on screen."""

    widget: QWidget
    what: str
    width: int
    height: int
    primary: bool = False

    def smallest(self, touch: TouchSize) -> int:
        """The smallest edge this target may have, in pixels."""
        return touch.primary_px if self.primary else touch.px

    def too_small(self, touch: TouchSize) -> bool:
        """Whether either edge is under the limit for its kind."""
        return min(self.width, self.height) < self.smallest(touch)


def _describe(w: QWidget) -> str:
    text = w.text() if isinstance(w, (QAbstractButton, QLineEdit)) else ""
    name = w.objectName()
    return f"{type(w).__name__}{f' {name!r}' if name else ''}{f' {text!r}' if text else ''}"


def touch_targets(root: QWidget) -> list[TouchTarget]:
    """Every visible widget under `root` that takes a touch: buttons, fields, sliders, selectable rows, headers."""
    found: list[TouchTarget] = []
    for w in [root, *root.findChildren(QWidget)]:
        if not w.isVisibleTo(root) or not w.isEnabled():
            continue
        if isinstance(w, (QAbstractButton, QLineEdit, QComboBox, QAbstractSlider)):
            found.append(TouchTarget(w, _describe(w), w.width(), w.height(), is_primary(w)))
        elif isinstance(w, QHeaderView):
            if w.sectionsClickable():
                for i in range(w.count()):
                    if not w.isSectionHidden(i):
                        across = w.sectionSize(i)
                        found.append(TouchTarget(w, f"{_describe(w)} section {i}",
                                                 *((across, w.height()) if w.orientation() is Qt.Orientation.Horizontal
                                                   else (w.width(), across))))
        elif isinstance(w, QAbstractItemView) and w.selectionMode() is not QAbstractItemView.SelectionMode.NoSelection:
            model = w.model()
            for row in range(model.rowCount() if model is not None else 0):
                rect = w.visualRect(model.index(row, 0))
                found.append(TouchTarget(w, f"{_describe(w)} row {row}", w.viewport().width(), rect.height()))
    return found


def undersized(root: QWidget, touch: TouchSize) -> list[TouchTarget]:
    """Touch targets under `root` whose width or height is below the minimum (the primary one for primary actions)."""
    return [t for t in touch_targets(root) if t.too_small(touch)]
