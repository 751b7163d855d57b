"""The station's charts: calm, untouchable pyqtgraph plots in the station's greys, one look everywhere."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont

from hmi.ui import theme


def style_chart(w: pg.PlotWidget, font_px: int, left: str = "", bottom: str = "") -> pg.PlotItem:
    """Make `w` a chart a finger cannot pan or zoom, with readable axes and labels; returns its plot item."""
    w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    w.setMouseEnabled(x=False, y=False)
    w.setMenuEnabled(False)
    w.hideButtons()
    item = w.getPlotItem()
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
