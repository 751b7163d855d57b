"""The plant report as an A4 PDF (reportlab) in the shift report's look: figures, breakdowns, Pareto, models."""

from __future__ import annotations

import math
import os
from pathlib import Path

from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from hmi.core.errors import StoreError
from hmi.plant.reports import Figures, Group, PlantReport, key_figures
from hmi.services.reports.pdf import BODY, GREY, GREY_DARK, GREY_LIGHT, H1, H2, RED, SMALL, WIDTH

MAX_SHIFT_ROWS = 120   # more shifts than this: the lowest final yields are printed, all of them are in the CSV
_BAR_ROW = 14


def _pct(x: float | None) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.2f} %"


def _table(rows: list[list], widths: list[float] | None = None, header: bool = True, numeric_from: int = 1) -> Table:
    t = Table(rows, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
    style = [("FONTSIZE", (0, 0), (-1, -1), 7.5), ("GRID", (0, 0), (-1, -1), 0.4, GREY),
             ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 3),
             ("RIGHTPADDING", (0, 0), (-1, -1), 3), ("TOPPADDING", (0, 0), (-1, -1), 1.5),
             ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]
    if header:
        style += [("BACKGROUND", (0, 0), (-1, 0), GREY_LIGHT), ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                  ("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT")]
    t.setStyle(TableStyle(style))
    return t


_FIGURE_HEAD = ["Parts", "OK", "NG", "HOLD", "NOT\nINSP.", "First-pass\nyield", "Final\nyield", "Over-\nrides"]


def _figure_cells(f: Figures) -> list[str]:
    return [f"{f.parts:,}", f"{f.ok:,}", f"{f.ng:,}", f"{f.hold:,}", f"{f.not_inspected:,}",
            _pct(f.first_pass_yield), _pct(f.final_yield), f"{f.overrides:,}"]


def _figure_widths(lead: list[float]) -> list[float]:
    rest = WIDTH - sum(lead)
    shares = [1.1, 1.1, 0.9, 0.8, 0.8, 1.2, 1.2, 0.9]
    return lead + [rest * s / sum(shares) for s in shares]


def _breakdown(groups: tuple[Group, ...], head: list[str], cells, widths: list[float]) -> Table:
    rows = [head + _FIGURE_HEAD]
    rows += [cells(g) + _figure_cells(g.figures) for g in groups]
    return _table(rows, _figure_widths(widths), numeric_from=len(head))


def _bars(items: list[tuple[str, float, str]], fill, scale_max: float, note: str, scale_min: float = 0.0) -> Drawing:
    """Horizontal bars: (label, value, text written after the bar) on a scale from `scale_min` to `scale_max`."""
    label_w, text_w = 38 * mm, 44 * mm
    d = Drawing(WIDTH, 14 + _BAR_ROW * len(items))
    bar_w = WIDTH - label_w - text_w
    for i, (name, value, text) in enumerate(items):
        y = d.height - 12 - _BAR_ROW * (i + 1) + 3
        d.add(String(0, y + 2, name[:28], fontSize=7.5))
        span = scale_max - scale_min
        length = bar_w * (max(0.0, value - scale_min) / span if span > 0 else 0.0)
        d.add(Rect(label_w, y, max(length, 0.5), _BAR_ROW - 5, fillColor=fill, strokeColor=GREY_DARK, strokeWidth=0.3))
        d.add(String(label_w + max(length, 0.5) + 4, y + 2, text, fontSize=7))
    d.add(Line(label_w, 2, label_w, d.height - 12, strokeColor=GREY_DARK, strokeWidth=0.5))
    d.add(String(0, d.height - 8, note, fontSize=7, fillColor=GREY_DARK))
    return d


def _pareto(report: PlantReport) -> list:
    if not report.pareto:
        return [Paragraph("No rejects in this window.", BODY)]
    items = [(p.defect, p.parts, f"{p.parts:,} · {100 * p.share:.1f} % · cumulative {100 * p.cumulative:.0f} %")
             for p in report.pareto[:10]]
    chart = _bars(items, RED, max(p.parts for p in report.pareto),
                  "Bars: rejected parts by kind, largest first (share of all rejects, running share).")
    rows = [["Kind", "Parts", "Share", "Cumulative"]]
    rows += [[p.defect, f"{p.parts:,}", f"{100 * p.share:.1f} %", f"{100 * p.cumulative:.1f} %"] for p in report.pareto]
    out = [chart, Spacer(1, 4), _table(rows, [60 * mm, 30 * mm, 30 * mm, 30 * mm])]
    if any(p.defect == "not classified" for p in report.pareto):
        out.append(Paragraph("Not classified: rejected by an anomaly model that names no defect type, and no reviewer "
                             "gave one.", SMALL))
    return out


def _yield_chart(report: PlantReport) -> list:
    stations = [g for g in report.stations if g.figures.parts]
    if len(stations) < 2:
        return []
    items = [(f"{g.station} ({g.line})", g.figures.final_yield,
              f"final {_pct(g.figures.final_yield)} · first-pass {_pct(g.figures.first_pass_yield)}")
             for g in stations]
    # Yields sit close to 100 %: the scale starts a little below the lowest, and says where.
    floor = float(max(0, min(95, math.floor(min(g.figures.final_yield for g in stations) - 1))))
    note = f"Bars: final yield per station, on a scale from {floor:.0f} % to 100 %."
    return [_bars(items, GREY_LIGHT, 100.0, note, scale_min=floor), Spacer(1, 4)]


def _overrides(report: PlantReport) -> list:
    f = report.plant
    text = (f"{f.overrides:,} automatic verdicts were changed by a person ({_pct(f.override_rate)} of the parts the "
            f"stations decided themselves); {f.reviews:,} HOLD parts were reviewed, {f.timed_out:,} timed out to "
            "their default verdict.")
    out: list = [Paragraph(text, BODY)]
    if report.overrides:
        rows = [["Automatic verdict", "changed to", "Parts", "Share of overrides"]]
        rows += [[o.auto_verdict, o.verdict, f"{o.parts:,}", f"{100 * o.share:.1f} %"] for o in report.overrides]
        out += [Spacer(1, 3), _table(rows, [40 * mm, 40 * mm, 30 * mm, 40 * mm], numeric_from=2)]
    return out


def _models(report: PlantReport) -> list:
    if not report.models:
        return [Paragraph("No part was judged in this window.", BODY)]
    rows = [["Model", "SHA-256", "Stations", "Parts", "Mean\nscore", "HOLD (near\nthreshold)", "Auto NG",
             "NG overruled\nto OK"]]
    for g in report.models:
        f = g.figures
        rows.append([Paragraph(g.model_name or "no model (not inspected)", SMALL), g.model_sha256[:12] or "—",
                     Paragraph(", ".join(report.stations_of(g.model_sha256)) or "—", SMALL), f"{f.parts:,}",
                     "—" if f.mean_score is None else f"{f.mean_score:.4g}", _pct(f.hold_share), f"{f.auto_ng:,}",
                     f"{f.ng_to_ok:,} ({_pct(f.ng_overruled)})"])
    widths = [28 * mm, 22 * mm, 30 * mm, 18 * mm, 16 * mm, 20 * mm, 16 * mm]
    return [_table(rows, widths + [WIDTH - sum(widths)], numeric_from=3),
            Paragraph("HOLD: parts the model scored inside the borderline band around the threshold. NG overruled "
                      "to OK: automatic rejects a person judged good, a proxy for false rejects.", SMALL)]


def _freshness(report: PlantReport) -> list:
    if not report.freshness:
        return [Paragraph("No station has replicated to this plant database yet.", BODY)]
    rows = [["Station", "Line", "Newest part in the plant", "Last heard from", "Station's newest\npart number",
             "Not yet\nsent"]]
    for f in report.freshness:
        rows.append([f.station, f.line,
                     f"{report.local(f.last_part_at):%Y-%m-%d %H:%M:%S}" if f.last_part_at else "none",
                     f"{report.local(f.last_seen):%Y-%m-%d %H:%M:%S}" if f.last_seen else "never",
                     f"#{f.local_high_seq:,}", f"{f.behind:,}"])
    out: list = [_table(rows, [26 * mm, 18 * mm, 40 * mm, 40 * mm, 26 * mm, WIDTH - 150 * mm], numeric_from=4)]
    if report.notes:
        out += [Spacer(1, 3), *[Paragraph(n, BODY) for n in report.notes]]
    else:
        out.append(Paragraph("Every station's parts up to the end of this window are in the plant database.", SMALL))
    return out


def _shifts(report: PlantReport) -> list:
    if not report.shifts:
        return [Paragraph("No shift with parts in this window.", BODY)]
    shown = list(report.shifts)
    note = ""
    if len(shown) > MAX_SHIFT_ROWS:
        shown = sorted(shown, key=lambda g: (g.figures.final_yield if g.figures.parts else 101.0))[:MAX_SHIFT_ROWS]
        shown.sort(key=lambda g: (g.shift_start or report.start, g.station))
        note = (f"{len(report.shifts):,} shifts in the window: the {MAX_SHIFT_ROWS} with the lowest final yield are "
                "shown; the CSV holds them all.")

    def cells(g: Group) -> list[str]:
        start = f"{report.local(g.shift_start):%Y-%m-%d %H:%M}" if g.shift_start else "between shifts"
        return [g.station, g.shift or "—", start]

    words = "A shift cut by the window's start or end counts only its parts inside the window. " + note
    return [Paragraph(words.strip(), SMALL), Spacer(1, 2),
            _breakdown(tuple(shown), ["Station", "Shift", "Started"], cells, [20 * mm, 14 * mm, 26 * mm])]


def build_story(report: PlantReport) -> list:
    """The report's flowables, in reading order."""
    built = report.local(report.built_at).strftime("%Y-%m-%d %H:%M")
    heading = f"{report.label} · " if report.label else ""
    story: list = [
        Paragraph(f"Plant report — {report.scope}", H1),
        Paragraph(f"<b>{heading}{report.window_text}</b> (the end not included)", BODY),
        Paragraph(f"Built {built} from the plant database · records in UTC, times shown in plant time", SMALL),
        Spacer(1, 6),
    ]
    figures = key_figures(report)
    half = (len(figures) + 1) // 2
    grid = [[a, b, *(c if c else ("", ""))] for (a, b), c in
            zip(figures[:half], figures[half:] + [None] * (2 * half - len(figures)), strict=False)]
    story += [_table(grid, [40 * mm, 45 * mm, 42 * mm, WIDTH - 127 * mm], header=False),
              Paragraph("By station", H2), *_yield_chart(report),
              _breakdown(report.stations, ["Station", "Line"], lambda g: [g.station, g.line], [22 * mm, 16 * mm])]
    if len(report.lines) > 1 or not report.line:
        story += [Paragraph("By line", H2), _breakdown(report.lines, ["Line"], lambda g: [g.line], [38 * mm])]
    story += [KeepTogether([Paragraph("Rejects by defect type (Pareto)", H2), *_pareto(report)]),
              Paragraph("By recipe", H2), _breakdown(report.recipes, ["Recipe"], lambda g: [g.recipe], [38 * mm]),
              KeepTogether([Paragraph("Overrides", H2), *_overrides(report)]),
              KeepTogether([Paragraph("Model health", H2), *_models(report)]),
              KeepTogether([Paragraph("Replication freshness", H2), *_freshness(report)]),
              Paragraph("By shift (station and shift)", H2), *_shifts(report)]
    return story


class _NumberedCanvas(Canvas):
    """A canvas that writes 'page N of M' once it knows M (pages are kept until the document is saved)."""

    footer_left = ""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict] = []

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        """Write every kept page with its footer, then the file."""
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self.saveState()
            self.setFont("Helvetica", 7)
            self.setFillColor(GREY_DARK)
            self.drawString(18 * mm, 10 * mm, self.footer_left)
            self.drawRightString(A4[0] - 18 * mm, 10 * mm, f"page {self._pageNumber} of {total}")
            self.restoreState()
            super().showPage()
        super().save()


def write_plant_pdf(report: PlantReport, out: Path) -> int:
    """Write the plant report to `out` as an A4 PDF; returns its page count."""
    out = Path(out)
    tmp = out.with_name(out.name + ".part")
    canvas = type("PlantReportCanvas", (_NumberedCanvas,), {"footer_left": f"Plant report — {report.title}"[:150]})
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = SimpleDocTemplate(str(tmp), pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=15 * mm,
                                bottomMargin=16 * mm, title=f"Plant report {report.title}", author="hmi")
        doc.build(build_story(report), canvasmaker=canvas)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"the PDF report could not be written to {out} ({exc.strerror or exc})",
                         "choose a folder you may write to, with free space") from None
    return doc.page
