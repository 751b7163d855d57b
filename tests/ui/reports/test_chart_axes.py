"""The charts' value axes: their labels never crowd, and even the shortest chart keeps one that gives the scale."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QImage, QPainter

from hmi.ui.charts import style_chart

FONT_PX = 14


def _labels(qtbot, top: float, height: int) -> list[tuple[str, float]]:
    """The left axis's labels (text, centre y in pixels) of a histogram reaching `top`, `height` px tall."""
    w = pg.PlotWidget()
    qtbot.addWidget(w)
    style_chart(w, FONT_PX, "rejected")
    counts = np.zeros(40)
    counts[-1], counts[20] = top, top / 7
    w.addItem(pg.PlotDataItem(np.arange(41.0), counts, stepMode="center", fillLevel=0))
    w.resize(440, height)
    w.show()
    qtbot.waitExposed(w)
    image = QImage(200, 200, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        texts = w.getPlotItem().getAxis("left").generateDrawSpecs(painter)[2]
    finally:
        painter.end()
    return [(text, rect.center().y()) for rect, _flags, text in texts]


@pytest.mark.parametrize("top", [7, 70, 85, 2000, 13_456])
@pytest.mark.parametrize("height", [45, 55, 70, 100, 200, 400])
def test_value_labels_stand_two_text_lines_apart_and_one_always_gives_the_scale(qtbot, top, height) -> None:
    labels = _labels(qtbot, top, height)
    assert labels, "no value label at all"
    ys = sorted(y for _, y in labels)
    assert all(b - a >= 2 * FONT_PX - 1 for a, b in zip(ys, ys[1:])), labels
    if len(labels) == 1:  # only room for one: the top one, not a lone 0
        assert float(labels[0][0].replace(",", "")) > 0, labels


@pytest.mark.parametrize("room", [50, 61, 75, 120, 300])
def test_a_bar_name_fits_its_bar_in_two_lines_a_long_word_hyphenated(qtbot, room) -> None:
    from PySide6.QtGui import QFont, QFontMetrics

    from hmi.ui.charts import fit_words

    font = QFont()
    font.setPixelSize(FONT_PX)
    metrics = QFontMetrics(font)
    for name in ("contamination", "not inspected", "foreign body on the surface"):
        fitted = fit_words(name, metrics, room)
        lines = fitted.split("\n")
        assert len(lines) <= 2 and all(metrics.horizontalAdvance(line) <= room for line in lines), fitted
        if "…" not in fitted:  # whole: the name, broken only between words or with a hyphen
            assert fitted.replace("-\n", "").replace("\n", " ") == name
    assert fit_words("contamination", metrics, 75) == "contami-\nnation"  # halves, not a long head and a stub
