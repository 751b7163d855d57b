"""Camera and lighting (technicians): the live image with its histogram, clipping, focus and evenness of the
light; exposure and gain written to the camera and read back; auto-exposure; the recipe's lighting reference.

Every camera command goes through the station's setup changes on the background thread (they run on the
capture thread, between two grabs); the screen itself only reads the newest part from memory.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Sequence
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QDoubleValidator, QFont, QPainter, QPen
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLineEdit, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

from hmi.camera.quality import (AutoExposure, AutoExposureResult, ImageQuality, frame_mean, grey, light_grid, measure,
                                next_frame)
from hmi.core.errors import StationError
from hmi.core.part import CameraSettings, Part
from hmi.store.users import Permission
from hmi.ui import theme
from hmi.ui.charts import style_chart
from hmi.ui.context import ScreenContext
from hmi.ui.part_view import PartImageView
from hmi.ui.signature import SignaturePanel
from hmi.ui.theme import Fonts
from hmi.ui.touch import button
from hmi.ui.widgets import label, panel

LIVE_HZ = 10.0                 # the live image is redrawn at most this often (newest frame only)
MEASURE_EVERY_S = 0.25         # image checks at most this often: they cost a few ms on a large frame
MEASURE_MAX_PIXELS = 2_000_000  # larger frames are measured on every k-th pixel (focus on a full-resolution crop)
FOCUS_CROP = 1024
REFERENCE_FRAMES = 5           # the lighting reference is the mean over this many recent frames
EXPOSURE_STEP = 1.25           # − / + change the exposure by a quarter (about a third of a stop)
GAIN_STEP_DB = 1.0
AUTO_MIN_US = 20.0
AUTO_MAX_US = 100_000.0        # longer exposures blur moving parts; a line that needs more needs more light
AUTO_TOLERANCE = 4.0
CLIPPED_WARN_PCT = 1.0         # more clipped pixels than this is abnormal (shown with a mark and words)
CENTRE_WORDS = "Each cell's brightness against the centre (save a lighting reference to compare with it):"
REFERENCE_WORDS = "Each cell's brightness against the lighting reference:"
REASONS = ("New lot", "Lighting changed", "Lens cleaned")  # quick starts; the reason can be typed on


def quality_of(image: np.ndarray, reference: Sequence[float] = ()) -> ImageQuality:
    """The screen's image checks (evenness against the lighting reference's `reference` grid when there is one);
    large frames sampled so a check stays within a few milliseconds."""
    img = grey(image)
    h, w = img.shape
    k = max(1, math.ceil(math.sqrt(h * w / MEASURE_MAX_PIXELS)))
    q = measure(img[::k, ::k] if k > 1 else img, reference=reference)
    if k > 1:  # focus needs full-resolution edges: measure it on the centre crop
        y0, x0 = max(0, h // 2 - FOCUS_CROP // 2), max(0, w // 2 - FOCUS_CROP // 2)
        crop = measure(img[y0:y0 + FOCUS_CROP, x0:x0 + FOCUS_CROP])
        q = dataclasses.replace(q, focus=crop.focus)
    return q


def drift_pct(mean: float, reference: float) -> float | None:
    """Deviation of `mean` from the lighting reference in % (None while no reference is set)."""
    return 100.0 * (mean - reference) / reference if reference > 0 else None


def reference_words(reference: float, limit_pct: float, mean: float | None) -> tuple[str, bool]:
    """The lighting reference line and whether the light now is beyond its limit."""
    if reference <= 0:
        return "None saved for this recipe: the lighting-drift alarm is off.", False
    text = f"Reference mean {reference:.1f}, alarm beyond ±{limit_pct:.0f} %"
    if mean is None:
        return text, False
    drift = drift_pct(mean, reference)
    beyond = drift is not None and abs(drift) > limit_pct
    mark = "⚠ " if beyond else ""
    return f"{text}\n{mark}Now {mean:.1f}: {drift:+.1f} %{' — beyond the limit' if beyond else ''}", beyond


def parse_number(text: str) -> float | None:
    """A number typed on the screen ('1 250,5' and '1250.5' alike), or None."""
    cleaned = text.replace(" ", "").replace("\u202f", "").replace(",", ".")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class UniformityMap(QWidget):
    """The uniformity grid: each cell's brightness against the centre, in %; cells beyond the limit are marked."""

    def __init__(self, font_px: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.font_px = font_px
        self.grid: np.ndarray | None = None
        self.limit_pct = 15.0
        self.centre = True
        self.setMinimumSize(5 * font_px * 3, 5 * int(font_px * 1.8))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """Room for five cells of '+12 %' a row."""
        return QSize(5 * self.font_px * 4, 5 * self.font_px * 2)

    def show_grid(self, grid: np.ndarray | None, limit_pct: float, *, centre: bool = True) -> None:
        """Draw `grid` (cell against the centre, or against the reference when not `centre`); cells off by more
        than `limit_pct` get a mark."""
        self.grid = None if grid is None else np.array(grid, dtype=float)
        self.limit_pct = limit_pct
        self.centre = centre
        self.update()

    def cells_beyond(self) -> int:
        """How many cells are further from the centre than the limit."""
        if self.grid is None:
            return 0
        return int((np.abs(self.grid - 1.0) * 100.0 > self.limit_pct).sum())

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Grey cells as bright as the light they saw, with their deviation written in."""
        p = QPainter(self)
        font = QFont()
        font.setPixelSize(self.font_px)
        p.setFont(font)
        if self.grid is None:
            p.setPen(QColor(theme.TEXT_DIM))
            p.drawText(self.rect(), int(Qt.AlignmentFlag.AlignCenter), "No image yet")
            p.end()
            return
        rows, cols = self.grid.shape
        cw, ch = self.width() / cols, self.height() / rows
        for r in range(rows):
            for c in range(cols):
                ratio = float(self.grid[r, c])
                cell = QRectF(c * cw + 1, r * ch + 1, cw - 2, ch - 2)
                shade = int(np.clip(110 + 100 * (ratio - 1.0) / 0.5, 40, 235))
                p.fillRect(cell, QColor(shade, shade, shade))
                deviation = (ratio - 1.0) * 100.0
                beyond = abs(deviation) > self.limit_pct
                if beyond:  # colour with a shape and words, never colour alone
                    p.setPen(QPen(QColor(theme.ALARM_MEDIUM), 4))
                    p.drawRect(cell.adjusted(2, 2, -2, -2))
                centre = self.centre and (r, c) == (rows // 2, cols // 2)
                text = "centre" if centre else f"{'⚠' if beyond else ''}{deviation:+.0f} %"
                p.setPen(QColor(theme.ON_COLOUR if shade < 130 else theme.TEXT))
                p.drawText(cell, int(Qt.AlignmentFlag.AlignCenter), text)
        p.end()


class HistogramPlot(pg.PlotWidget):
    """The grey-level histogram with the mean and the lighting reference marked; not touchable."""

    def __init__(self, font_px: int, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=theme.PANEL)
        item = style_chart(self, font_px, "% of pixels", "grey level")
        item.setXRange(0, 256, padding=0)
        self.bars = pg.PlotDataItem(np.arange(257), np.zeros(256), stepMode="center", fillLevel=0,
                                    brush=pg.mkBrush(theme.NORMAL_SYMBOL), pen=pg.mkPen(theme.TEXT, width=1))
        self.addItem(self.bars)
        self.mean_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.TEXT, width=2))
        self.reference_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.TEXT, width=2, style=Qt.PenStyle.DashLine))
        for line in (self.mean_line, self.reference_line):
            self.addItem(line)
        self.reference_line.hide()
        self.setMinimumHeight(font_px * 8)

    def show_histogram(self, counts: np.ndarray, mean: float, reference: float) -> None:
        """Counts as a share of pixels (%), the mean as a line, the reference dashed (when set)."""
        share = counts.astype(float) * (100.0 / max(1.0, float(counts.sum())))
        self.bars.setData(np.arange(257), share)
        self.getPlotItem().setYRange(0, max(0.5, float(np.percentile(share, 99.5)) * 1.2), padding=0)
        self.mean_line.setValue(mean)
        self.reference_line.setVisible(reference > 0)
        if reference > 0:
            self.reference_line.setValue(reference)


class NumberRow(QWidget):
    """− [value] + for one camera setting; the value is typed or stepped, and written with the panel's button."""

    def __init__(self, touch, words: str, unit: str, step_down, step_up, decimals: int) -> None:
        super().__init__()
        self.unit = unit
        self.decimals = decimals
        self.minus = button("−", touch)
        self.plus = button("+", touch)
        self.field = QLineEdit()
        self.field.setValidator(QDoubleValidator(0.0, 1e8, decimals))
        self.field.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.field.setMinimumHeight(touch.px)
        self.minus.clicked.connect(lambda: self._step(step_down))
        self.plus.clicked.connect(lambda: self._step(step_up))
        self.field.setMinimumWidth(round(touch.px * 1.6))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        name = label(f"{words} ({unit})")
        row.addWidget(name, 1)
        row.addWidget(self.minus)
        row.addWidget(self.field, 1)
        row.addWidget(self.plus)

    def value(self) -> float | None:
        """The number in the field, or None."""
        return parse_number(self.field.text())

    def set_value(self, value: float) -> None:
        """Show `value` at the row's precision."""
        self.field.setText(f"{value:.{self.decimals}f}")

    def _step(self, fn) -> None:
        current = self.value()
        if current is not None:
            self.set_value(fn(current))


class CameraScreen(QWidget):
    """Live image and its checks, exposure and gain, auto-exposure and the lighting reference."""

    def __init__(self, ctx: ScreenContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        touch = ctx.touch
        fonts = Fonts.for_touch(touch.px)
        self.drawn_version = 0
        self.quality: ImageQuality | None = None
        self.settings: CameraSettings | None = None
        self.auto_result: AutoExposureResult | None = None
        self._measured_at = 0.0
        self._cancel = threading.Event()
        self._busy = False

        # Live image.
        self.view = PartImageView()
        self.view.set_overlays(heatmap=False, defects=False, roi=False)
        self.caption = label("Waiting for the first image", "dim")
        image_box, image_col = panel("Live image")
        image_col.addWidget(self.view, 1)
        image_col.addWidget(self.caption)

        # Image checks.
        self.figures: dict[str, object] = {}
        checks_box, checks_col = panel("Image checks")
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(2)
        for r, words in enumerate(("Mean grey", "Clipped black", "Clipped white", "Focus (sharpness)",
                                   "Uniformity, worst cell")):
            grid.addWidget(label(words), r, 0)
            value = label("—", "figure")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(value, r, 1)
            self.figures[words] = value
        grid.setColumnStretch(0, 1)
        checks_col.addLayout(grid)
        self.histogram = HistogramPlot(fonts.small)
        checks_col.addWidget(self.histogram, 3)
        self.uniformity_words = label(CENTRE_WORDS, "dim", wrap=True)
        checks_col.addWidget(self.uniformity_words)
        self.uniformity = UniformityMap(fonts.small)
        checks_col.addWidget(self.uniformity, 3)
        checks_col.addWidget(label("Focus: turn the lens for the highest value (same part, same light).",
                                   "dim", wrap=True))

        # Exposure and gain.
        camera_box, camera_col = panel("Camera")
        self.exposure = NumberRow(touch, "Exposure", "µs", lambda v: v / EXPOSURE_STEP, lambda v: v * EXPOSURE_STEP, 0)
        self.gain = NumberRow(touch, "Gain", "dB", lambda v: max(0.0, v - GAIN_STEP_DB), lambda v: v + GAIN_STEP_DB, 1)
        self.write = button("Write to camera…", touch)
        self.write.clicked.connect(self.write_settings)
        self.readback = label("Reading the camera…", "dim", wrap=True)
        camera_col.addWidget(self.exposure)
        camera_col.addWidget(self.gain)
        camera_col.addWidget(self.write)
        camera_col.addWidget(self.readback)

        # Auto exposure.
        auto_box, auto_col = panel("Auto exposure")
        self.target = NumberRow(touch, "Target", "grey", lambda v: max(5.0, v - 5.0), lambda v: min(250.0, v + 5.0), 0)
        self.target.set_value(120.0)
        self.auto = button("Auto exposure", touch)
        self.auto.clicked.connect(self.auto_clicked)
        self.auto_status = label("", "dim", wrap=True)
        auto_col.addWidget(self.target)
        auto_col.addWidget(self.auto)
        auto_col.addWidget(self.auto_status)

        # Lighting reference.
        light_box, light_col = panel("Lighting reference")
        self.reference = label("", wrap=True)
        self.save_reference = button("Save as lighting reference", touch)
        self.save_reference.clicked.connect(self.save_lighting_reference)
        light_col.addWidget(self.reference)
        light_col.addWidget(self.save_reference)

        controls_box = QWidget()
        controls = QVBoxLayout(controls_box)
        controls.setContentsMargins(0, 0, 0, 0)
        for box in (camera_box, auto_box, light_box):
            controls.addWidget(box)
        controls.addStretch(1)
        # Exposure and gain change what parts are judged by: signed (reason and PIN), like thresholds.
        self.signature = SignaturePanel(touch, "Sign the camera change", reasons=REASONS)
        self.signature.signed.connect(self._signed)
        self.signature.cancelled.connect(self._close_signature)
        self._pending = ""  # "write" or "auto": what the signature is for
        self.right = QStackedWidget()
        self.right.addWidget(controls_box)
        self.right.addWidget(self.signature)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(image_box, 5)
        self.checks_box = checks_box  # put away while signing: the signature needs the room
        row.addWidget(checks_box, 3)
        row.addWidget(self.right, 4)
        self._row = row

        self.timer = QTimer(self)
        self.timer.setInterval(round(1000 / min(LIVE_HZ, ctx.station.cfg.ui.refresh_hz)))
        self.timer.timeout.connect(self.draw_newest)
        self._show_reference()

    # --- the window's calls ------------------------------------------------------------------------
    def on_show(self) -> None:
        """Read the camera's settings (background) and start drawing the newest frame."""
        self.drawn_version = 0
        self.timer.start()
        self.draw_newest()
        self._read_camera()

    def on_tick(self) -> None:
        """Refresh the lighting reference line (the recipe may change under the screen); no signature once logged out."""
        self._show_reference()
        if self._pending and self.ctx.session.user is None:
            self._close_signature()

    def prepare_screenshot(self) -> None:
        """Newest frame measured and the camera's settings read, synchronously."""
        self.drawn_version = 0
        self.draw_newest(force=True)
        try:
            self._show_settings(self.ctx.station.changes.camera_settings())
        except StationError as exc:
            self.readback.setText(f"The camera could not be read: {exc}")

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Stop drawing while another screen is shown; a signature left open is forgotten."""
        self.timer.stop()
        self._close_signature()
        super().hideEvent(event)

    # --- live image and checks ---------------------------------------------------------------------
    def draw_newest(self, force: bool = False) -> None:
        """Draw the newest frame if it changed; measure it now and then."""
        version, part = self.ctx.station.newest.peek()
        if part is None or (version == self.drawn_version and not force):
            return
        self.drawn_version = version
        self.view.show_part(part, 1.0, None)
        cam = part.camera
        self.caption.setText(f"Part {part.seq}  ·  exposure {cam.exposure_us:.0f} µs  ·  gain {cam.gain_db:.1f} dB"
                             f"  ·  {cam.width or '?'} x {cam.height or '?'} px")
        now = time.monotonic()
        if part.image is not None and (force or now - self._measured_at >= MEASURE_EVERY_S):
            self._measured_at = now
            self.show_quality(quality_of(part.image, self.ctx.station.recipe.lighting.grid))

    def show_quality(self, q: ImageQuality) -> None:
        """Show the figures, histogram and uniformity map of one frame."""
        self.quality = q
        limit = self.ctx.station.recipe.lighting.limit_pct
        lighting = self.ctx.station.recipe.lighting
        self.figures["Mean grey"].setText(f"{q.mean:.1f}")
        for key, pct in (("Clipped black", q.dark_pct), ("Clipped white", q.bright_pct)):
            self.figures[key].setText(f"{'⚠ ' if pct > CLIPPED_WARN_PCT else ''}{pct:.2f} %")
        self.figures["Focus (sharpness)"].setText(f"{q.focus:,.0f}".replace(",", " "))
        worst = q.worst_cell_pct
        self.figures["Uniformity, worst cell"].setText(f"{'⚠ ' if abs(worst) > limit else ''}{worst:+.0f} %")
        self.histogram.show_histogram(q.histogram, q.mean, lighting.mean)
        self.uniformity.show_grid(q.uniformity, limit, centre=not q.against_reference)
        words = REFERENCE_WORDS if q.against_reference else CENTRE_WORDS
        if self.uniformity_words.text() != words:
            self.uniformity_words.setText(words)
        self._show_reference()

    def _show_reference(self) -> None:
        light = self.ctx.station.recipe.lighting
        text, beyond = reference_words(light.mean, light.limit_pct, self.quality.mean if self.quality else None)
        if self.reference.text() != text:
            self.reference.setText(text)
            self.reference.setStyleSheet(f"color: {theme.TEXT}; font-weight: 600;" if beyond else "")

    # --- camera settings ---------------------------------------------------------------------------
    def _allowed(self) -> object | None:
        """The logged-in user when they may change the camera; otherwise say why and return None."""
        denial = self.ctx.session.denial(Permission.CAMERA)
        if denial is not None:
            self.ctx.channel.warning(denial.what, denial.todo)
            return None
        return self.ctx.session.user

    def _read_camera(self) -> None:
        changes = self.ctx.station.changes
        self.ctx.tasks.submit(changes.camera_settings, self._show_settings,
                              lambda exc: self.readback.setText(f"The camera could not be read: {exc}"))

    def _show_settings(self, settings: CameraSettings) -> None:
        self.settings = settings
        self.exposure.set_value(settings.exposure_us)
        if not math.isnan(settings.gain_db):
            self.gain.set_value(settings.gain_db)
        self.readback.setText(self.readback_words(settings))

    @staticmethod
    def readback_words(settings: CameraSettings) -> str:
        """What the camera's nodes say now."""
        gain = "—" if math.isnan(settings.gain_db) else f"{settings.gain_db:.2f} dB"
        return f"Camera reads back {settings.exposure_us:.0f} µs, {gain}"

    # --- the signature ------------------------------------------------------------------------------
    def _ask_signature(self, pending: str, meaning: str) -> None:
        user = self.ctx.session.user
        self._pending = pending
        self.signature.reset()
        self.signature.set_signer(user.name, user.role.value)
        self.signature.set_meaning(meaning)
        self.checks_box.hide()
        self._row.setStretchFactor(self.right, 7)
        self.right.setCurrentWidget(self.signature)

    def _close_signature(self) -> None:
        self._pending = ""
        self.signature.reset()
        self.right.setCurrentIndex(0)
        self._row.setStretchFactor(self.right, 4)
        self.checks_box.show()

    def _signed(self, reason: str, pin: str) -> None:
        """The station checks the signature first; a refusal stays on the panel, in its words."""
        user, pending, changes = self.ctx.session.user, self._pending, self.ctx.station.changes
        if user is None:
            self.signature.show_failure("Nobody is logged in", "log in, then sign again")
            return

        def accepted(trial) -> None:  # hmi.changes.setup.CameraTrial
            self._close_signature()
            (self._write if pending == "write" else self._auto)(trial)

        def refused(exc: BaseException) -> None:
            if isinstance(exc, StationError):
                self.signature.show_failure(exc.what, exc.todo)
            else:
                self._close_signature()
                self.ctx.channel.error(exc)

        self.ctx.tasks.submit(lambda: changes.camera_trial(user, pin, reason), accepted, refused)

    def write_settings(self) -> None:
        """Ask the signature for the exposure and gain in the fields; signed, they are written and kept (audited)."""
        user = self._allowed()
        if user is None or self._busy:
            return
        exposure, gain = self.exposure.value(), self.gain.value()
        if exposure is None or exposure <= 0 or gain is None or gain < 0:
            self.ctx.channel.warning("Exposure and gain need numbers", "type an exposure in µs above 0 and a gain "
                                     "in dB of 0 or more, then tap Write to camera")
            return
        self._ask_signature("write", f"Camera of recipe {self.ctx.station.recipe.name}: exposure {exposure:.0f} µs, "
                                     f"gain {gain:.1f} dB, kept in the recipe.")

    def _write(self, trial) -> None:
        exposure, gain = self.exposure.value(), self.gain.value()
        if exposure is None or gain is None:
            return
        self._set_busy(True)
        self.readback.setText("Writing to the camera…")

        def done(settings: CameraSettings) -> None:
            self._set_busy(False)
            self._show_settings(settings)
            self.ctx.channel.info(f"Camera set to exposure {settings.exposure_us:.0f} µs, gain "
                                  f"{settings.gain_db:.2f} dB and kept in recipe {self.ctx.station.recipe.name}")

        def failed(exc: BaseException) -> None:
            self._set_busy(False)
            self.ctx.channel.error(exc)
            self._read_camera()

        self.ctx.tasks.submit(lambda: trial.keep(trial.write(exposure_us=exposure, gain_db=gain)), done, failed)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        for w in (self.write, self.save_reference, self.exposure, self.gain, self.target):
            w.setEnabled(not busy)
        self.auto.setEnabled(not busy or self._auto_running)  # a running auto exposure can be stopped
        self.auto.setText("Stop auto exposure" if self._auto_running else "Auto exposure")

    # --- auto exposure -----------------------------------------------------------------------------
    _auto_running = False

    def auto_clicked(self) -> None:
        """Start auto exposure, or stop the run in progress."""
        if self._auto_running:
            self._cancel.set()
            self.auto_status.setText("Stopping…")
            return
        self.start_auto_exposure()

    def _controller(self) -> AutoExposure | None:
        target = self.target.value()
        try:
            return AutoExposure(target if target is not None else -1.0, tolerance=AUTO_TOLERANCE,
                                min_us=AUTO_MIN_US, max_us=AUTO_MAX_US)
        except StationError as exc:
            self.ctx.channel.warning(exc.what, exc.todo)
            return None

    def start_auto_exposure(self) -> None:
        """Ask the signature, then step the exposure until the mean grey reaches the target (kept when reached)."""
        user = self._allowed()
        if user is None or self._busy:
            return
        controller = self._controller()
        if controller is None:
            return
        self._ask_signature("auto", f"Auto exposure of recipe {self.ctx.station.recipe.name} towards mean grey "
                                    f"{controller.target:.0f}; the exposure found is kept in the recipe, else the "
                                    "camera goes back to its setting.")

    def _auto(self, trial) -> None:
        controller = self._controller()
        if controller is None:
            return
        station = self.ctx.station
        cancel = self._cancel
        cancel.clear()
        since = {"version": station.newest.peek()[0], "exposure": math.nan}

        def set_exposure(us: float) -> float:
            since["version"] = station.newest.peek()[0]
            accepted = trial.write(exposure_us=us).exposure_us
            since["exposure"] = accepted
            return accepted

        def measure_mean() -> float:
            wanted = since["exposure"]
            part = next_frame(station.newest.peek, since["version"], cancelled=cancel.is_set,
                              accept=lambda p: math.isnan(wanted) or math.isclose(p.camera.exposure_us, wanted,
                                                                                  rel_tol=1e-3, abs_tol=0.5))
            return frame_mean(part.image)

        def work() -> AutoExposureResult:
            start = trial.start.exposure_us
            try:
                result = controller.run(start, set_exposure, measure_mean, cancel.is_set)
            except BaseException:
                trial.undo()
                raise
            if result.converged and not math.isclose(result.exposure_us, start, rel_tol=1e-6):
                trial.keep(trial.write(exposure_us=result.exposure_us))  # kept in the recipe, audited
            elif not result.converged:
                trial.undo()  # nothing kept: the camera goes back where it was
            return result

        def done(result: AutoExposureResult) -> None:
            self._auto_running = False
            self.auto_result = result
            self._set_busy(False)
            self.auto_status.setText(result.words)
            (self.ctx.channel.info if result.converged else self.ctx.channel.warning)(result.words)
            self._read_camera()

        def failed(exc: BaseException) -> None:
            self._auto_running = False
            self._set_busy(False)
            self.auto_status.setText(f"Auto exposure stopped: {exc}")
            self.ctx.channel.error(exc)
            self._read_camera()

        self._auto_running = True
        self._set_busy(True)
        self.auto_status.setText(f"Stepping the exposure towards mean {controller.target:.0f}…")
        self.ctx.tasks.submit(work, done, failed)

    # --- lighting reference ------------------------------------------------------------------------
    def save_lighting_reference(self) -> None:
        """Keep the mean of the last frames as the recipe's lighting reference (audited)."""
        user = self._allowed()
        if user is None or self._busy:
            return
        frames = [p.image for p in self.ctx.station.outlet.recent()[-REFERENCE_FRAMES:] if p.image is not None]
        if not frames:
            _, newest = self.ctx.station.newest.peek()
            frames = [newest.image] if isinstance(newest, Part) and newest.image is not None else []
        if not frames:
            self.ctx.channel.warning("There is no image to take the lighting reference from",
                                     "start the line so that parts are imaged, then save again")
            return
        changes = self.ctx.station.changes
        self._set_busy(True)

        def work():
            mean = float(np.mean([frame_mean(f) for f in frames]))
            grid = np.mean([light_grid(f) for f in frames], axis=0)
            return changes.save_lighting_reference(mean, user, grid=[float(v) for v in grid.ravel()])

        def done(recipe) -> None:
            self._set_busy(False)
            self._show_reference()
            light = recipe.lighting
            self.ctx.channel.info(f"Lighting reference {light.mean:.1f} saved in recipe {recipe.name}: the "
                                  f"drift alarm compares every {light.every_n}th part with it "
                                  f"(limit ±{light.limit_pct:.0f} %)")

        def failed(exc: BaseException) -> None:
            self._set_busy(False)
            self.ctx.channel.error(exc)

        self.ctx.tasks.submit(work, done, failed)


__all__ = ["CameraScreen", "HistogramPlot", "UniformityMap", "quality_of", "reference_words"]
