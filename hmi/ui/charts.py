"""The station's charts: calm, untouchable pyqtgraph plots in the station's greys, one look everywhere."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont

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
