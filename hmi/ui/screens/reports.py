"""Shift reports for quality managers: pick a shift, read its figures and charts, compare, export CSV / PDF.

Reports are built on the station's own low-priority report thread (`station.reports`, nice 19, SCHED_IDLE:
see hmi.services.reports.background; stopped with the station) through their own read-only connection,
never on the shared UI helper thread; the screen only draws finished ShiftReport objects.

With a plant database configured ([plant] database), a scope switch "This station | Plant" shows the same
shift's plant report (hmi.ui.screens.plant_reports) across all stations or this station's line, read on the
same report thread; a plant server that is away is one message in the Plant scope, the station scope works on.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (QButtonGroup, QGridLayout, QHBoxLayout, QHeaderView, QPushButton, QStackedWidget,
                               QVBoxLayout, QWidget)

from hmi.services.reports.compare import COLUMNS, compare_reports, older_newer
from hmi.services.reports.connection import open_reports
from hmi.services.reports.export import write_csv
from hmi.services.reports.models import ModelBaselines
from hmi.services.reports.pdf import write_pdf
from hmi.services.reports.shifts import ShiftCalendar
from hmi.services.reports.summary import (ModelHealth, ShiftReport, build_report, key_figures, known_models,
                                         resolve_model_shift)
from hmi.services.reports.targets import (STATION_DISK, ExportTarget, TargetNotReady, export_targets, settle,
                                          station_target)
from hmi.store.users import Permission
from hmi.ui import theme
from hmi.ui.charts import fit_words, style_chart
from hmi.ui.context import ScreenContext
from hmi.ui.low_priority import LowPriority
from hmi.ui.messages import Level, UserMessage
from hmi.ui.screens.plant_reports import PlantReportView, load_plant_shift, plant_line
from hmi.ui.theme import Fonts
from hmi.ui.touch import button
from hmi.ui.widgets import FoldingRow, control_row, fill_table, label, panel, read_only_table

log = logging.getLogger(__name__)

COMPARE_MODES = ("off", "shift before", "model versions")
SCOPES = {"station": "This station", "plant": "Plant"}
REFRESH_CURRENT_S = 60.0


@dataclass(frozen=True)
class LoadedReports:
    """What one background load produced: the report on show and, when comparing, the second one."""

    main: ShiftReport
    other: ShiftReport | None
    note: str = ""


def load_reports(data_dir: Path, calendar: ShiftCalendar, pick: str, compare: str) -> LoadedReports:
    """Build the picked shift's report (and its comparison) on a fresh read-only connection; blocking."""
    conn = open_reports(data_dir)
    try:
        baselines = ModelBaselines(data_dir)
        window = calendar.resolve(pick)
        if compare == "model versions":
            models = sorted(((resolve_model_shift(conn, calendar, sha), sha) for sha, _ in known_models(conn)),
                            key=lambda ws: ws[0].start if ws[0] else datetime.min.replace(tzinfo=timezone.utc))
            models = [(w, sha) for w, sha in models if w is not None]
            if len(models) < 2:
                main = build_report(conn, window, calendar=calendar, baselines=baselines)
                return LoadedReports(main, None, "Only one model version is in the records: nothing to compare.")
            (wa, a), (wb, b) = models[-2], models[-1]
            main = build_report(conn, wa, model_sha256=a, calendar=calendar, baselines=baselines)
            other = build_report(conn, wb, model_sha256=b, calendar=calendar, baselines=baselines)
            return LoadedReports(main, other, "Each model version over the last shift it judged parts in.")
        main = build_report(conn, window, calendar=calendar, baselines=baselines)
        other = None
        if compare == "shift before":
            before = calendar.previous(window.start + timedelta(seconds=1))
            other = build_report(conn, before, calendar=calendar, baselines=baselines)
        return LoadedReports(main, other)
    finally:
        conn.close()


@dataclass(frozen=True)
class ReportView:
    """Everything the screen shows of one load, worked out before any widget changes."""

    title: str
    status: str
    figures: list[tuple[str, str]]
    health: str
    operators: list[tuple[str, ...]]
    hourly: HourlySeries
    stops: list[tuple[str, ...]]
    compare: list[tuple[str, ...]] | None
    compare_title: str


def prepare_view(loaded: LoadedReports) -> ReportView:
    """The texts, table rows and chart series of `loaded`; raises before anything is shown if one cannot be made."""
    r, other = loaded.main, loaded.other
    built = r.window.local(r.built_at).strftime("%H:%M:%S")
    health = [health_line(m) for m in r.models]
    operators = [(o.user, f"{o.reviews:,}", f"{o.overrides:,}", f"{o.to_ok:,}", f"{o.to_ng:,}") for o in r.operators]
    stops = [(f"{r.window.local(s.start):%H:%M}–{r.window.local(s.end):%H:%M}",
              "Stop: " + (", ".join(s.alarms) or "no alarm recorded"), f"{s.seconds / 60:.1f}") for s in r.stops]
    stops += [(f"{r.window.local(a.raised_at):%H:%M}", f"{a.code}: {a.message}",
               f"{a.active_s(r.window.start, r.until) / 60:.1f}") for a in r.alarms]
    compare, compare_title = None, ""
    if other is not None:
        older, newer = older_newer(r, other)
        compare = [(f.name, f.a, f.b, f.change) for f in compare_reports(older, newer)]
        compare_title = (f"Side by side — older: {older.title}\nnewer: {newer.title} "
                         f"(the {'older' if older is other else 'newer'} is dashed in the hourly chart)")
    late = (f"{r.decided_after_end:,} held part(s) decided after the shift's end count as HOLD open at the end."
            if r.decided_after_end else "")
    return ReportView(r.title, f"Built {built} in {r.build_s:.2f} s. {late} {loaded.note}".strip(),
                      key_figures(r), "\n".join(health) or "No part was judged by a model in this shift.",
                      operators or [("nobody", "0", "0", "0", "0")], hourly_series(r, other),
                      stops or [("—", "No alarm and no stop in this shift.", "")], compare, compare_title)


DRIFT_WORDS = {"too few parts": "Too few parts to judge drift"}  # the others: the state capitalised


def health_line(m: ModelHealth) -> str:
    """One model's health in a short line for the screen: its drift state and NG overruled to OK.

    The PSI, KS distance and median shift behind the state are in the PDF report (DriftCheck.words).
    """
    drift = ("No drift baseline yet" if m.drift is None
             else DRIFT_WORDS.get(m.drift.state, m.drift.state.capitalize()))
    rate = "—" if math.isnan(m.false_reject_rate) else f"{100 * m.false_reject_rate:.1f} %"
    return f"{m.model_name} {m.model_sha256[:8]}: {drift}. NG overruled to OK: {rate}."


def _plot(font_px: int, left: str, bottom: str = "") -> pg.PlotWidget:
    """A calm, untouchable chart in the station's greys."""
    w = pg.PlotWidget(background=theme.PANEL)
    style_chart(w, font_px, left, bottom)
    w.setMinimumHeight(font_px * 5)
    return w


@dataclass(frozen=True)
class HourlySeries:
    """The hourly chart's data, both shifts on the same hour positions (hour 1, 2, … of each shift).

    Two shifts may differ in length (a 9-hour late shift beside a 7-hour night, or a clock-change
    night): the shorter one simply has no bar where the longer one goes on.
    """

    x: np.ndarray
    ticks: list[tuple[int, str]]
    parts: np.ndarray
    yields: np.ndarray
    other_parts: np.ndarray | None
    other_yields: np.ndarray | None


def _padded(values: list[float], n: int, fill: float) -> np.ndarray:
    out = np.full(n, fill, float)
    out[:len(values)] = values
    return out


def hourly_series(report: ShiftReport, other: ShiftReport | None = None) -> HourlySeries:
    """Align `report`'s hours and `other`'s (when comparing) by their place in the shift."""
    hours = report.hourly
    others = other.hourly if other is not None else ()
    n = max(len(hours), len(others))
    labels = [h.label[:2] for h in hours] + [f"+{i + 1}" for i in range(n - len(hours))]
    series = HourlySeries(np.arange(n), list(enumerate(labels)),
                          _padded([h.parts for h in hours], n, 0.0), _padded([h.yield_pct for h in hours], n, math.nan),
                          None, None)
    if other is None:
        return series
    return HourlySeries(series.x, series.ticks, series.parts, series.yields,
                        _padded([h.parts for h in others], n, 0.0), _padded([h.yield_pct for h in others], n, math.nan))


class HourlyChart(QWidget):
    """Parts per hour as grey bars, final yield per hour as a black line beneath."""

    def __init__(self, font_px: int) -> None:
        super().__init__()
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        self.parts = _plot(font_px, "parts / h")
        self.yields = _plot(font_px, "yield %", "hour (plant time)")
        col.addWidget(self.parts, 3)
        col.addWidget(self.yields, 2)
        self.font_px = font_px

    def show_series(self, s: HourlySeries) -> None:
        """Draw the shown shift's hours (and the compared shift's as an outline)."""
        for w in (self.parts, self.yields):
            w.clear()
        x, y = s.x, s.yields
        self.parts.addItem(pg.BarGraphItem(x=x, height=s.parts, width=0.7,
                                           brush=theme.PANEL_DARK, pen=pg.mkPen(theme.TEXT)))
        ok = np.isfinite(y)  # an hour without parts has no yield: no point is drawn for it
        if ok.any():
            self.yields.plot(x[ok], y[ok], pen=pg.mkPen(theme.TEXT, width=3), symbol="o", symbolSize=8,
                             symbolBrush=theme.TEXT)
        if s.other_parts is not None and s.other_yields is not None:
            self.parts.addItem(pg.BarGraphItem(x=x, height=s.other_parts, width=0.7, brush=None,
                                               pen=pg.mkPen(theme.TEXT, width=2, style=Qt.PenStyle.DashLine)))
            ook = np.isfinite(s.other_yields)
            if ook.any():
                self.yields.plot(x[ook], s.other_yields[ook],
                                 pen=pg.mkPen(theme.TEXT_DIM, width=2, style=Qt.PenStyle.DashLine))
        for w in (self.parts, self.yields):
            w.getPlotItem().getAxis("bottom").setTicks([s.ticks])  # '06' … '13': the hour each bar starts
            w.setXRange(-0.6, max(0, len(x) - 1) + 0.6, padding=0)
        finite = y[np.isfinite(y)]
        low = float(min(finite.min(), 99.0)) if finite.size else 95.0
        self.yields.setYRange(max(0.0, math.floor(low - 0.5)), 100.0, padding=0.02)


class ParetoChart(QWidget):
    """Rejects by kind, largest first; red bars (rejects are abnormal) with the numbers written on them.

    Each bar's name and numbers fit the bar's share of the width (broken into lines, a long word hyphenated), so
    none reaches into its neighbour's or past the chart's edge on a small panel.
    """

    GAP_PX = 6  # between the labels of neighbouring bars

    def __init__(self, font_px: int) -> None:
        super().__init__()
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        self.plot = _plot(font_px, "rejected parts")
        self.plot.getPlotItem().getAxis("bottom").setHeight(3 * font_px + 12)  # two-line defect names
        col.addWidget(self.plot)
        self.font_px = font_px
        tick_font = QFont()
        tick_font.setPixelSize(font_px)
        self.tick_metrics = QFontMetrics(tick_font)
        self.items: list = []
        self.values: list[pg.TextItem] = []
        self.plot.getPlotItem().getViewBox().sigResized.connect(self._fit_labels)

    def show_report(self, report) -> None:
        """Draw the Pareto of `report` (the top 5 kinds), each bar labelled with its defect's name."""
        self.plot.clear()
        self.items = items = list(report.pareto[:5])
        x = np.arange(len(items))
        self.plot.addItem(pg.BarGraphItem(x=x, height=[p.parts for p in items], width=0.7,
                                          brush=theme.REJECT_RED, pen=pg.mkPen(theme.TEXT)))
        self.values = []
        for i, p in enumerate(items):
            text = pg.TextItem("", color=theme.TEXT, anchor=(0.5, 1.0))
            text.setPos(i, p.parts)
            self.plot.addItem(text)
            self.values.append(text)
        top = max((p.parts for p in items), default=1)
        self.plot.setYRange(0, top * 1.6, padding=0)
        self.plot.setXRange(-0.6, max(0, len(items) - 1) + 0.6, padding=0)
        self._fit_labels()

    def slot_px(self) -> float:
        """The width in pixels each bar has for its labels (one unit of the x axis)."""
        view = self.plot.getPlotItem().getViewBox()
        left, right = view.viewRange()[0]
        return view.width() / (right - left) if right > left else view.width()

    def _fit_labels(self) -> None:
        """The defect's name under its bar and the numbers on it, each within the bar's share of the width."""
        room = max(1.0, self.slot_px() - self.GAP_PX)
        self.plot.getPlotItem().getAxis("bottom").setTicks(
            [[(i, fit_words(p.defect, self.tick_metrics, room)) for i, p in enumerate(self.items)]])
        for text, p in zip(self.values, self.items, strict=True):
            numbers = f"{p.parts:,} · {100 * p.cumulative:.0f} %"
            metrics = QFontMetrics(text.textItem.font())
            text.setText(numbers if metrics.horizontalAdvance(numbers) <= room else numbers.replace(" · ", "\n"))


class ScoreChart(QWidget):
    """Score histograms of good and rejected parts on the same bins, each on its own scale, threshold dashed."""

    def __init__(self, font_px: int) -> None:
        super().__init__()
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        self.good = _plot(font_px, "good")
        self.bad = _plot(font_px, "rejected")  # the title says the axis holds scores
        # Both on the same bins: only the lower one writes the scores, so the two plots get about the same height.
        self.good.getPlotItem().getAxis("bottom").setStyle(showValues=False)
        self.good.getPlotItem().getAxis("bottom").setHeight(4)
        col.addWidget(self.good, 4)
        col.addWidget(self.bad, 5)

    def show_report(self, report: ShiftReport) -> None:
        """Draw the first model's distributions of `report` (the one that judged most parts)."""
        for w in (self.good, self.bad):
            w.clear()
        if not report.distributions:
            return
        dist = max(zip(report.distributions, report.models, strict=False), key=lambda dm: dm[1].parts)[0]
        edges = np.asarray(dist.edges)
        for w, counts, brush in ((self.good, dist.good, theme.PANEL_DARK), (self.bad, dist.rejected, theme.REJECT_RED)):
            w.addItem(pg.PlotDataItem(edges, np.asarray(counts, float), stepMode="center", fillLevel=0,
                                      brush=pg.mkBrush(brush), pen=pg.mkPen(theme.TEXT, width=1)))
            if dist.threshold is not None:
                w.addItem(pg.InfiniteLine(dist.threshold, angle=90,
                                          pen=pg.mkPen(theme.TEXT, width=2, style=Qt.PenStyle.DashLine)))
            w.setXRange(float(edges[0]), float(edges[-1]), padding=0.01)


class ReportsScreen(QWidget):
    """The `reports` screen; `ReportsScreen(ctx)`, opened by the window, loads on show."""

    def __init__(self, ctx: ScreenContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        touch = ctx.touch
        fonts = Fonts.for_touch(touch.px)
        self.calendar = ShiftCalendar(ctx.station.cfg.shifts)
        self.pick = "previous"
        self.compare_mode = "off"
        self.loaded: LoadedReports | None = None
        self.loading = False
        self._loaded_mono = 0.0
        self.low = LowPriority(self, ctx.station)
        self.day: date = self.calendar.previous().day
        cfg = ctx.station.cfg
        self.scope = "station"
        self.line = plant_line(cfg)
        self.plant_line_only = False
        self.plant_loaded = None
        self.plant_loading = False
        self._plant_loaded_mono = 0.0
        self._plant_again = False

        # Picker: current / previous, or a day and a shift name.
        self.current_btn = button("Current", touch, checkable=True, wide=2.4)
        self.previous_btn = button("Previous", touch, checkable=True, wide=2.4)
        self.day_back = button("◀ day", touch)
        self.day_label = label("", "figure")
        self.day_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.day_next = button("day ▶", touch)
        self.shift_buttons = {name: button(name, touch, checkable=True, wide=1.6) for name in self.calendar.names}
        self.picks = QButtonGroup(self)
        self.picks.setExclusive(True)
        for b in (self.current_btn, self.previous_btn, *self.shift_buttons.values()):
            self.picks.addButton(b)
        self.current_btn.clicked.connect(lambda: self.choose("current"))
        self.previous_btn.clicked.connect(lambda: self.choose("previous"))
        for name, b in self.shift_buttons.items():
            b.clicked.connect(lambda _=False, name=name: self.choose(f"{self.day.isoformat()} {name}"))
        self.day_back.clicked.connect(lambda: self._move_day(-1))
        self.day_next.clicked.connect(lambda: self._move_day(+1))
        self.compare_buttons = {mode: button(mode.capitalize(), touch, checkable=True, wide=2.6)
                                for mode in COMPARE_MODES}
        self.compares = QButtonGroup(self)
        self.compares.setExclusive(True)
        for mode, b in self.compare_buttons.items():
            self.compares.addButton(b)
            b.clicked.connect(lambda _=False, mode=mode: self.set_compare(mode))
        self.compare_buttons["off"].setChecked(True)
        self.previous_btn.setChecked(True)
        self.export_csv = button("Export CSV", touch)
        self.export_pdf = button("Export PDF", touch)
        self.export_csv.clicked.connect(lambda: self.export("csv"))
        self.export_pdf.clicked.connect(lambda: self.export("pdf"))

        picker, pick_col = panel()
        row1 = QHBoxLayout()
        for w in (self.current_btn, self.previous_btn, self.day_back):
            row1.addWidget(w)
        row1.addWidget(self.day_label, 1)
        row1.addWidget(self.day_next)
        for b in self.shift_buttons.values():
            row1.addWidget(b)
        choices, row2 = control_row()
        # The scope switch and the line choice exist only where a plant database is configured.
        self.scope_buttons: dict[str, QPushButton] = {}
        self.line_buttons: dict[str, QPushButton] = {}
        if cfg.plant.database:
            self.scope_buttons = {scope: button(words, touch, checkable=True, wide=2.0)
                                  for scope, words in SCOPES.items()}
            self.scopes = QButtonGroup(self)
            self.scopes.setExclusive(True)
            for scope, b in self.scope_buttons.items():
                self.scopes.addButton(b)
                b.clicked.connect(lambda _=False, scope=scope: self.set_scope(scope))
                row2.addWidget(b)
            self.scope_buttons["station"].setChecked(True)
            self.line_buttons = {"all": button("All lines", touch, checkable=True, wide=2.0),
                                 "line": button(f"Line {self.line}", touch, checkable=True, wide=2.0)}
            self.lines = QButtonGroup(self)
            self.lines.setExclusive(True)
            for key, b in self.line_buttons.items():
                self.lines.addButton(b)
                b.clicked.connect(lambda _=False, key=key: self.set_plant_line(key == "line"))
                row2.addWidget(b)
                b.hide()
            self.line_buttons["all"].setChecked(True)
            row2.addSpacing(touch.px // 3)
        self.compare_label = label("Side by side:", "title")
        row2.addWidget(self.compare_label)
        for b in self.compare_buttons.values():
            row2.addWidget(b)
        # Where exports go: the station's disk, a configured share or a USB drive plugged in now.
        self.targets: list[ExportTarget] = []
        self.target = STATION_DISK
        self.target_buttons: dict[str, QPushButton] = {}
        self.target_group = QButtonGroup(self)
        self.target_group.setExclusive(True)
        self.target_row = QHBoxLayout()
        exports, row3 = control_row()
        row3.addWidget(label("Export to:", "title"))
        row3.addLayout(self.target_row)
        row3.addStretch(1)
        row3.addWidget(self.export_csv)
        row3.addWidget(self.export_pdf)
        pick_col.addLayout(row1)
        # The exports share the side-by-side row where it has room (a row more for the tables below).
        self.choice_rows = FoldingRow(choices, exports)
        pick_col.addWidget(self.choice_rows)
        self._offer_targets([station_target(Path(ctx.station.data_dir))])
        self.refresh_targets()

        # Figures.
        self.title = label("Choose a shift", "title", wrap=True)
        self.status = label("", "dim", wrap=True)
        self.figure_labels: dict[str, tuple] = {}
        self.figure_rows: list[tuple] = []
        figures_panel, fig_col = panel()
        fig_col.addWidget(self.title)
        fig_col.addWidget(self.status)
        self.figures = QGridLayout()
        self.figures.setHorizontalSpacing(6)
        self.figures.setVerticalSpacing(0)  # a line of text a figure: room for the table beneath
        fig_col.addLayout(self.figures)
        self.health = label("", wrap=True)
        self.operators = read_only_table(["Person", "Re-\nviews", "Over-\nrides", "to OK", "to NG"], fonts.small,
                                         dense=True)
        fig_col.addWidget(label("Overrides per person", "title", wrap=True))
        # Tables scroll: a few rows' height is enough to keep the screen inside 1280 x 800.
        self.operators.setMinimumHeight(2 * touch.px)
        fig_col.addWidget(self.operators, 1)

        # Charts.
        self.hourly = HourlyChart(fonts.small)
        self.pareto = ParetoChart(fonts.small)
        self.scores = ScoreChart(fonts.small)
        charts_panel, charts = panel()
        charts.addWidget(label("Hourly parts and yield", "title", wrap=True))
        charts.addWidget(self.hourly, 3)
        charts.addWidget(label("Rejects by defect type", "title", wrap=True))
        charts.addWidget(self.pareto, 2)
        right_panel, right = panel()
        right.addWidget(label("Scores: good and rejected", "title", wrap=True))
        right.addWidget(self.scores, 2)
        right.addWidget(label("Model health", "title"))
        right.addWidget(self.health)
        self.stops_title = label("Alarms and stops", "title")
        right.addWidget(self.stops_title)
        self.stops = read_only_table(["When", "What", "Minutes"], fonts.small, dense=True)
        for column in (0, 2):  # times and minutes as wide as they need; the alarm's words take the rest
            self.stops.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.stops.setMinimumHeight(2 * touch.px)
        right.addWidget(self.stops, 3)  # the tables take the room the charts do not need
        self.compare_table = read_only_table(list(COLUMNS), fonts.small, dense=True)
        for column in range(1, len(COLUMNS)):  # the figures as wide as they and their headers need; names wrap
            self.compare_table.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.compare_table.setMinimumHeight(2 * touch.px)
        self.compare_title = label("Side by side", "dim", wrap=True)
        right.addWidget(self.compare_title)
        right.addWidget(self.compare_table, 3)
        self.compare_title.hide()
        self.compare_table.hide()

        station_body = QWidget()
        body = QHBoxLayout(station_body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(figures_panel, 3)
        body.addWidget(charts_panel, 4)
        body.addWidget(right_panel, 4)
        self.bodies = QStackedWidget()
        self.bodies.addWidget(station_body)
        self.plant: PlantReportView | None = None
        if cfg.plant.database:
            self.plant = PlantReportView(touch, ParetoChart(fonts.small))
            self.bodies.addWidget(self.plant)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(picker)
        col.addWidget(self.bodies, 1)
        self._show_day()

    # --- the window's calls ------------------------------------------------------------------
    def on_show(self) -> None:
        """Load the chosen shift's report in the background; list the export targets there now."""
        self.refresh_targets()
        self._fit_choices()
        self.reload()

    def _fit_choices(self) -> None:
        """Widen the choice buttons to their words in bold (a checked button's), so none is cut off when chosen."""
        for b in (self.current_btn, self.previous_btn, *self.shift_buttons.values(), *self.target_buttons.values(),
                  *self.compare_buttons.values(), *self.scope_buttons.values(), *self.line_buttons.values()):
            b.ensurePolished()
            bold = QFont(b.font())
            bold.setBold(True)
            b.setMinimumWidth(max(b.minimumWidth(), QFontMetrics(bold).horizontalAdvance(b.text()) + 40))

    def refresh_targets(self) -> None:
        """List the targets there now on the report thread (a stale share mount must not freeze the screen)."""
        reports, data_dir = self.ctx.station.cfg.reports, Path(self.ctx.station.data_dir)
        # Listing never fails (an unreadable folder is not offered); only a stopping station can cancel it.
        self.low.submit(lambda: export_targets(reports, data_dir), self._offer_targets,
                        lambda exc: log.info("export targets not listed: %s", exc))

    def _offer_targets(self, targets: list[ExportTarget]) -> None:
        """Offer `targets` (a drive plugged in or pulled since); the choice stays if still there."""
        if [(t.label, t.folder) for t in targets] == [(t.label, t.folder) for t in self.targets]:
            return
        self.targets = targets
        for b in self.target_buttons.values():
            self.target_group.removeButton(b)
            self.target_row.removeWidget(b)
            b.deleteLater()
        self.target_buttons = {}
        for t in targets:
            b = button(t.label, self.ctx.touch, checkable=True, wide=2.4)
            b.clicked.connect(lambda _=False, name=t.label: self.choose_target(name))
            self.target_group.addButton(b)
            self.target_row.addWidget(b)
            self.target_buttons[t.label] = b
        self._fit_choices()
        if self.target not in self.target_buttons:
            self.target = targets[0].label
        self.target_buttons[self.target].setChecked(True)

    def choose_target(self, name: str) -> None:
        """Write the next exports to target `name` (its button's words)."""
        self.target = name
        self.target_buttons[name].setChecked(True)

    def _export_target(self) -> ExportTarget | None:
        """The chosen target, or None (and a message saying why) when it is no longer offered."""
        target = next((t for t in self.targets if t.label == self.target), None)
        if target is None:
            self.ctx.channel.warning(f"{self.target} is no longer there", "choose where to export to, then export again")
        return target

    def _submit_export(self, target: ExportTarget, write: Callable[[Path], str]) -> None:
        """`write(folder)` on the report thread once the target is found writable there; its words are the message."""
        def work() -> str:
            problem = target.ready()
            if problem is not None:
                raise problem
            return write(target.folder)

        self.low.submit(work, lambda words: self.ctx.channel.info(words), self._export_failed)

    def _export_failed(self, error: BaseException) -> None:
        if isinstance(error, TargetNotReady):  # not a fault: a drive pulled or a share away, said as a warning
            self.ctx.channel.warning(error.what, error.todo)
        else:
            self.ctx.channel.error(error)

    def on_tick(self) -> None:
        """Refresh the current shift once a minute while it is on show; nothing else (cheap)."""
        if self.pick != "current" or not self.isVisible():
            return
        if self.scope == "plant":
            if not self.plant_loading and time.monotonic() - self._plant_loaded_mono > REFRESH_CURRENT_S:
                self.reload()
        elif not self.loading and time.monotonic() - self._loaded_mono > REFRESH_CURRENT_S:
            self.reload()

    def prepare_screenshot(self) -> None:
        """Build and show the previous shift's report synchronously (blocks), for --screenshot."""
        self.show_loaded(load_reports(self.ctx.station.data_dir, self.calendar, self.pick, self.compare_mode))

    # --- choosing ----------------------------------------------------------------------------
    def choose(self, pick: str) -> None:
        """Show shift `pick` ('current', 'previous' or 'YYYY-MM-DD NAME')."""
        self.pick = pick
        self.reload()

    def set_compare(self, mode: str) -> None:
        """Side by side with nothing, the shift before, or the two newest model versions."""
        self.compare_mode = mode
        self.reload()

    def set_scope(self, scope: str) -> None:
        """'station': this station's own records; 'plant': the plant database (only with [plant] configured)."""
        if scope == "plant" and self.plant is None:
            return
        self.scope = scope
        plant = scope == "plant"
        self.scope_buttons[scope].setChecked(True)
        self.bodies.setCurrentIndex(1 if plant else 0)
        for b in self.line_buttons.values():
            b.setVisible(plant)
        for w in (self.compare_label, *self.compare_buttons.values()):
            w.setVisible(not plant)
        self.reload()

    def set_plant_line(self, line_only: bool) -> None:
        """Plant scope: every line, or only this station's line."""
        self.plant_line_only = line_only
        self.line_buttons["line" if line_only else "all"].setChecked(True)
        self.reload()

    def _move_day(self, step: int) -> None:
        self.day += timedelta(days=step)
        self._show_day()
        checked = next((n for n, b in self.shift_buttons.items() if b.isChecked()), None)
        if checked is not None:
            self.choose(f"{self.day.isoformat()} {checked}")

    def _show_day(self) -> None:
        self.day_label.setText(self.day.strftime("%a %Y-%m-%d"))
        self.day_next.setEnabled(self.day < datetime.now(self.calendar.tz).date())

    def reload(self) -> None:
        """Start building the report on the report thread (a load already running is let finish)."""
        if self.scope == "plant":
            self._reload_plant()
            return
        if self.loading:
            return
        self.loading = True
        self.status.setText("Building the report …")
        data_dir, calendar, pick, mode = self.ctx.station.data_dir, self.calendar, self.pick, self.compare_mode
        self.low.submit(lambda: load_reports(data_dir, calendar, pick, mode), self._loaded, self._failed)

    def _loaded(self, loaded: LoadedReports) -> None:
        self.loading = False
        self._loaded_mono = time.monotonic()
        self.show_loaded(loaded)

    def _failed(self, exc: BaseException) -> None:
        self.loading = False
        self.status.setText("The report could not be built.")
        self.ctx.channel.error(exc)

    def _reload_plant(self) -> None:
        """Read the chosen shift's plant report on the report thread (never on this one); one load at a time."""
        if self.plant is None:
            return
        if self.plant_loading:
            self._plant_again = True  # the choice changed while a read was out: read again when it is in
            return
        self._plant_again = False
        self.plant_loading = True
        self.plant.show_loading()
        cfg, calendar, pick = self.ctx.station.cfg, self.calendar, self.pick
        line = self.line if self.plant_line_only else None
        self.low.submit(lambda: load_plant_shift(cfg, calendar, pick, line), self._plant_done, self._plant_failed)

    def _plant_done(self, report) -> None:
        self.plant_loading = False
        self._plant_loaded_mono = time.monotonic()
        self.plant_loaded = report
        window = self.calendar.resolve(self.pick) if self.pick in ("current", "previous") else None
        if window is not None:
            self.day = window.day
            self._show_day()
        self.plant.show_report(report)
        if self._plant_again:
            self._reload_plant()

    def _plant_failed(self, exc: BaseException) -> None:
        # One message in the Plant scope itself; the banner and the station scope are left alone.
        self.plant_loading = False
        self.plant_loaded = None
        self.plant.show_problem(exc)
        if self._plant_again:
            self._reload_plant()

    # --- drawing -----------------------------------------------------------------------------
    def show_loaded(self, loaded: LoadedReports) -> None:
        """Draw a finished report (and its comparison): everything is worked out first, then shown at once.

        If working it out fails, the screen keeps what it showed before and says so: it is never left
        with one shift's figures beside another's charts.
        """
        try:
            view = prepare_view(loaded)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the shown report stays whole
            self.status.setText("This report could not be shown; the one on screen is unchanged.")
            self.ctx.channel.post(UserMessage(Level.ERROR, "This report could not be shown; the one on screen is "
                                              "unchanged", "choose the shift again; if it happens again, call "
                                              "service (the details are in the station's log)"), exc)
            return
        self.loaded = loaded
        r = loaded.main
        self.day = r.window.day
        self._show_day()
        self.title.setText(view.title)
        self.status.setText(view.status)
        self._fill_figures(view.figures)
        self.health.setText(view.health)
        fill_table(self.operators, view.operators)
        self.hourly.show_series(view.hourly)
        self.pareto.show_report(r)
        self.scores.show_report(r)
        fill_table(self.stops, view.stops)
        comparing = view.compare is not None
        self.compare_title.setVisible(comparing)
        self.compare_table.setVisible(comparing)
        self.stops.setVisible(not comparing)
        self.stops_title.setVisible(not comparing)
        if view.compare is not None:
            self.compare_title.setText(view.compare_title)
            fill_table(self.compare_table, view.compare)

    def _fill_figures(self, figures: list[tuple[str, str]]) -> None:
        for i, (name, value) in enumerate(figures):
            if i >= len(self.figure_rows):
                n, v = label("", "dim"), label("")
                self.figures.addWidget(n, i, 0)
                self.figures.addWidget(v, i, 1)
                self.figure_rows.append((n, v))
            self.figure_rows[i][0].setText(name)
            self.figure_rows[i][1].setText(value)
        self.figure_labels = {name: self.figure_rows[i] for i, (name, _value) in enumerate(figures)}

    # --- exports -----------------------------------------------------------------------------
    def export(self, kind: str) -> None:
        """Write the shown shift as CSV or PDF to the chosen target on the report thread; the message says where."""
        denial = self.ctx.session.denial(Permission.EXPORT)
        if denial is not None:
            self.ctx.channel.error(denial)
            return
        if self.scope == "plant":
            self._export_plant(kind)
            return
        if self.loaded is None:
            self.ctx.channel.warning("No report is on show yet", "wait until it is built, then export")
            return
        loaded = self.loaded
        data_dir = self.ctx.station.data_dir
        cfg = self.ctx.station.cfg
        r = loaded.main
        target = self._export_target()
        if target is None:
            return
        stem = f"shift_{r.window.day.isoformat()}_{r.window.name}" + (f"_{r.model_sha256[:12]}" if r.model_sha256 else "")

        def write(folder: Path) -> str:
            out = folder / f"{stem}.{kind}"
            if kind == "csv":
                conn = open_reports(data_dir)
                try:
                    rows = write_csv(conn, r.window, out, model_sha256=r.model_sha256)
                finally:
                    conn.close()
                settle(out)
                return f"CSV of {rows:,} parts written to {out}"
            write_pdf(r, out, station=f"{cfg.station.name} — {cfg.station.line}", other=loaded.other)
            settle(out)
            return f"PDF shift report written to {out}"

        self._submit_export(target, write)

    def _export_plant(self, kind: str) -> None:
        """Write the plant report on show as CSV or PDF to the chosen target on the report thread."""
        report = self.plant_loaded
        if report is None:
            self.ctx.channel.warning("No plant report is on show", "wait until it is read from the plant database")
            return
        target = self._export_target()
        if target is None:
            return
        day = report.local(report.start).strftime("%Y-%m-%d_%H%M")
        line = "_" + re.sub(r"[^A-Za-z0-9_.-]+", "-", report.line) if report.line else ""

        def write(folder: Path) -> str:
            out = folder / f"plant_{day}{line}.{kind}"
            if kind == "csv":
                from hmi.plant.reports import write_plant_csv

                rows = write_plant_csv(report, out)
                settle(out)
                return f"CSV plant report ({rows:,} rows) written to {out}"
            from hmi.plant.report_pdf import write_plant_pdf

            pages = write_plant_pdf(report, out)
            settle(out)
            return f"PDF plant report ({pages} pages) written to {out}"

        self._submit_export(target, write)
