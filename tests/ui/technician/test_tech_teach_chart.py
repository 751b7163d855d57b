"""The teach screen's held-out score chart: the threshold's caption stays inside the chart, whichever side has room."""

from __future__ import annotations

import pytest

from hmi.ui.screens.teach import ScoreHistogram


@pytest.mark.parametrize("scores, threshold", [
    ([16.4 + 0.05 * i for i in range(30)], 18.684),  # as taught: the threshold right of every held-out score
    ([0.5 + 0.01 * i for i in range(30)], 0.2),       # a threshold left of them (a model imported with its own)
], ids=["threshold right", "threshold left"])
def test_the_threshold_caption_is_drawn_inside_the_chart(qtbot, scores, threshold) -> None:
    chart = ScoreHistogram(14)
    qtbot.addWidget(chart)
    chart.resize(520, 320)
    chart.show()
    qtbot.waitExposed(chart)
    chart.set_scores(scores, threshold, 0.8, 0.0)
    (x0, x1), _ = chart.getPlotItem().vb.viewRange()
    box = chart.caption.mapRectToView(chart.caption.boundingRect())
    assert x0 <= box.left() and box.right() <= x1, (box, (x0, x1))
