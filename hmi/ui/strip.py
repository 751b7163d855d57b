"""The strip of the last parts: thumbnails marked by verdict (shape and word), each opening the part's detail."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QToolButton, QWidget

from hmi.core.part import Part
from hmi.ui import theme
from hmi.ui.imaging import thumbnail
from hmi.ui.symbols import verdict_rgba, verdict_words
from hmi.ui.touch import TouchSize, tool_button


def part_tile(part: Part, edge: int) -> np.ndarray:
    """A square RGB thumbnail with the verdict symbol in its corner and, for rejects, a red frame (NumPy only)."""
    tile = np.empty((edge, edge, 3), np.uint8)
    tile[:] = theme.rgb(theme.IMAGE_BACKGROUND)
    if part.image is not None:
        thumb = thumbnail(part.image, edge)
        if thumb.ndim == 2:
            thumb = thumb[:, :, None]
        h, w = thumb.shape[:2]
        y, x = (edge - h) // 2, (edge - w) // 2
        tile[y:y + h, x:x + w] = thumb
    mark = int(edge * 0.42)
    sym = verdict_rgba(part.verdict, mark)
    alpha = sym[:, :, 3:4].astype(np.float32) / 255.0
    under = np.empty((mark, mark, 3), np.float32)
    under[:] = theme.rgb(theme.PANEL)
    tile[:mark, :mark] = (sym[:, :, :3] * alpha + under * (1.0 - alpha)).astype(np.uint8)
    if part.verdict is not None and part.verdict.is_reject:
        k = max(3, edge // 24)
        red = theme.rgb(theme.REJECT_RED)
        tile[:k], tile[-k:], tile[:, :k], tile[:, -k:] = red, red, red, red
    return tile


def part_icon(part: Part, edge: int) -> QIcon:
    """The tile as an icon (three Qt calls: the rest is NumPy, so it stays cheap while the line runs fast)."""
    tile = np.ascontiguousarray(part_tile(part, edge))
    image = QImage(tile.data, edge, edge, tile.strides[0], QImage.Format.Format_RGB888).copy()
    return QIcon(QPixmap.fromImage(image))


class PartStrip(QWidget):
    """A fixed row of slots showing the newest parts, newest first; a tap asks for the part's detail."""

    part_requested = Signal(object)

    def __init__(self, touch: TouchSize, slots: int = 10, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.icon_edge = int(touch.px * 1.5)
        self.buttons: list[QToolButton] = []
        self.parts: list[Part | None] = [None] * slots
        self._icons: OrderedDict[int, QIcon] = OrderedDict()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        for i in range(slots):
            b = tool_button("", touch, wide=2.2, tall=2.1)
            b.setIconSize(QSize(self.icon_edge, self.icon_edge))
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.clicked.connect(lambda _=False, i=i: self._open(i))
            b.setEnabled(False)
            row.addWidget(b)
            self.buttons.append(b)

    def show_parts(self, recent: list[Part]) -> None:
        """Fill the slots from `recent` (newest last); only slots whose part changed are redrawn."""
        newest_first = list(reversed(recent))[: len(self.buttons)]
        for i, b in enumerate(self.buttons):
            part = newest_first[i] if i < len(newest_first) else None
            old = self.parts[i]
            if (part is None and old is None) or (part is not None and old is not None and part.seq == old.seq):
                continue
            self.parts[i] = part
            if part is None:
                b.setIcon(QIcon())
                b.setText("")
                b.setEnabled(False)
                continue
            b.setIcon(self._icon(part))
            b.setText(f"{part.seq}  {verdict_words(part.verdict)}")
            b.setAccessibleName(f"part {part.seq} {verdict_words(part.verdict)}")
            b.setEnabled(True)

    def _icon(self, part: Part) -> QIcon:
        icon = self._icons.get(part.seq)
        if icon is None:
            icon = part_icon(part, self.icon_edge)
            self._icons[part.seq] = icon
            while len(self._icons) > 4 * len(self.buttons):
                self._icons.popitem(last=False)
        return icon

    def _open(self, i: int) -> None:
        part = self.parts[i]
        if part is not None:
            self.part_requested.emit(part)

