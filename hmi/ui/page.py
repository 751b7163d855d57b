"""A screen's page in the window: the screen fills it, and it scrolls only below the screen's minimum size."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget


class ScreenPage(QScrollArea):
    """Holds one screen: as large as the page, or as its minimum size where the panel is smaller (then it scrolls).

    Qt's own widgetResizable sizes a screen by its height for the page's width, so a screen with wrapped text
    would scroll for its preferred height on a panel it fits; here only the minimum size counts.
    """

    def __init__(self, screen: QWidget) -> None:
        super().__init__()
        self.setObjectName("screenPage")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(False)
        self.setWidget(screen)
        screen.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Fit the screen again when its contents change its minimum size."""
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self._fit()
        return super().eventFilter(watched, event)

    def resizeEvent(self, event) -> None:
        """Fit the screen to the page's new size."""
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        screen = self.widget()
        least, page = screen.minimumSizeHint(), self.size()
        w, h = max(page.width(), least.width()), max(page.height(), least.height())
        if h > page.height():  # a vertical bar takes its width from the page
            w = max(least.width(), page.width() - self.verticalScrollBar().sizeHint().width())
        if w > page.width():
            h = max(least.height(), page.height() - self.horizontalScrollBar().sizeHint().height())
        if screen.size() != QSize(w, h):
            screen.resize(w, h)
