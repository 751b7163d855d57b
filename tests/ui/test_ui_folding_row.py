"""A row of two control groups: one row where the width allows, two where it does not, and never wider than needed."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

from hmi.ui.widgets import FoldingRow, control_row


def _group(*words: str) -> QWidget:
    row, layout = control_row()
    for w in words:
        b = QPushButton(w)
        b.setMinimumWidth(120)
        layout.addWidget(b)
    return row


def test_the_second_group_joins_the_first_where_there_is_room_and_folds_beneath_where_not(qtbot) -> None:
    choices, exports = _group("Off", "Shift before", "Model versions"), _group("Export CSV", "Export PDF")
    folding = FoldingRow(choices, exports)
    host = QWidget()
    QVBoxLayout(host).addWidget(folding)
    qtbot.addWidget(host)
    host.resize(1200, 200)
    host.show()
    qtbot.waitExposed(host)
    qtbot.waitUntil(lambda: folding.joined and exports.y() == choices.y())
    assert choices.x() == 0 and exports.geometry().right() == folding.width() - 1  # at the row's right end

    host.resize(500, 200)  # room for one group a row
    qtbot.waitUntil(lambda: not folding.joined and exports.y() > choices.geometry().bottom())
    assert folding.minimumSizeHint().width() < choices.sizeHint().width() + exports.sizeHint().width()

    host.resize(900, 200)
    qtbot.waitUntil(lambda: folding.joined)
    # A group that grows (a USB drive plugged in offers one more target) folds the row again.
    for words in ("USB drive", "Quality share", "Lab share"):
        exports.layout().addWidget(QPushButton(words, minimumWidth=120))
    qtbot.waitUntil(lambda: not folding.joined)
    assert folding.minimumSizeHint().width() <= host.width()
