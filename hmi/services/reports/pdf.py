"""The shift report as a PDF (reportlab): key figures, hourly chart, Pareto, scores, overrides, alarms and stops."""

from __future__ import annotations

import math
import os
from datetime import datetime
from pathlib import Path

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from hmi.core.errors import StoreError
from hmi.services.reports.compare import COLUMNS, compare_reports, older_newer
from hmi.services.reports.summary import ScoreDistribution, ShiftReport, key_figures

# The station's calm greys; red only for rejects (ISA-101), always with words beside it.
GREY_DARK = colors.HexColor("#4A4A4A")
GREY = colors.HexColor("#8C8C8C")
GREY_LIGHT = colors.HexColor("#D8D8D8")
RED = colors.HexColor("#C81E1E")
AMBER = colors.HexColor("#E08A00")
WIDTH = A4[0] - 36 * mm

_styles = getSampleStyleSheet()
H1 = ParagraphStyle("h1", parent=_styles["Heading1"], fontSize=16, spaceAfter=4)
H2 = ParagraphStyle("h2", parent=_styles["Heading2"], fontSize=12, spaceBefore=8, spaceAfter=4)
BODY = ParagraphStyle("body", parent=_styles["BodyText"], fontSize=9, leading=11)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=7.5, leading=9, textColor=GREY_DARK)


def _pct(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.2f} %"


def _local(report: ShiftReport, moment: datetime | None) -> str:
    return report.window.local(moment).strftime("%H:%M:%S") if moment else "—"


def _table(rows: list[list[str]], widths: list[float] | None = None, header: bool = True) -> Table:
    t = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [("FONTSIZE", (0, 0), (-1, -1), 8), ("GRID", (0, 0), (-1, -1), 0.4, GREY),
             ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 3),
             ("RIGHTPADDING", (0, 0), (-1, -1), 3)]
    if header:
        style += [("BACKGROUND", (0, 0), (-1, 0), GREY_LIGHT), ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold")]
    t.setStyle(TableStyle(style))
    return t


def _hourly_chart(report: ShiftReport) -> Drawing:
    d = Drawing(WIDTH, 150)
    hours = report.hourly
    bars = VerticalBarChart()
    bars.x, bars.y, bars.width, bars.height = 40, 25, WIDTH - 90, 105
    bars.data = [[h.parts for h in hours]]
    bars.categoryAxis.categoryNames = [h.label for h in hours]
    bars.categoryAxis.labels.fontSize = 7
    bars.valueAxis.labels.fontSize = 7
    bars.valueAxis.valueMin = 0
    bars.bars[0].fillColor = GREY_LIGHT
    bars.bars[0].strokeColor = GREY
    d.add(bars)
    yields = [h.yield_pct for h in hours]
    valid = [y for y in yields if not math.isnan(y)]
    line = HorizontalLineChart()
    line.x, line.y, line.width, line.height = bars.x, bars.y, bars.width, bars.height
    line.data = [[y if not math.isnan(y) else None for y in yields]]
    low = math.floor(min(valid) - 1) if valid else 90
    line.valueAxis.valueMin = max(0, min(low, 95))
    line.valueAxis.valueMax = 100
    line.valueAxis.visible = False
    line.categoryAxis.visible = False
    line.lines[0].strokeColor = colors.black
    line.lines[0].strokeWidth = 1.5
    d.add(line)
    lo = line.valueAxis.valueMin
    for frac in (0.0, 0.5, 1.0):
        value = lo + frac * (100 - lo)
        d.add(String(bars.x + bars.width + 4, bars.y + frac * bars.height - 3, f"{value:.1f} %", fontSize=7))
    d.add(String(0, 140, "Bars: parts per hour (left scale).  Line: final yield per hour (right scale).", fontSize=8))
    return d


def _pareto_chart(report: ShiftReport) -> Drawing:
    d = Drawing(WIDTH, 140)
    items = report.pareto[:8]
    if not items:
        d.add(String(0, 60, "No rejects in this shift.", fontSize=9))
        return d
    bars = VerticalBarChart()
    bars.x, bars.y, bars.width, bars.height = 40, 30, WIDTH - 90, 95
    bars.data = [[p.parts for p in items]]
    bars.categoryAxis.categoryNames = [p.defect for p in items]
    bars.categoryAxis.labels.fontSize = 7
    bars.categoryAxis.labels.angle = 0
    bars.valueAxis.labels.fontSize = 7
    bars.valueAxis.valueMin = 0
    bars.bars[0].fillColor = RED
    bars.bars[0].strokeColor = colors.black
    d.add(bars)
    line = HorizontalLineChart()
    line.x, line.y, line.width, line.height = bars.x, bars.y, bars.width, bars.height
    line.data = [[100 * p.cumulative for p in items]]
    line.valueAxis.valueMin, line.valueAxis.valueMax = 0, 100
    line.valueAxis.visible = False
    line.categoryAxis.visible = False
    line.lines[0].strokeColor = colors.black
    d.add(line)
    for frac in (0.0, 0.5, 1.0):
        d.add(String(bars.x + bars.width + 4, bars.y + frac * bars.height - 3, f"{100 * frac:.0f} %", fontSize=7))
    d.add(String(0, 130, "Bars: rejected parts by kind.  Line: cumulative share of all rejects (right scale).",
                 fontSize=8))
    return d


def _histogram(dist: ScoreDistribution, counts: tuple[int, ...], title: str, fill) -> Drawing:
    w, h = WIDTH / 2 - 6, 120
    d = Drawing(w, h)
    x0, y0, pw, ph = 30, 22, w - 40, h - 42
    top = max(counts) if counts and max(counts) > 0 else 1
    n = len(counts)
    bw = pw / n
    for i, c in enumerate(counts):
        if c:
            d.add(Rect(x0 + i * bw, y0, bw, ph * c / top, fillColor=fill, strokeColor=GREY_DARK, strokeWidth=0.2))
    d.add(Line(x0, y0, x0 + pw, y0, strokeColor=GREY_DARK))
    lo, hi = dist.edges[0], dist.edges[-1]
    if dist.threshold is not None and lo <= dist.threshold <= hi:
        tx = x0 + pw * (dist.threshold - lo) / (hi - lo)
        d.add(Line(tx, y0, tx, y0 + ph + 4, strokeColor=colors.black, strokeWidth=1, strokeDashArray=[3, 2]))
        d.add(String(tx + 2, y0 + ph - 4, f"threshold {dist.threshold:g}", fontSize=6.5))
    for frac in (0.0, 0.5, 1.0):
        d.add(String(x0 + frac * pw - 10, y0 - 10, f"{lo + frac * (hi - lo):.3g}", fontSize=6.5))
    d.add(String(x0 - 28, y0 + ph - 4, f"{top:,}", fontSize=6.5))
    d.add(String(0, h - 10, f"{title}: {sum(counts):,} parts", fontSize=8))
    return d


def _operators(report: ShiftReport) -> list:
    if not report.operators:
        return [Paragraph("Nobody reviewed or overruled a verdict in this shift.", BODY)]
    rows = [["Person", "HOLD reviews", "Overrides", "to OK", "to NG", "Share of all overrides"]]
    total = max(1, report.overrides)
    for o in report.operators:
        rows.append([o.user, f"{o.reviews:,}", f"{o.overrides:,}", f"{o.to_ok:,}", f"{o.to_ng:,}",
                     f"{100 * o.overrides / total:.1f} %"])
    d = Drawing(WIDTH, 20 + 14 * len(report.operators))
    top = max(o.total for o in report.operators) or 1
    for i, o in enumerate(report.operators):
        y = d.height - 16 - 14 * i
        d.add(String(0, y + 2, o.user, fontSize=8))
        d.add(Rect(70, y, (WIDTH - 160) * o.reviews / top, 10, fillColor=GREY_LIGHT, strokeColor=GREY))
        d.add(Rect(70 + (WIDTH - 160) * o.reviews / top, y, (WIDTH - 160) * o.overrides / top, 10,
                   fillColor=GREY_DARK, strokeColor=GREY_DARK))
        d.add(String(WIDTH - 85, y + 2, f"{o.reviews} reviews, {o.overrides} overrides", fontSize=7))
    return [_table(rows), Spacer(1, 4), d,
            Paragraph("Light bar: HOLD parts reviewed. Dark bar: automatic verdicts overruled.", SMALL)]


def _alarms_and_stops(report: ShiftReport) -> list:
    out: list = []
    if report.stops:
        rows = [["Stop from", "to", "minutes", "alarms active then"]]
        for s in report.stops:
            rows.append([_local(report, s.start), _local(report, s.end), f"{s.seconds / 60:.1f}",
                         ", ".join(s.alarms) or "none recorded"])
        out += [_table(rows, [30 * mm, 30 * mm, 20 * mm, WIDTH - 80 * mm]), Spacer(1, 6)]
    else:
        out.append(Paragraph("No stop of 2 minutes or more.", BODY))
    if report.alarms:
        rows = [["Alarm", "priority", "raised", "cleared", "acknowledged", "message"]]
        for a in report.alarms:
            ack = f"{a.acknowledged_by} {_local(report, a.acknowledged_at)}" if a.acknowledged_by else "not yet"
            rows.append([a.code, str(a.priority), _local(report, a.raised_at),
                         _local(report, a.cleared_at) if a.cleared_at else "still active",
                         ack, Paragraph(a.message, SMALL)])
        out.append(_table(rows, [26 * mm, 14 * mm, 18 * mm, 18 * mm, 28 * mm, WIDTH - 104 * mm]))
    else:
        out.append(Paragraph("No alarm was active in this shift.", BODY))
    return out


def _models(report: ShiftReport) -> list:
    out: list = []
    for dist, health in zip(report.distributions, report.models, strict=False):
        fr = health.false_reject_rate
        words = health.drift.words if health.drift is not None else "No drift baseline for this model (see notes)."
        out.append(KeepTogether([
            Paragraph(f"Model {dist.model_name} <font size=7>{dist.model_sha256[:16]}…</font> — "
                      f"{health.parts:,} parts", H2),
            Table([[_histogram(dist, dist.good, "Good parts (final OK)", GREY_LIGHT),
                    _histogram(dist, dist.rejected, "Rejected parts (final NG)", RED)]],
                  colWidths=[WIDTH / 2, WIDTH / 2]),
            Paragraph(f"<b>Drift of good-part scores:</b> {words}", BODY),
            Paragraph(f"<b>NG verdicts overruled to OK</b> (a proxy for false rejects): {health.ng_to_ok:,} of "
                      f"{health.auto_ng:,} ({_pct(100 * fr)}).", BODY),
        ]))
    if not out:
        out.append(Paragraph("No part was judged by a model in this shift.", BODY))
    return out


def _compare(x: ShiftReport, y: ShiftReport) -> list:
    a, b = older_newer(x, y)
    rows = [list(COLUMNS)]
    rows += [[f.name, f.a, f.b, f.change] for f in compare_reports(a, b)]
    return [Paragraph("Side by side", H1), Paragraph(f"Older: {a.title}<br/>Newer: {b.title}", BODY), Spacer(1, 6),
            _table(rows, [50 * mm, 40 * mm, 40 * mm, WIDTH - 130 * mm])]


def build_story(report: ShiftReport, station: str = "", other: ShiftReport | None = None) -> list:
    """The report's flowables, in reading order."""
    built = report.window.local(report.built_at).strftime("%Y-%m-%d %H:%M")
    story: list = [
        Paragraph(f"Shift report — {report.title}", H1),
        Paragraph(f"{station + ' · ' if station else ''}Recipes: {', '.join(report.recipes) or '—'} · built {built} "
                  f"({report.window.timezone}) · records in UTC, times shown in plant time", SMALL),
        Spacer(1, 6),
    ]
    figures = key_figures(report)
    half = (len(figures) + 1) // 2
    grid = [[a, b, *(c if c else ("", ""))] for (a, b), c in
            zip(figures[:half], figures[half:] + [None] * (2 * half - len(figures)), strict=False)]
    story += [_table(grid, [45 * mm, 40 * mm, 45 * mm, WIDTH - 130 * mm], header=False),
              Paragraph("Hourly throughput and yield", H2), _hourly_chart(report),
              Paragraph("Rejects by defect type (Pareto)", H2), _pareto_chart(report)]
    if report.pareto:
        rows = [["Kind", "Parts", "Share", "Cumulative"]]
        rows += [[p.defect, f"{p.parts:,}", f"{100 * p.share:.1f} %", f"{100 * p.cumulative:.1f} %"]
                 for p in report.pareto]
        story.append(_table(rows, [60 * mm, 30 * mm, 30 * mm, 30 * mm]))
    story += [PageBreak(), Paragraph("Score distributions and model health", H1), *_models(report),
              Paragraph("Operator overrides", H2), *_operators(report),
              Paragraph("Alarms and downtime", H2), *_alarms_and_stops(report)]
    if report.notes:
        story += [Paragraph("Notes", H2), *[Paragraph(n, SMALL) for n in report.notes]]
    if report.audit_head:
        story += [Spacer(1, 8), Paragraph(
            f"Audit trail head when this report was built: entry {report.audit_head[0]}, hash "
            f"{report.audit_head[1]}. Keep this page: 'verify' with this anchor proves no earlier entry was changed.",
            SMALL)]
    if other is not None:
        story += [PageBreak(), *_compare(report, other)]
    return story


def write_pdf(report: ShiftReport, out: Path, *, station: str = "", other: ShiftReport | None = None) -> Path:
    """Write the shift report (and, with `other`, a side-by-side page) to `out` as an A4 PDF."""
    out = Path(out)
    tmp = out.with_name(out.name + ".part")

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(GREY_DARK)
        canvas.drawString(18 * mm, 10 * mm, f"{report.title}")
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"page {doc.page}")
        canvas.restoreState()

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = SimpleDocTemplate(str(tmp), pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=15 * mm,
                                bottomMargin=16 * mm, title=f"Shift report {report.title}", author=station or "hmi")
        doc.build(build_story(report, station, other), onFirstPage=footer, onLaterPages=footer)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"the PDF report could not be written to {out} ({exc.strerror or exc})",
                         "choose a folder you may write to, with free space") from None
    return out
