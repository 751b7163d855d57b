"""Small building blocks shared by the screens: panels, titled columns, numpy frames as pixmaps."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QFrame, QHBoxLayout, QHeaderView, QLabel, QLayout,
                               QPushButton, QScrollArea, QSizePolicy, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from hmi.ui.imaging import display_frame
from hmi.ui.touch import TouchSize, button, sized


def panel(title: str = "", parent: QWidget | None = None) -> tuple[QFrame, QVBoxLayout]:
    """A framed grey panel with an optional title; returns the frame and its layout."""
    frame = QFrame(parent)
    frame.setObjectName("panel")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(10, 8, 10, 8)
    layout.setSpacing(6)
    if title:
        label = QLabel(title)
        label.setObjectName("title")
        layout.addWidget(label)
    return frame, layout


def label(text: str = "", name: str = "", wrap: bool = False) -> QLabel:
    """A label with a style name (title, dim, figure) and optional word wrap."""
    lab = QLabel(text)
    if name:
        lab.setObjectName(name)
    lab.setWordWrap(wrap)
    return lab


def scrolling(content: QLayout) -> QScrollArea:
    """`content` in a vertical scroll area (for long forms only; never for actions that must stay on screen)."""
    inner = QWidget()
    inner.setObjectName("formBody")  # painted like the panel it sits in (theme)
    inner.setLayout(content)
    content.setContentsMargins(0, 0, 0, 0)
    scroll = QScrollArea()
    scroll.setObjectName("form")
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(inner)
    return scroll


def control_row() -> tuple[QWidget, QHBoxLayout]:
    """A row of controls as one widget (to be moved as a whole), painted like the panel it sits in; and its layout."""
    row = QWidget()
    row.setObjectName("controlRow")  # painted like the panel (theme)
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    return row, layout


def frame_pixmap(image: np.ndarray) -> QPixmap:
    """A uint8 Mono8 or RGB frame as a pixmap (copied, so the array may go)."""
    img = display_frame(image)
    h, w = img.shape[:2]
    if img.ndim == 2:
        q = QImage(img.data, w, h, img.strides[0], QImage.Format.Format_Grayscale8)
    else:
        q = QImage(img.data, w, h, img.strides[0], QImage.Format.Format_RGB888)
    return QPixmap.fromImage(q.copy())


class FoldingRow(QWidget):
    """Two groups of controls on one row where the width allows (the second at its right end), else the second
    on a row of its own beneath: a small panel keeps a row of height for its content, a narrow one loses nothing.

    Its minimum width is the wider group's, so the joined row never holds a screen wider than it must be.
    """

    def __init__(self, first: QWidget, second: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.first, self.second = first, second
        self._top = QHBoxLayout()
        self._top.addWidget(first)
        self._top.addStretch(1)
        self._below = QHBoxLayout()
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addLayout(self._top)
        col.addLayout(self._below)
        self.joined = True
        self._fold(join=False)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        """Both groups side by side, or one above the other when folded."""
        return self._size(self.first.sizeHint(), self.second.sizeHint(), side_by_side=self.joined)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        """As narrow as the wider group (never the two side by side), as tall as the rows in use now."""
        least = self._size(self.first.minimumSizeHint(), self.second.minimumSizeHint(), side_by_side=False)
        if self.joined:
            least.setHeight(max(self.first.minimumSizeHint().height(), self.second.minimumSizeHint().height()))
        return least

    def _size(self, a: QSize, b: QSize, *, side_by_side: bool) -> QSize:
        if side_by_side:  # a gap either side of the stretch between them
            return QSize(a.width() + 2 * max(0, self._top.spacing()) + b.width(), max(a.height(), b.height()))
        return QSize(max(a.width(), b.width()), a.height() + max(0, self.layout().spacing()) + b.height())

    def event(self, event) -> bool:
        """A group's size changed (a button shown, hidden or added): join or fold again."""
        if event.type() == QEvent.Type.LayoutRequest:
            self._fold(self._fits())
        return super().event(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """Join or fold for the new width."""
        super().resizeEvent(event)
        self._fold(self._fits())

    def _fits(self) -> bool:
        return self._size(self.first.sizeHint(), self.second.sizeHint(), side_by_side=True).width() <= self.width()

    def _fold(self, join: bool) -> None:
        if join == self.joined:
            return
        self.joined = join
        (self._below if join else self._top).removeWidget(self.second)
        (self._top if join else self._below).addWidget(self.second)
        self.layout().invalidate()
        self.updateGeometry()


class ElidedButton(QPushButton):
    """A touch button whose lines are elided to its width instead of widening it (alarm texts can be long)."""

    def __init__(self, touch: TouchSize, *, tall: float = 1.0, checkable: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        sized(self, touch, tall=tall)
        self.setCheckable(checkable)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setStyleSheet("text-align: left;")
        self.full_text = ""

    def set_full_text(self, text: str) -> None:
        """Show `text`, each line elided to the button's width."""
        if text != self.full_text:
            self.full_text = text
            self._elide()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Re-elide for the new width."""
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        room = max(40, self.width() - self.iconSize().width() - 48)
        fm = self.fontMetrics()
        self.setText("\n".join(fm.elidedText(line, Qt.TextElideMode.ElideRight, room)
                               for line in self.full_text.split("\n")))


class ReadOnlyTable(QTableWidget):
    """A table whose rows are as tall as their wrapped text at the width the layout gives it (read_only_table).

    A `dense` table's rows are only as tall as their text and a small margin: Qt would make each row at least
    as tall as the hidden row-number header's section, about two lines of small text.
    """

    def __init__(self, rows: int, columns: int, dense: bool = False) -> None:
        super().__init__(rows, columns)
        self.dense = dense

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """Rows were sized to their text when filled, perhaps at another width: sized again at this one."""
        super().resizeEvent(event)
        self.resizeRowsToContents()

    def resizeRowsToContents(self) -> None:  # noqa: N802 (Qt's name)
        """Each row as tall as its wrapped text (a dense table's: and no taller)."""
        if not self.dense:
            super().resizeRowsToContents()
            return
        margin = max(4, self.fontMetrics().height() * 2 // 5)
        for row in range(self.rowCount()):
            self.setRowHeight(row, self.sizeHintForRow(row) + margin)


def read_only_table(columns: list[str], font_px: int = 0, *, dense: bool = False) -> QTableWidget:
    """A table to read, not to touch: no selection, no editing, no focus (so it is no touch target).

    `dense`: rows no taller than their text, for tables that share a panel with charts (the shift report).
    """
    table = ReadOnlyTable(0, len(columns), dense)
    if font_px:
        table.setStyleSheet(f"QTableWidget, QHeaderView::section {{ font-size: {font_px}px; }}")
    table.setHorizontalHeaderLabels(columns)
    table.verticalHeader().hide()
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.setWordWrap(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    table.horizontalHeader().setSectionsClickable(False)
    return table


def fill_table(table: QTableWidget, rows: list[tuple[str, ...]]) -> None:
    """Replace the table's rows with `rows` of text."""
    table.setRowCount(len(rows))
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            table.setItem(r, c, QTableWidgetItem(value))
    table.resizeRowsToContents()


def image_and_heatmap_panel(image_view: QWidget, heat_view: QWidget, scale: QWidget) -> tuple[QFrame, QVBoxLayout]:
    """A panel with the part's image and its heatmap side by side under their titles, the colour scale right."""
    frame, layout = panel()
    titles = QHBoxLayout()
    titles.addWidget(label("Image", "title"), 1)
    titles.addWidget(label("Heatmap and regions", "title"), 1)
    layout.addLayout(titles)
    views = QHBoxLayout()
    views.addWidget(image_view, 1)
    views.addWidget(heat_view, 1)
    views.addWidget(scale)
    layout.addLayout(views, 1)
    return frame, layout



class ChoiceList(QWidget):
    """A scrolling list of tall, exclusive choice buttons (recipes, models) with a note above it."""

    picked = Signal(str)

    def __init__(self, touch: TouchSize, loading_note: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.touch = touch
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[str, QPushButton] = {}
        self.note = label(loading_note, "dim", wrap=True)
        box = QWidget()
        self._column = QVBoxLayout(box)
        self._column.setContentsMargins(0, 0, 0, 0)
        self._column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(box)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.note)
        col.addWidget(scroll, 1)

    def fill(self, rows: list[tuple[str, str]], empty_note: str) -> None:
        """Show one button per (key, text) row, in order; `empty_note` when there is none."""
        for b in self.buttons.values():
            self.group.removeButton(b)
            b.deleteLater()
        self.buttons = {}
        for i, (key, text) in enumerate(rows):
            b = button(text, self.touch, checkable=True, tall=2.0)
            b.setStyleSheet("text-align: left;")
            b.clicked.connect(lambda _=False, k=key: self.picked.emit(k))
            self.group.addButton(b)
            self._column.insertWidget(i, b)
            self.buttons[key] = b
        self.note.setText("" if rows else empty_note)
        self.note.setVisible(not rows)

    def check(self, key: str | None) -> None:
        """Mark `key` as chosen; None (or an unknown key) clears the choice."""
        b = self.buttons.get(key or "")
        if b is not None:
            b.setChecked(True)
            return
        self.group.setExclusive(False)
        for other in self.buttons.values():
            other.setChecked(False)
        self.group.setExclusive(True)

    def show_problem(self, text: str) -> None:
        """Say why the list could not be read."""
        self.note.setText(text)
        self.note.setVisible(True)
