"""Record browser for quality managers: filter the records, page through the parts, open one with its history.

Every database and disk question goes through `ctx.tasks` on the browser's own read-only connection;
answers that arrive after the filter changed are dropped. A lot or part-id search (no index serves
it) arrives a step at a time, each under a second, and goes on by itself until the page is full.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDateTime, QSize, Qt, QTime
from PySide6.QtGui import QFont, QFontMetrics, QIcon, QIntValidator
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QComboBox, QCompleter, QDateTimeEdit, QHBoxLayout,
                               QHeaderView, QLineEdit, QPushButton, QSizePolicy, QStackedWidget, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from hmi.core.errors import StationError, StoreError
from hmi.core.verdict import Verdict
from hmi.decision.policy import confidence_text
from hmi.services.reports.browse import (PAGE_SIZE, PartDetail, RecordBrowser, RecordExport, RecordFilter, RecordKey,
                                RecordPage)
from hmi.services.reports.shifts import ShiftCalendar
from hmi.store.held import part_from_record as stored_part  # a stored part, drawn in a PartImageView
from hmi.store.queries import PartRecord
from hmi.store.users import Permission
from hmi.ui.context import ScreenContext
from hmi.ui.downstream_defect import DownstreamDefectPanel
from hmi.ui.part_view import PartImageView
from hmi.ui.screens.part import history_lines
from hmi.ui.symbols import VerdictBadge, verdict_pixmap
from hmi.ui.theme import Fonts
from hmi.ui.touch import button, sized
from hmi.ui.widgets import fill_table, image_and_heatmap_panel, label, panel, read_only_table

PRESETS = (("this_shift", "This shift"), ("previous_shift", "Previous shift"), ("today", "Today"),
           ("last_7_days", "Last 7 days"), ("range", "From – to"))
COLUMNS = ["Part", "Time", "Recipe", "Verdict", "Auto verdict", "Score", "Defect type", "Reviewed by"]
ALL_RECIPES = "All recipes"
ANY_SHIFT = "Any shift"
EXPORT_FOLDER = "exports"

# Every column of a stored part, in the words the part view shows them.
FIELD_NAMES = {
    "seq": "Part number", "part_id": "Part id", "lot_id": "Lot", "captured_at": "Captured",
    "captured_mono": "Captured (station clock, s)", "decided_at": "Decided", "recipe": "Recipe",
    "model_name": "Model", "model_sha256": "Model SHA-256", "threshold_version": "Threshold set version",
    "backend": "Inference backend", "camera_source": "Camera", "exposure_us": "Exposure (µs)",
    "gain_db": "Gain (dB)", "score": "Score", "confidence": "Defect confidence", "infer_ms": "Inference time (ms)",
    "auto_verdict": "Automatic verdict", "verdict": "Final verdict", "reason": "Reason",
    "latency_ms": "Capture to verdict (ms)", "reviewed_by": "Reviewed by", "reviewed_at": "Reviewed at",
    "review_note": "Review note", "defect_type": "Defect type", "plc_status": "PLC delivery",
    "plc_delivered_at": "Delivered to the PLC", "plc_detail": "PLC detail", "image_path": "Image file",
    "heatmap_path": "Heatmap file",
}


def preset_range(preset: str, now: datetime, calendar: ShiftCalendar, tz: ZoneInfo) -> tuple[datetime, datetime | None]:
    """The UTC [start, end) of a time preset at `now` (end None: up to the newest part)."""
    if preset == "this_shift":
        w = calendar.current(now)
        return w.start, w.end
    if preset == "previous_shift":
        w = calendar.previous(now)
        return w.start, w.end
    if preset == "today":
        local = now.astimezone(tz)
        midnight = datetime(local.year, local.month, local.day, tzinfo=tz)
        tomorrow = midnight.date() + timedelta(days=1)
        return (midnight.astimezone(timezone.utc),
                datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=tz).astimezone(timezone.utc))
    if preset == "last_7_days":
        return now - timedelta(days=7), None
    raise ValueError(f"no time preset called {preset!r}")


def field_rows(record: PartRecord, tz: ZoneInfo) -> list[tuple[str, str]]:
    """Every field of a stored part as (name, value) text; times in the plant's zone."""
    rows = []
    for column, name in FIELD_NAMES.items():
        value = getattr(record, column)
        if value is None or value == "":
            text = "—"
        elif isinstance(value, datetime):
            text = value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + value.astimezone(tz).strftime(" %Z")
        elif isinstance(value, Verdict):
            text = value.label
        elif column == "confidence":
            text = confidence_text(value)
        elif isinstance(value, float):
            text = f"{value:.4g}" if column not in ("score",) else f"{value:.4f}"
        else:
            text = str(value)
        rows.append((name, text))
    if record.decided_by:
        rows[list(FIELD_NAMES).index("verdict")] = ("Final verdict", record.final_words)
    return rows


def region_rows(record: PartRecord) -> list[tuple[str, ...]]:
    """The part's stored regions as table rows."""
    return [(str(r.idx + 1), r.label, str(r.area_px), "—" if r.peak_score is None else f"{r.peak_score:.3f}",
             f"{r.x}, {r.y}", f"{r.w} × {r.h}", "—" if r.confidence is None else f"{r.confidence:.2f}")
            for r in record.regions]


class RecordsScreen(QWidget):
    """Filter bar, a page of parts, and the part view with image, heatmap, regions, every field and history."""

    def __init__(self, ctx: ScreenContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.touch = touch = ctx.touch
        fonts = Fonts.for_touch(touch.px)
        shifts = ctx.station.cfg.shifts
        self.tz = ZoneInfo(shifts.timezone)
        self.calendar = ShiftCalendar(shifts)
        self.browser = RecordBrowser(ctx.station.data_dir, shifts)
        self.filter: RecordFilter | None = None
        self.page: RecordPage | None = None
        self.records: list[PartRecord] = []
        self.page_starts: list[RecordKey | None] = []  # where each earlier page began, for 'Newer'
        self.start: RecordKey | None = None
        self.searching = False
        self.listed_at: float | None = None
        self.detail: PartDetail | None = None
        self.export: RecordExport | None = None
        self._generation = 0
        self._choices_loaded = False

        self.stack = QStackedWidget()
        self.stack.addWidget(self._build_list(fonts))
        self.stack.addWidget(self._build_part(fonts))
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.stack)

    # --- building ------------------------------------------------------------------------------
    def _build_list(self, fonts: Fonts) -> QWidget:
        touch = self.touch
        self.preset_group = QButtonGroup(self)
        self.preset_group.setExclusive(True)
        self.presets: dict[str, QPushButton] = {}
        time_row = QHBoxLayout()
        for key, words in PRESETS:
            b = button(words, touch, checkable=True)
            b.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
            bold = QFont(b.font())
            bold.setPixelSize(fonts.body)  # the style sheet's size, which b.font() does not know yet
            bold.setBold(True)  # a checked button's words are bold: leave room for them
            b.setMinimumWidth(max(b.minimumWidth(), QFontMetrics(bold).horizontalAdvance(words) + 40))
            self.preset_group.addButton(b)
            self.presets[key] = b
            time_row.addWidget(b)
            b.clicked.connect(lambda _=False, k=key: self._preset_chosen(k))
        self.presets["this_shift"].setChecked(True)
        self.range_from = self._date_edit()
        self.range_to = self._date_edit()
        self.range_row = QWidget()
        range_layout = QHBoxLayout(self.range_row)
        range_layout.setContentsMargins(0, 0, 0, 0)
        range_layout.addWidget(label(f"From ({self.tz.key})"))
        range_layout.addWidget(self.range_from, 1)
        range_layout.addWidget(label("to"))
        range_layout.addWidget(self.range_to, 1)
        self.range_row.hide()

        self.recipe_box = self._combo([ALL_RECIPES])
        self.shift_box = self._combo([ANY_SHIFT, *self.calendar.names])
        time_row.addWidget(self.recipe_box, 1)
        time_row.addWidget(self.shift_box, 1)

        self.verdict_buttons: dict[Verdict, QPushButton] = {}
        find_row = QHBoxLayout()
        for v in Verdict:
            b = button(v.label, touch, checkable=True)
            b.setIcon(QIcon(verdict_pixmap(v, fonts.body)))
            b.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
            self.verdict_buttons[v] = b
            find_row.addWidget(b)
        self.lot_field = self._field("Lot")
        self.lot_completer = QCompleter([], self)
        self.lot_completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.lot_field.setCompleter(self.lot_completer)
        self.seq_field = self._field("Part no.")
        self.seq_field.setValidator(QIntValidator(0, 2 ** 31 - 1, self))
        self.part_id_field = self._field("Part id")
        self.search_button = button("Search", touch, wide=1.8, name="primary")
        self.stop_button = button("Stop search", touch, wide=1.8)
        self.stop_button.hide()
        self.export_button = button("Export CSV", touch, wide=1.8)
        for field in (self.lot_field, self.seq_field, self.part_id_field):
            find_row.addWidget(field, 1)
        for b in (self.search_button, self.stop_button, self.export_button):
            b.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
            find_row.addWidget(b)
        for field in (self.lot_field, self.seq_field, self.part_id_field):
            field.returnPressed.connect(self.search)
        self.search_button.clicked.connect(self.search)
        self.stop_button.clicked.connect(self.stop_search)
        self.export_button.clicked.connect(self.export_csv)

        filters, filters_col = panel()
        filters_col.addLayout(time_row)
        filters_col.addWidget(self.range_row)
        filters_col.addLayout(find_row)

        self.summary = label("", wrap=True)
        self.status = label("", "dim", wrap=True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(touch.px + 1)  # the grid line takes one pixel
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(touch.px // 2, touch.px // 2))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionsClickable(False)
        self.table.cellClicked.connect(lambda row, _col: self.open_row(row))

        self.newest_button = button("◀◀ Newest", touch, wide=2.0)
        self.newer_button = button("◀ Newer", touch, wide=2.0)
        self.older_button = button("Older ▶", touch, wide=2.0)
        self.page_label = label("", "dim")
        self.newest_button.clicked.connect(self.newest_page)
        self.newer_button.clicked.connect(self.newer_page)
        self.older_button.clicked.connect(self.older_page)
        paging = QHBoxLayout()
        paging.addWidget(self.newest_button)
        paging.addWidget(self.newer_button)
        paging.addWidget(self.page_label, 2)
        paging.addWidget(self.status, 3)
        paging.addWidget(self.older_button)

        page = QWidget()
        col = QVBoxLayout(page)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(filters)
        col.addWidget(self.summary)
        col.addWidget(self.table, 1)
        col.addLayout(paging)
        self._show_paging()
        return page

    def _build_part(self, fonts: Fonts) -> QWidget:
        touch = self.touch
        self.back = button("◀ Back to list", touch, wide=3.0)
        self.back.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.back.clicked.connect(self.back_to_list)
        self.part_title = label("", "title")
        self.badge = VerdictBadge(symbol_px=touch.px, font_px=fonts.title)
        self.image_view = PartImageView()
        self.image_view.set_overlays(heatmap=False, defects=False, roi=False)
        self.heat_view = PartImageView()
        self.heat_view.set_overlays(heatmap=False, defects=True, roi=False)
        legend = label("Stored heatmap:\nblue = normal,\nred = at or\nabove 120 %\nof the region\nthreshold", "dim")
        legend.setAlignment(Qt.AlignmentFlag.AlignTop)
        pictures_panel, pictures = image_and_heatmap_panel(self.image_view, self.heat_view, legend)
        self.image_note = label("", "dim", wrap=True)
        pictures.addWidget(self.image_note)
        pictures.addWidget(label("Regions", "title"))
        self.regions = read_only_table(["#", "Label", "Area px²", "Peak", "x, y", "w × h", "Confidence"], fonts.small)
        self.regions.setMaximumHeight(touch.px * 3)
        pictures.addWidget(self.regions)

        info_panel, info = panel()
        self.fields = read_only_table(["Field", "Value"], fonts.small)
        self.fields.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        info.addWidget(self.fields, 1)
        info.addWidget(label("History", "title"))
        self.history = label("", "dim", wrap=True)
        info.addWidget(self.history)

        self.report_button = button("Defect found downstream", touch, wide=4.0)
        self.report_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.report_button.clicked.connect(self.ask_downstream_defect)
        self.report_button.hide()
        head = QHBoxLayout()
        head.addWidget(self.back)
        head.addWidget(self.part_title)
        head.addWidget(self.badge, 1)
        head.addWidget(self.report_button)
        body_page = QWidget()
        body = QHBoxLayout(body_page)
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(pictures_panel, 3)
        body.addWidget(info_panel, 2)
        self.defect_panel = DownstreamDefectPanel(self.ctx, self.browser)
        self.defect_panel.closed.connect(self._defect_panel_closed)
        self.part_stack = QStackedWidget()
        self.part_stack.addWidget(body_page)
        self.part_stack.addWidget(self.defect_panel)
        page = QWidget()
        col = QVBoxLayout(page)
        col.setContentsMargins(0, 0, 0, 0)
        col.addLayout(head)
        col.addWidget(self.part_stack, 1)
        return page

    def _date_edit(self) -> QDateTimeEdit:
        edit = QDateTimeEdit()
        edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        edit.setCalendarPopup(True)
        sized(edit, self.touch, wide=3.0)
        edit.setMinimumHeight(self.touch.px + 8)  # the text field inside the frame must reach a touch target
        return edit

    def _combo(self, items: list[str]) -> QComboBox:
        box = QComboBox()
        box.addItems(items)
        sized(box, self.touch, wide=2.2)
        return box

    def _field(self, placeholder: str) -> QLineEdit:
        field = QLineEdit()
        field.setPlaceholderText(placeholder)
        field.setClearButtonEnabled(True)
        sized(field, self.touch, wide=2.0)
        return field

    # --- the screen's life ---------------------------------------------------------------------
    def on_show(self) -> None:
        """List the parts of the current filter afresh, then load the filter choices (once)."""
        if self.stack.currentIndex() == 0:
            self.search()
        if not self._choices_loaded:
            self._load_choices()

    def on_tick(self) -> None:
        """Say how old the list is (from memory only); close a downstream report its signer can no longer sign."""
        if self.part_stack.currentWidget() is self.defect_panel and not self.ctx.session.can(Permission.REPORT_DEFECTS):
            self._close_defect_panel()
        if self.listed_at is not None and not self.searching:
            age = int(time.monotonic() - self.listed_at)
            words = "just now" if age < 60 else f"{age // 60} min ago"
            text = f"Listed {words}; tap Search for newer parts."
            if self.status.text() != text and self.export is None:
                self.status.setText(text)

    def prepare_screenshot(self) -> None:
        """Fill the list synchronously with the current filter (the last 7 days when this shift has no parts)."""
        self._apply_choices(self.browser.choices("recipe"), self.browser.choices("lot_id"))
        flt = self.current_filter()
        page = self.browser.page(flt)
        if not page.records:
            self.presets["last_7_days"].setChecked(True)
            flt = self.current_filter()
            page = self.browser.page(flt)
        self._generation += 1
        self.filter, self.start, self.page_starts, self.records = flt, None, [], []
        self._page_arrived(self._generation, page)
        self.stack.setCurrentIndex(0)

    # --- filter --------------------------------------------------------------------------------
    def _preset_chosen(self, key: str) -> None:
        if key == "range":
            if not self.range_row.isVisible():
                now = QDateTime.currentDateTime()
                self.range_from.setDateTime(QDateTime(now.date(), QTime(0, 0)))
                self.range_to.setDateTime(now.addSecs(60))
            self.range_row.show()
            return
        self.range_row.hide()
        self.search()

    def current_filter(self, now: datetime | None = None) -> RecordFilter:
        """The filter the controls describe; StationError in plain words for a range that ends before it starts."""
        now = now or datetime.now(timezone.utc)
        key = next((k for k, b in self.presets.items() if b.isChecked()), "this_shift")
        if key == "range":
            start = self.range_from.dateTime().toPython().replace(tzinfo=self.tz)
            end = self.range_to.dateTime().toPython().replace(tzinfo=self.tz)
        else:
            start, end = preset_range(key, now, self.calendar, self.tz)
        recipe = self.recipe_box.currentText() if self.recipe_box.currentIndex() > 0 else None
        shift = self.shift_box.currentText() if self.shift_box.currentIndex() > 0 else None
        seq_text = self.seq_field.text().strip()
        return RecordFilter(start=start, end=end, shift=shift, recipe=recipe,
                            verdicts=frozenset(v for v, b in self.verdict_buttons.items() if b.isChecked()),
                            lot_id=self.lot_field.text(), part_id=self.part_id_field.text(),
                            seq=int(seq_text) if seq_text else None)

    def _load_choices(self) -> None:
        browser = self.browser
        self.ctx.tasks.submit(lambda: (browser.choices("recipe"), browser.choices("lot_id")),
                              lambda result: self._apply_choices(*result),
                              lambda exc: self.status.setText(f"Filter choices could not be read: {exc}"))

    def _apply_choices(self, recipes: list[str], lots: list[str]) -> None:
        self._choices_loaded = True
        chosen = self.recipe_box.currentText()
        self.recipe_box.clear()
        self.recipe_box.addItems([ALL_RECIPES, *recipes])
        if chosen in recipes:
            self.recipe_box.setCurrentText(chosen)
        self.lot_completer.model().setStringList(lots)  # type: ignore[attr-defined]

    # --- searching and paging --------------------------------------------------------------------
    def search(self) -> None:
        """List the newest parts of the filter the controls describe."""
        try:
            flt = self.current_filter()
        except StationError as exc:
            self.ctx.channel.warning(exc.what, exc.todo)
            return
        self.filter = flt
        self.page_starts = []
        self._fetch(None)

    def newest_page(self) -> None:
        """Back to the newest parts of the filter."""
        if self.filter is not None:
            self.page_starts = []
            self._fetch(None)

    def older_page(self) -> None:
        """The next page of older parts."""
        if self.filter is not None and self.page is not None and self.page.more and not self.searching:
            self.page_starts.append(self.start)
            self._fetch(self.page.next_after)

    def newer_page(self) -> None:
        """The page before this one."""
        if self.filter is not None and self.page_starts and not self.searching:
            self._fetch(self.page_starts.pop())

    def stop_search(self) -> None:
        """Stop a lot or part-id search that is still going back in time; what it found stays listed."""
        if self.searching:
            self._generation += 1
            self.searching = False
            self._show_paging()
            self.status.setText(self._searched_words() + " Search stopped; tap Older to search on.")

    def _fetch(self, start: RecordKey | None) -> None:
        self._generation += 1
        self.start = start
        self.records = []
        self.page = None
        self.searching = True
        self.table.setRowCount(0)
        self.summary.setText(self.filter.words(self.tz) if self.filter else "")
        self.status.setText("Searching the records…")
        self._show_paging()
        self._step(self._generation, start, PAGE_SIZE)

    def _step(self, generation: int, after: RecordKey | None, limit: int) -> None:
        browser, flt = self.browser, self.filter
        self.ctx.tasks.submit(lambda: browser.page(flt, after, limit),
                              lambda page: self._page_arrived(generation, page),
                              lambda exc: self._page_failed(generation, exc))

    def _page_arrived(self, generation: int, page: RecordPage) -> None:
        if generation != self._generation:
            return  # the filter or page changed meanwhile
        self.records += page.records
        self.page = page
        self.summary.setText(self.filter.words(self.tz) if self.filter else "")
        self._fill_table()
        if page.searched_to is not None and len(self.records) < PAGE_SIZE:
            self.status.setText(self._searched_words() + " Searching on…")
            self._step(generation, page.next_after, PAGE_SIZE - len(self.records))
            return
        self.searching = False
        self.listed_at = time.monotonic()
        self.status.setText(self._searched_words() if page.searched_to else "")
        self._show_paging()

    def _page_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self.searching = False
        self._show_paging()
        self.status.setText(f"The records could not be listed: {exc}")
        self.ctx.channel.error(exc)

    def _searched_words(self) -> str:
        if self.page is None or self.page.searched_to is None:
            return ""
        when = self.page.searched_to.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
        return f"Lot and part id have no index: searched back to {when}."

    def _fill_table(self) -> None:
        icon_px = self.touch.px // 2
        self.table.setRowCount(len(self.records))
        for row, r in enumerate(self.records):
            cells = [str(r.seq), r.captured_at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S"), r.recipe,
                     r.final_words, r.auto_verdict.label,
                     "—" if r.score is None else f"{r.score:.3f}" + (
                         "" if r.confidence is None else f"\n{confidence_text(r.confidence)}"),
                     r.defect_type or "—", r.reviewed_by or "—"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col in (3, 4):
                    verdict = r.verdict if col == 3 else r.auto_verdict
                    item.setIcon(QIcon(verdict_pixmap(verdict, icon_px)))
                self.table.setItem(row, col, item)

    def _show_paging(self) -> None:
        shown = len(self.records)
        first = len(self.page_starts) * PAGE_SIZE + 1
        if self.searching:
            words = f"{shown} found so far"
        elif shown:
            words = f"Parts {first}–{first + shown - 1}" + (", older parts follow" if self.page and self.page.more
                                                             else ", the oldest that match")
        else:
            words = "No part matches this filter." if self.page is not None else ""
        self.page_label.setText(words)
        self.stop_button.setVisible(self.searching and self.page is not None)
        self.search_button.setVisible(not self.stop_button.isVisible())
        self.older_button.setEnabled(not self.searching and self.page is not None and self.page.more)
        self.newer_button.setEnabled(not self.searching and bool(self.page_starts))
        self.newest_button.setEnabled(not self.searching and bool(self.page_starts))

    # --- one part ------------------------------------------------------------------------------
    def open_row(self, row: int) -> None:
        """Open the part listed in `row`."""
        if 0 <= row < len(self.records):
            self.open_part(self.records[row].seq)

    def open_part(self, seq: int) -> None:
        """Show part `seq`: its record and history at once from the list, its pictures when read from disk."""
        self.detail = None
        self.part_title.setText(f"Part {seq}")
        self.image_note.setText("Reading the record and its pictures…")
        self.history.setText("")
        fill_table(self.fields, [])
        fill_table(self.regions, [])
        self.image_view.show_part(None, 1.0, None)
        self.heat_view.show_part(None, 1.0, None)
        self.report_button.hide()
        self.part_stack.setCurrentIndex(0)
        self.stack.setCurrentIndex(1)
        browser = self.browser
        self.ctx.tasks.submit(lambda: browser.detail(seq), self.show_detail,
                              lambda exc: self._detail_failed(seq, exc))

    def show_detail(self, detail: PartDetail) -> None:
        """Fill the part view (ignored when another part was opened meanwhile)."""
        record = detail.record
        if self.part_title.text() != f"Part {record.seq}":
            return
        self.detail = detail
        self.badge.set_verdict(record.verdict)
        self.part_title.setText(f"Part {record.seq}")
        self.image_view.show_part(stored_part(record, detail.image, "no image kept"), 1.0, None)
        self.heat_view.show_part(stored_part(record, detail.heatmap, "no heatmap kept"), 1.0, None)
        self.image_note.setText(detail.image_note)
        fill_table(self.fields, field_rows(record, self.tz))
        fill_table(self.regions, region_rows(record) or [("—", "No region stored", "", "", "", "", "")])
        self.history.setText(history_lines(list(detail.history)))
        self.report_button.setVisible(self.ctx.session.can(Permission.REPORT_DEFECTS))

    def ask_downstream_defect(self) -> None:
        """Open the report of a defect found downstream on the part shown (quality managers)."""
        denial = self.ctx.session.denial(Permission.REPORT_DEFECTS)
        if denial is not None:
            self.ctx.channel.warning(denial.what, denial.todo)
            return
        if self.detail is not None:
            self.defect_panel.open_for(self.detail)
            self.part_stack.setCurrentWidget(self.defect_panel)

    def _defect_panel_closed(self, detail: PartDetail | None) -> None:
        self.part_stack.setCurrentIndex(0)
        if detail is not None:
            self.show_detail(detail)

    def _detail_failed(self, seq: int, exc: BaseException) -> None:
        if self.part_title.text() != f"Part {seq}":
            return
        self.image_note.setText(str(exc))
        if not isinstance(exc, StoreError):
            self.ctx.channel.error(exc)

    def back_to_list(self) -> None:
        """Back to the list as it was (a downstream report not signed yet is forgotten)."""
        self._close_defect_panel()
        self.stack.setCurrentIndex(0)

    def _close_defect_panel(self) -> None:
        self.defect_panel.reset()
        self.part_stack.setCurrentIndex(0)
        self.report_button.setVisible(self.detail is not None and self.ctx.session.can(Permission.REPORT_DEFECTS))

    # --- export --------------------------------------------------------------------------------
    def export_csv(self) -> None:
        """Write every part of the filter to DATA_DIR/exports/records_<time>.csv, a page per background step."""
        denial = self.ctx.session.denial(Permission.EXPORT)
        if denial is not None:
            self.ctx.channel.warning(denial.what, denial.todo)
            return
        if self.export is not None:
            self.ctx.channel.info("An export is already running", "wait for it to finish")
            return
        try:
            flt = self.current_filter()
        except StationError as exc:
            self.ctx.channel.warning(exc.what, exc.todo)
            return
        stamp = datetime.now(self.tz).strftime("%Y%m%d-%H%M%S")
        path = self.ctx.station.data_dir / EXPORT_FOLDER / f"records_{stamp}.csv"
        self.export = RecordExport(self.browser, flt, path)
        self.export_button.setEnabled(False)
        self.status.setText(f"Exporting {flt.words(self.tz)}…")
        self._export_step()

    def _export_step(self) -> None:
        export = self.export
        if export is None:
            return
        self.ctx.tasks.submit(export.step, self._export_progress, self._export_failed)

    def _export_progress(self, written: int) -> None:
        export = self.export
        if export is None:
            return
        if not export.done:
            self.status.setText(f"Exporting… {written} parts written")
            self._export_step()  # one page per task, so logins and lists are not held up behind it
            return
        self.export = None
        self.export_button.setEnabled(True)
        self.status.setText(f"Exported {written} parts to {export.path}")
        self.ctx.channel.info(f"{written} parts exported to {export.path}")

    def _export_failed(self, exc: BaseException) -> None:
        if self.export is not None:
            self.export.abort()
        self.export = None
        self.export_button.setEnabled(True)
        self.status.setText(f"The export failed: {exc}")
        self.ctx.channel.error(exc)
