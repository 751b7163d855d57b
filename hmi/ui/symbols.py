"""Verdict and alarm-priority symbols: each state has its own shape and words, colour only when abnormal.

OK = grey circle with a check; NG = red octagon with a cross; HOLD = amber triangle with a pause
sign; NOT INSPECTED = red hatched square. Alarm priority 1 = red diamond, 2 = amber triangle,
3 = yellow square, each with its number.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from hmi.core.alarms import Priority
from hmi.core.verdict import Verdict
from hmi.ui import theme

NO_PART = "NO PART YET"


def verdict_words(verdict: Verdict | None) -> str:
    """The verdict as shown to people."""
    return verdict.label if verdict is not None else NO_PART


def _square(rect: QRectF) -> QRectF:
    side = min(rect.width(), rect.height())
    return QRectF(rect.center().x() - side / 2, rect.center().y() - side / 2, side, side)


def _regular(r: QRectF, corners: int, rotate_deg: float) -> QPolygonF:
    c, rad = r.center(), r.width() / 2
    return QPolygonF([QPointF(c.x() + rad * math.cos(math.radians(rotate_deg + 360 * k / corners)),
                              c.y() + rad * math.sin(math.radians(rotate_deg + 360 * k / corners)))
                      for k in range(corners)])


def paint_verdict(p: QPainter, rect: QRectF, verdict: Verdict | None) -> None:
    """Draw the verdict's symbol, as large as fits in `rect`."""
    r = _square(rect).adjusted(2, 2, -2, -2)
    s = r.width()
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    line = max(2.0, s * 0.09)
    if verdict is Verdict.OK:
        p.setPen(QPen(QColor(theme.NORMAL_SYMBOL), line * 0.6))
        p.setBrush(QColor(theme.PANEL))
        p.drawEllipse(r.adjusted(line / 2, line / 2, -line / 2, -line / 2))
        check = QPainterPath(QPointF(r.left() + s * 0.27, r.top() + s * 0.52))
        check.lineTo(r.left() + s * 0.44, r.top() + s * 0.69)
        check.lineTo(r.left() + s * 0.74, r.top() + s * 0.33)
        p.setPen(QPen(QColor(theme.NORMAL_SYMBOL), line, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                      Qt.PenJoinStyle.RoundJoin))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(check)
    elif verdict is Verdict.NG:
        p.setPen(QPen(QColor("#6E0000"), max(1.0, line * 0.25)))
        p.setBrush(QColor(theme.REJECT_RED))
        p.drawPolygon(_regular(r, 8, 22.5))
        p.setPen(QPen(QColor(theme.ON_COLOUR), line, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        a, b = s * 0.32, s * 0.68
        p.drawLine(QPointF(r.left() + a, r.top() + a), QPointF(r.left() + b, r.top() + b))
        p.drawLine(QPointF(r.left() + b, r.top() + a), QPointF(r.left() + a, r.top() + b))
    elif verdict is Verdict.HOLD:
        tri = QPolygonF([QPointF(r.center().x(), r.top() + s * 0.04), QPointF(r.right(), r.bottom() - s * 0.08),
                         QPointF(r.left(), r.bottom() - s * 0.08)])
        p.setPen(QPen(QColor("#6E4400"), max(1.0, line * 0.25)))
        p.setBrush(QColor(theme.HOLD_AMBER))
        p.drawPolygon(tri)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(theme.ON_AMBER))
        bar_w, bar_h = s * 0.09, s * 0.36
        top = r.top() + s * 0.42
        p.drawRect(QRectF(r.center().x() - bar_w * 1.6, top, bar_w, bar_h))
        p.drawRect(QRectF(r.center().x() + bar_w * 0.6, top, bar_w, bar_h))
    elif verdict is Verdict.NOT_INSPECTED:
        box = r.adjusted(s * 0.06, s * 0.06, -s * 0.06, -s * 0.06)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(theme.ON_COLOUR))
        p.drawRect(box)
        # Diagonal hatch lines, spaced so they read from a distance at any size.
        p.save()
        p.setClipRect(box)
        p.setPen(QPen(QColor(theme.REJECT_RED), max(1.5, s * 0.05)))
        step = max(4.0, s * 0.14)
        x = box.left() - box.height()
        while x < box.right():
            p.drawLine(QPointF(x, box.bottom()), QPointF(x + box.height(), box.top()))
            x += step
        p.restore()
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(QColor(theme.REJECT_RED), line * 0.8))
        p.drawRect(box)
    else:
        p.setPen(QPen(QColor(theme.BORDER), max(1.0, line * 0.4), Qt.PenStyle.DashLine))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(r.adjusted(s * 0.1, s * 0.1, -s * 0.1, -s * 0.1))
    p.restore()


def paint_fault(p: QPainter, rect: QRectF) -> None:
    """The line-fault symbol (PLC LOST, CAMERA LOST, NOT INSPECTED): a red diamond with an exclamation mark."""
    r = _square(rect).adjusted(2, 2, -2, -2)
    s = r.width()
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QPen(QColor("#6E0000"), max(1.0, s * 0.03)))
    p.setBrush(QColor(theme.REJECT_RED))
    p.drawPolygon(_regular(r, 4, -90))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(theme.ON_COLOUR))
    w = s * 0.1
    p.drawRect(QRectF(r.center().x() - w / 2, r.top() + s * 0.25, w, s * 0.33))
    p.drawEllipse(QRectF(r.center().x() - w * 0.6, r.top() + s * 0.64, w * 1.2, w * 1.2))
    p.restore()


_PRIORITY_COLOUR = {Priority.HIGH: theme.ALARM_HIGH, Priority.MEDIUM: theme.ALARM_MEDIUM, Priority.LOW: theme.ALARM_LOW}


def priority_words(priority: Priority) -> str:
    """'1 HIGH', '2 MEDIUM', '3 LOW'."""
    return f"{int(priority)} {priority.name}"


def paint_priority(p: QPainter, rect: QRectF, priority: Priority) -> None:
    """Draw the alarm-priority symbol with its number."""
    r = _square(rect).adjusted(2, 2, -2, -2)
    s = r.width()
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    colour = QColor(_PRIORITY_COLOUR[priority])
    p.setPen(QPen(QColor(theme.TEXT), max(1.0, s * 0.04)))
    p.setBrush(colour)
    if priority is Priority.HIGH:
        p.drawPolygon(_regular(r, 4, -90))
        text_colour, box = QColor(theme.ON_COLOUR), r
    elif priority is Priority.MEDIUM:
        p.drawPolygon(QPolygonF([QPointF(r.center().x(), r.top()), QPointF(r.right(), r.bottom() - s * 0.08),
                                 QPointF(r.left(), r.bottom() - s * 0.08)]))
        text_colour, box = QColor(theme.ON_AMBER), r.adjusted(0, s * 0.25, 0, 0)
    else:
        p.drawRect(r.adjusted(s * 0.12, s * 0.12, -s * 0.12, -s * 0.12))
        text_colour, box = QColor(theme.ON_AMBER), r
    font = QFont()
    font.setPixelSize(max(8, int(s * 0.42)))
    font.setBold(True)
    p.setFont(font)
    p.setPen(text_colour)
    p.drawText(box, Qt.AlignmentFlag.AlignCenter, str(int(priority)))
    p.restore()


def verdict_pixmap(verdict: Verdict | None, px: int) -> QPixmap:
    """The verdict's symbol on a transparent square of `px` pixels (for icons and counters)."""
    pm = QPixmap(px, px)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    paint_verdict(p, QRectF(0, 0, px, px), verdict)
    p.end()
    return pm


@lru_cache(maxsize=64)
def verdict_rgba(verdict: Verdict | None, px: int) -> np.ndarray:
    """The verdict's symbol as a px x px x 4 uint8 RGBA array (rendered once per verdict and size)."""
    img = QImage(px, px, QImage.Format.Format_RGBA8888)
    img.fill(Qt.GlobalColor.transparent)
    p = QPainter(img)
    paint_verdict(p, QRectF(0, 0, px, px), verdict)
    p.end()
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(px, img.bytesPerLine() // 4, 4)[:, :px]
    out = arr.copy()
    out.setflags(write=False)
    return out


def priority_pixmap(priority: Priority, px: int) -> QPixmap:
    """The priority symbol on a transparent square of `px` pixels."""
    pm = QPixmap(px, px)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    paint_priority(p, QRectF(0, 0, px, px), priority)
    p.end()
    return pm


class VerdictBadge(QWidget):
    """The large verdict indicator: the shape on the left, the word beside it."""

    def __init__(self, parent: QWidget | None = None, symbol_px: int = 160, font_px: int = 64) -> None:
        super().__init__(parent)
        self.verdict: Verdict | None = None
        self.fault = ""   # a line fault (PLC LOST, ...) shown instead of the verdict while it lasts
        self.detail = ""  # one short line under the word (the defect confidence), in a third of its size
        self.symbol_px = symbol_px
        self.font_px = font_px
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(symbol_px + 16)
        self.setAccessibleName(NO_PART)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """Room for the symbol and the longest word."""
        return QSize(self.symbol_px + int(self.font_px * 7.5), self.symbol_px + 16)

    def set_verdict(self, verdict: Verdict | None) -> None:
        """Show another verdict (repaints only when it changed)."""
        if verdict is not self.verdict:
            self.verdict = verdict
            self.setAccessibleName(verdict_words(verdict))
            self.update()

    def set_fault(self, words: str) -> None:
        """Show the line fault `words` with the fault symbol instead of the verdict; empty goes back to the verdict."""
        if words != self.fault:
            self.fault = words
            self.setAccessibleName(words or verdict_words(self.verdict))
            self.update()

    def set_detail(self, text: str) -> None:
        """Show `text` under the verdict word (repaints only when it changed); empty shows nothing."""
        if text != self.detail:
            self.detail = text
            self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Symbol, then the verdict in words (and the detail line under them); NG and NOT INSPECTED words in red."""
        p = QPainter(self)
        h = self.height()
        side = min(self.symbol_px, h - 8)
        if self.fault:
            paint_fault(p, QRectF(4, (h - side) / 2, side, side))
        else:
            paint_verdict(p, QRectF(4, (h - side) / 2, side, side), self.verdict)
        font = QFont()
        words = self.fault or verdict_words(self.verdict)
        size = self.font_px if len(words) <= 5 else int(self.font_px * 0.62)
        font.setPixelSize(size)
        font.setBold(True)
        p.setFont(font)
        abnormal = bool(self.fault) or (self.verdict is not None and self.verdict.is_reject)
        p.setPen(QColor(theme.REJECT_RED if abnormal else theme.TEXT))
        detail = "" if self.fault else self.detail
        detail_px = max(12, int(self.font_px * 0.36)) if detail else 0
        text_rect = QRectF(side + 24, 0, self.width() - side - 28, h - (detail_px * 1.6 if detail_px else 0))
        flags = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap
        p.drawText(text_rect, int(flags), words)
        if detail_px:
            font.setPixelSize(detail_px)
            p.setFont(font)
            p.setPen(QColor(theme.TEXT))
            below = QRectF(side + 24, text_rect.bottom() - detail_px * 0.6, text_rect.width(), detail_px * 1.8)
            p.drawText(below, int(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft), detail)
        p.end()
