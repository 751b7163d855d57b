"""The station's look (ISA-101 high-performance HMI): calm greys, colour only for abnormal states."""

from __future__ import annotations

from dataclasses import dataclass

# Greys carry everything that is normal.
BACKGROUND = "#C9C9C9"
PANEL = "#D8D8D8"
PANEL_DARK = "#B4B4B4"
BORDER = "#8C8C8C"
TEXT = "#1E1E1E"
TEXT_DIM = "#4A4A4A"
IMAGE_BACKGROUND = "#6E6E6E"
NORMAL_SYMBOL = "#5A5A5A"
SELECTED = "#9A9A9A"

# Colour is kept for what is abnormal, and is never alone: a shape and words go with it.
REJECT_RED = "#C81E1E"
ALARM_HIGH = "#C81E1E"
ALARM_MEDIUM = "#E08A00"
ALARM_LOW = "#D9C400"
HOLD_AMBER = "#E08A00"
ON_COLOUR = "#FFFFFF"      # text on red
ON_AMBER = "#1E1E1E"       # text on amber / yellow


def rgb(colour: str) -> tuple[int, int, int]:
    """'#RRGGBB' as an (r, g, b) tuple, for pixels composed in NumPy."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@dataclass(frozen=True)
class Fonts:
    """Pixel sizes of the station's text, derived from the touch target so everything scales together."""

    body: int
    small: int
    title: int
    verdict: int

    @classmethod
    def for_touch(cls, touch_px: int) -> "Fonts":
        """Fonts that sit well on buttons of `touch_px` pixels (the 9 mm target: body text about 3.6 mm)."""
        body = max(14, round(touch_px * 0.4))
        return cls(body=body, small=max(12, round(body * 0.8)), title=round(body * 1.35), verdict=round(body * 3.2))


def stylesheet(touch_px: int) -> str:
    """The application style sheet: flat grey surfaces, dark text, no gradients, large touch targets.

    Buttons get their size from hmi.ui.touch (a min-height here would override those larger than the minimum).
    """
    f = Fonts.for_touch(touch_px)
    return f"""
QWidget {{ background: {BACKGROUND}; color: {TEXT}; font-size: {f.body}px; }}
QFrame#panel, QFrame#statusZone, QFrame#navBar {{ background: {PANEL}; border: 1px solid {BORDER}; }}
QLabel {{ background: transparent; }}
QLabel#title {{ font-size: {f.title}px; font-weight: 600; }}
QLabel#dim {{ color: {TEXT_DIM}; font-size: {f.small}px; }}
QLabel#figure {{ font-size: {f.title}px; font-weight: 600; }}
QPushButton, QToolButton {{
    background: {PANEL}; border: 2px solid {BORDER}; border-radius: 4px; padding: 4px 12px;
}}
QPushButton:pressed, QToolButton:pressed {{ background: {PANEL_DARK}; }}
QPushButton:checked, QToolButton:checked {{ background: {SELECTED}; border: 3px solid {TEXT}; font-weight: 600; }}
QPushButton:disabled, QToolButton:disabled {{ color: #7A7A7A; border-color: #A8A8A8; }}
QPushButton#primary {{ font-size: {f.title}px; font-weight: 600; }}
QPushButton#abnormal {{ background: {ALARM_HIGH}; color: {ON_COLOUR}; border-color: #7A0000; font-weight: 600; }}
QPushButton#low {{ background: {ALARM_LOW}; color: {ON_AMBER}; border-color: #6E6400; font-weight: 600; }}
QPushButton#warning {{ background: {ALARM_MEDIUM}; color: {ON_AMBER}; border-color: #7A4A00; font-weight: 600; }}
QLineEdit {{ background: #EFEFEF; border: 2px solid {BORDER}; min-height: {touch_px}px; padding: 0 8px; }}
QTableWidget {{ background: #E6E6E6; gridline-color: {BORDER}; border: 1px solid {BORDER}; }}
QHeaderView::section {{ background: {PANEL_DARK}; border: 1px solid {BORDER}; padding: 4px; font-weight: 600; }}
QScrollArea {{ border: none; }}
QWidget#formBody, QWidget#controlRow, QScrollArea#form QWidget#qt_scrollarea_viewport {{ background: {PANEL}; }}
QScrollArea#screenPage, QScrollArea#screenPage > QWidget#qt_scrollarea_viewport {{ background: transparent; }}
QScrollBar:vertical {{ width: {touch_px}px; background: {PANEL}; }}
QScrollBar:horizontal {{ height: {touch_px}px; background: {PANEL}; }}
QScrollBar::handle {{ background: {PANEL_DARK}; border: 1px solid {BORDER};
                      min-height: {touch_px}px; min-width: {touch_px}px; }}
QFrame#banner {{ background: {PANEL}; border: 2px solid {TEXT}; }}
QFrame#bannerError {{ background: #F2D4D4; border: 3px solid {REJECT_RED}; }}
"""
