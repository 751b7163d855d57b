"""The strip of the last parts: thumbnails marked by verdict (shape and word), each opening the part's detail."""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QSize, QTimer, Signal
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


AIM_S = 0.4  # a finger landing this soon after its tile changed was aimed at the part shown before


class PartStrip(QWidget):
    """A fixed row of slots showing the newest parts, newest first; a tap asks for the part's detail.

    The strip never changes under the finger: from the press to the release it holds still (newer parts
    wait), and the part opened is the one on the tile when the finger landed, by its identity, not by the
    slot. A tile that changed within `aim_s` before the press shows, and opens, the part shown before.
    """

    part_requested = Signal(object)

    def __init__(self, touch: TouchSize, slots: int = 10, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.icon_edge = int(touch.px * 1.5)
        self.buttons: list[QToolButton] = []
        self.parts: list[Part | None] = [None] * slots
        self._icons: OrderedDict[int, QIcon] = OrderedDict()
        self.aim_s = AIM_S
        self._before: list[Part | None] = [None] * slots   # what each slot showed before its last change
        self._changed_at = [float("-inf")] * slots         # when that change was drawn (monotonic s)
        self.pressed_part: Part | None = None              # the part under the finger, fixed at the press
        self._frozen = False
        self._waiting: list[Part] | None = None            # the newest parts, kept while the strip holds still
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        for i in range(slots):
            b = tool_button("", touch, wide=2.2, tall=2.6)  # the icon and its caption fit
            b.setIconSize(QSize(self.icon_edge, self.icon_edge))
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.pressed.connect(lambda i=i: self._press(i))
            b.released.connect(lambda: QTimer.singleShot(0, self, self._thaw))  # after `clicked`, which follows
            b.clicked.connect(lambda _=False, i=i: self._open(i))
            b.setEnabled(False)
            row.addWidget(b)
            self.buttons.append(b)

    def show_parts(self, recent: list[Part]) -> None:
        """Fill the slots from `recent` (newest last); only slots whose part changed are redrawn.

        While a tile is pressed nothing changes: the parts are kept and drawn when the finger lifts.
        """
        if self._frozen:
            self._waiting = recent
            return
        newest_first = list(reversed(recent))[: len(self.buttons)]
        now = time.monotonic()
        for i in range(len(self.buttons)):
            part = newest_first[i] if i < len(newest_first) else None
            old = self.parts[i]
            if (part is None and old is None) or (part is not None and old is not None and part.seq == old.seq):
                continue
            self._before[i], self._changed_at[i] = old, now
            self._draw(i, part)

    def _draw(self, i: int, part: Part | None) -> None:
        b = self.buttons[i]
        self.parts[i] = part
        if part is None:
            b.setIcon(QIcon())
            b.setText("")
            b.setEnabled(False)
            return
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

    def _press(self, i: int) -> None:
        """Hold the strip still and fix the part under the finger (the one shown before a change just now)."""
        self._frozen = True
        part, before = self.parts[i], self._before[i]
        if before is not None and time.monotonic() - self._changed_at[i] < self.aim_s:
            part = before
            self._draw(i, part)
        self.pressed_part = part

    def _open(self, i: int) -> None:
        part = self.pressed_part if self.pressed_part is not None else self.parts[i]
        if part is not None:
            self.part_requested.emit(part)

    def _thaw(self) -> None:
        """The finger lifted: draw the parts that came meanwhile."""
        self._frozen, self.pressed_part = False, None
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            self.show_parts(waiting)

