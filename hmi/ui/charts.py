"""The station's charts: calm, untouchable pyqtgraph plots in the station's greys, one look everywhere."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics

from hmi.ui import theme


class ReadableAxis(pg.AxisItem):
    """A value axis whose labels never crowd: its major ticks lie at least two text lines apart, however short
    the chart (pyqtgraph's own spacing puts four or five on any axis, which overlap on a 40 px chart)."""

    def __init__(self, orientation: str, text_px: int) -> None:
        super().__init__(orientation)
        self.text_px = text_px

    def tickSpacing(self, minVal: float, maxVal: float, size: float):  # noqa: N802, N803 (pyqtgraph's names)
        """pyqtgraph's spacing, its major ticks spread out (x2 at a time) until two text lines fit between them."""
        levels = super().tickSpacing(minVal, maxVal, size)
        span = abs(maxVal - minVal)
        if not levels or span == 0 or size <= 0:
            return levels
        major = levels[0][0]

        def apart(spacing: float) -> bool:  # two text lines between labels
            return size * spacing / span >= 2 * self.text_px

        def in_range(spacing: float) -> int:  # ticks of that spacing (multiples of it) on the axis
            return math.floor(maxVal / spacing) - math.ceil(minVal / spacing) + 1

        spread = major
        while not apart(spread) and in_range(2 * spread) >= 2:
            spread *= 2
        if apart(spread) and in_range(spread) >= 2:
            return levels if spread == major else [(spread, 0.0)]
        # Room for one label only: the largest multiple of the major spacing on the axis, which gives the scale.
        return [(4 * span + major, math.floor(maxVal / major) * major)]


def style_chart(w: pg.PlotWidget, font_px: int, left: str = "", bottom: str = "") -> pg.PlotItem:
    """Make `w` a chart a finger cannot pan or zoom, with readable axes and labels; returns its plot item."""
    w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    w.setMouseEnabled(x=False, y=False)
    w.setMenuEnabled(False)
    w.hideButtons()
    item = w.getPlotItem()
    item.setAxisItems({"left": ReadableAxis("left", font_px)})
    # Room above the plot for half the top label, which is centred on its tick at the plot's top edge.
    item.layout.setContentsMargins(1, font_px // 2 + 2, 1, 1)
    font = QFont()
    font.setPixelSize(font_px)
    for side in ("bottom", "left"):
        axis = item.getAxis(side)
        axis.setPen(pg.mkPen(theme.TEXT))
        axis.setTextPen(pg.mkPen(theme.TEXT))
        axis.setStyle(tickFont=font)
        axis.enableAutoSIPrefix(False)
    item.getAxis("left").setWidth(font_px * 4)
    label_style = {"font-size": f"{font_px}px", "color": theme.TEXT}
    if left:
        item.setLabel("left", left, **label_style)
    if bottom:
        item.setLabel("bottom", bottom, **label_style)
    return item


def fit_words(text: str, metrics: QFontMetrics, room: float, lines: int = 2) -> str:
    """`text` in at most `lines` lines no wider than `room` pixels (a label under a narrow bar).

    Words share a line while they fit; a word wider than `room` is broken with a hyphen; what does not fit
    into `lines` lines ends the last one, elided.
    """
    def wide(words: str) -> float:
        return metrics.horizontalAdvance(words)

    out: list[str] = []
    for word in text.split():
        if wide(word) > room:  # into the fewest pieces of about equal length that fit ("contami-", "nation")
            pieces = next((n for n in range(2, len(word) + 1)
                           if all(wide(part + "-") <= room for part in _split(word, n))), len(word))
            *heads, word = _split(word, pieces)
            out.extend(head + "-" for head in heads)
        if out and not out[-1].endswith("-") and wide(f"{out[-1]} {word}") <= room:
            out[-1] = f"{out[-1]} {word}"
        else:
            out.append(word)
    if len(out) > lines:
        rest = " ".join(out[lines - 1:]).replace("- ", "")
        out = [*out[:lines - 1], metrics.elidedText(rest, Qt.TextElideMode.ElideRight, max(1, int(room)))]
    return "\n".join(out)


def _split(word: str, n: int) -> list[str]:
    """`word` in `n` pieces of about equal length, the longer ones first."""
    size, extra = divmod(len(word), n)
    cuts = [i * size + min(i, extra) for i in range(n + 1)]
    return [word[a:b] for a, b in zip(cuts, cuts[1:])]
