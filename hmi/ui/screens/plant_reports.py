"""The reports screen's Plant scope: the plant report of the chosen shift, across every station or one line.

The report is read from the plant database on the station's report thread (see hmi.ui.screens.reports);
this view only draws a finished PlantReport, or says in one plain message why there is none. The station
scope never waits for it: a plant server that is away costs this view a message, nothing else.
"""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QHeaderView, QWidget

from hmi.config.schema import StationConfig
from hmi.plant.database import PlantDatabaseError
from hmi.plant.reports import SCREEN_TIMEOUT_S, PlantReport, key_figures, load_plant_report
from hmi.services.reports.shifts import ShiftCalendar
from hmi.ui.theme import Fonts
from hmi.ui.touch import TouchSize
from hmi.ui.widgets import fill_table, label, panel, read_only_table

STATION_COLUMNS = ["Station", "Line", "Parts", "First-\npass", "Final\nyield", "Re-\njects", "Over-\nrides",
                   "Newest\npart"]
AWAY = "plant database not reachable: {what} — the station's own report is still available (This station)."


def plant_line(cfg: StationConfig) -> str:
    """This station's line as the plant database knows it ([plant] line, else [station] line)."""
    return cfg.plant.line or cfg.station.line


def load_plant_shift(cfg: StationConfig, calendar: ShiftCalendar, pick: str, line: str | None) -> PlantReport:
    """The plant report of shift `pick` (this station's shift definitions), all stations or one line; blocking."""
    window = calendar.resolve(pick)
    return load_plant_report(cfg.plant, window.start, window.end, tz_name=cfg.shifts.timezone, line=line,
                             label=window.label, timeout_s=SCREEN_TIMEOUT_S)


def away_text(exc: BaseException) -> str:
    """The one message shown when the plant report could not be read (the server away, or another reason)."""
    if isinstance(exc, PlantDatabaseError):
        return AWAY.format(what=exc.what)
    return f"The plant report could not be read: {exc} — the station's own report is still available."


def _pct(x: float) -> str:
    return "—" if x != x else f"{x:.1f} %"


class PlantReportView(QWidget):
    """Key figures, the per-station table and the Pareto of a plant report; or why it cannot be shown."""

    def __init__(self, touch: TouchSize, pareto: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        fonts = Fonts.for_touch(touch.px)
        self.report: PlantReport | None = None
        self.title = label("Plant: choose a shift", "title", wrap=True)
        self.status = label("", "dim", wrap=True)
        self.problem = label("", wrap=True)
        self.problem.setObjectName("figure")
        self.problem.hide()
        self.figure_labels: dict[str, tuple] = {}
        self.figures = QGridLayout()
        self.figures.setHorizontalSpacing(6)
        self.figures.setVerticalSpacing(2)
        figures_panel, fig_col = panel()
        fig_col.addWidget(self.title)
        fig_col.addWidget(self.status)
        fig_col.addWidget(self.problem)
        fig_col.addLayout(self.figures)
        fig_col.addStretch(1)

        self.stations = read_only_table(STATION_COLUMNS, fonts.small)
        header = self.stations.horizontalHeader()
        for column in (0, len(STATION_COLUMNS) - 1):  # ids and times are read whole; the figures share the rest
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.stations.setMinimumHeight(3 * touch.px)
        self.notes = label("", "dim", wrap=True)
        stations_panel, st_col = panel()
        st_col.addWidget(label("By station", "title"))
        st_col.addWidget(self.stations, 1)
        st_col.addWidget(label("Replication freshness", "title"))
        st_col.addWidget(self.notes)

        self.pareto = pareto
        self.models = label("", wrap=True)
        charts_panel, ch_col = panel()
        ch_col.addWidget(label("Rejects by defect type", "title", wrap=True))
        ch_col.addWidget(self.pareto, 3)
        ch_col.addWidget(label("Model health", "title"))
        ch_col.addWidget(self.models)

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(figures_panel, 3)
        row.addWidget(stations_panel, 5)
        row.addWidget(charts_panel, 3)

    def show_loading(self) -> None:
        """Say that the report is being read."""
        self.status.setText("Reading the plant database …")

    def show_problem(self, exc: BaseException) -> None:
        """Show why there is no plant report (one plain message); the last figures are cleared."""
        self.report = None
        self.status.setText("")
        self.problem.setText(away_text(exc))
        self.problem.show()
        for _name, value in self.figure_labels.values():
            value.setText("—")
        fill_table(self.stations, [])
        self.notes.setText("")
        self.models.setText("")
        self.pareto.plot.clear()

    def show_report(self, report: PlantReport) -> None:
        """Draw a finished plant report."""
        self.report = report
        self.problem.hide()
        self.title.setText(f"Plant — {report.title}")
        built = report.local(report.built_at).strftime("%H:%M:%S")
        self.status.setText(f"Read from the plant database at {built} in {report.build_s:.2f} s.")
        for i, (name, value) in enumerate(key_figures(report)):
            if name not in self.figure_labels:
                n, v = label(name, "dim", wrap=True), label("", wrap=True)
                self.figures.addWidget(n, i, 0)
                self.figures.addWidget(v, i, 1)
                self.figure_labels[name] = (n, v)
            self.figure_labels[name][1].setText(value)
        newest = {f.station: f.last_part_at for f in report.freshness}
        rows = []
        for g in report.stations:
            f = g.figures
            at = newest.get(g.station)
            rows.append((g.station, g.line, f"{f.parts:,}", _pct(f.first_pass_yield), _pct(f.final_yield),
                         f"{f.rejects:,}", f"{f.overrides:,}", self._when(report, at)))
        fill_table(self.stations, rows or [("—", "", "0", "—", "—", "0", "0", "")])
        self.notes.setText("\n".join(report.notes) or "Every station's parts up to now are in the plant database.")
        self.pareto.show_report(report)
        lines = []
        for g in report.models[:3]:
            m = g.figures
            score = "—" if m.mean_score is None else f"{m.mean_score:.3g}"
            lines.append(f"{g.model} on {', '.join(report.stations_of(g.model_sha256)) or '—'}: {m.parts:,} parts, "
                         f"mean score {score}, HOLD {_pct(m.hold_share)}, NG overruled to OK {m.ng_to_ok:,}.")
        self.models.setText("\n".join(lines) or "No part was judged in this shift.")

    @staticmethod
    def _when(report: PlantReport, at) -> str:
        if at is None:
            return "none"
        local = report.local(at)
        same_day = report.local(report.built_at).date() == local.date()
        return f"{local:%H:%M:%S}" if same_day else f"{local:%m-%d %H:%M}"

