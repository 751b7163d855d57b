"""Entry point of the touchscreen: window, event loop, screenshots, exit code. The station is started by the caller."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from hmi.ui.messages import ExceptHook, MessageChannel
from hmi.ui.port import StationPort
from hmi.ui.window import SCREENSHOT_SCREENS, StationWindow

log = logging.getLogger(__name__)

SCREENSHOT_SIZE = (1920, 1080)
SCREENSHOT_LEAD_S = 3.0       # the tour starts this long before the quit time
SCREENSHOT_WITHOUT_QUIT_S = 10.0
SETTLE_MS = 400               # time each screen gets to fill in (background reads, first draw) before the grab


def application() -> QApplication:
    """The running QApplication, created when there is none."""
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "hmi"])
        app.setApplicationName("hmi")
    return app  # type: ignore[return-value]


class ScreenshotTour:
    """Shows each screen in turn and saves the window as DIR/<screen>.png; then calls `finished(ok)`.

    With `sizes`, each screen is saved once per window size as DIR/<screen>_<W>x<H>.png instead.
    """

    def __init__(self, window: StationWindow, folder: Path, finished: Callable[[bool], None],
                 sizes: Sequence[tuple[int, int]] = ()) -> None:
        self.window = window
        self.sizes = list(sizes)
        self.folder = Path(folder)
        self.finished = finished
        self.todo = list(SCREENSHOT_SCREENS)
        self.saved: list[Path] = []
        self.failed: list[str] = []
        self.back_to = window.current

    def start(self) -> None:
        """Begin with the first screen."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._next()

    def _next(self) -> None:
        if not self.todo:
            self.window.show_screen(self.back_to if self.back_to in ("live", "review", "alarms") else "live")
            self.finished(not self.failed)
            return
        name = self.todo[0]
        if name == "part":
            part = self.window.part_for_screenshot()
            if part is not None:
                self.window.open_part(part)
            else:
                self.window.show_screen("part")
        elif name in self.window.tools:
            self.window.tools[name].prepare_screenshot()
            self.window.show_screen(name, unguarded=True)
        else:
            self.window.show_screen(name, unguarded=True)
        QTimer.singleShot(SETTLE_MS, self._grab)

    def _grab(self) -> None:
        if self.window.tasks.busy:  # a background read for this screen is still out
            QTimer.singleShot(50, self._grab)
            return
        name = self.todo.pop(0)
        self.window.refresh_slow()
        for size in self.sizes or [None]:
            path = self.folder / (f"{name}_{size[0]}x{size[1]}.png" if size else f"{name}.png")
            if size:
                self.window.resize(*size)
                QApplication.processEvents()  # the layouts settle at the new size before the grab
            if self.window.grab().save(str(path), "PNG"):
                self.saved.append(path)
            else:
                self.failed.append(name)
                log.error("screenshot of the %s screen could not be written to %s", name, path)
        self._next()


def run_station_ui(station: StationPort, *, fullscreen: bool, quit_after_s: float, screenshot_dir: Path | None,
                   screenshot_sizes: Sequence[tuple[int, int]] = ()) -> int:
    """Open the touchscreen on a running `station` and run the event loop until it closes.

    `quit_after_s` > 0 closes it after that many seconds; `screenshot_dir` saves a PNG of every screen
    (live, review, alarms, login, part, setup and the technician and quality screens) there shortly before quitting (10 s after start when there is
    no quit time), one per size in `screenshot_sizes` when given. Returns 0 on a clean exit, 1 when a
    screenshot could not be written.
    """
    app = application()
    channel = MessageChannel()
    hook = ExceptHook(channel).install()
    window = StationWindow(station, channel)
    result = {"screenshots_ok": True}
    if fullscreen:
        screen = app.primaryScreen()
        if screen is not None:  # without a window manager, full screen alone does not resize the window
            window.setGeometry(screen.geometry())
        window.showFullScreen()
    elif screenshot_dir is not None:
        window.resize(*SCREENSHOT_SIZE)
        window.show()
    else:
        window.showMaximized()
    window.start()

    # A local loop rather than app.exec(): QApplication.quit() would also end every later event loop.
    loop = QEventLoop()
    window.closed.connect(loop.quit)
    quit_on_close = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)

    def quit_now() -> None:
        window.close()

    def tour_done(ok: bool) -> None:
        result["screenshots_ok"] = ok
        if quit_after_s > 0:
            QTimer.singleShot(200, quit_now)

    if screenshot_dir is not None:
        at = max(0.5, quit_after_s - SCREENSHOT_LEAD_S) if quit_after_s > 0 else SCREENSHOT_WITHOUT_QUIT_S
        # Held here: Qt keeps only a weak hold on a bound method's object.
        tour = ScreenshotTour(window, screenshot_dir, tour_done, screenshot_sizes)
        QTimer.singleShot(round(at * 1000), tour.start)
    elif quit_after_s > 0:
        QTimer.singleShot(round(quit_after_s * 1000), quit_now)

    restore = _quit_on_signals(quit_now)
    # Python runs signal handlers only between bytecodes; this timer lets it do so while Qt waits.
    wake = QTimer()
    wake.start(200)
    wake.timeout.connect(lambda: None)
    try:
        code = loop.exec()
    finally:
        wake.stop()
        restore()
        app.setQuitOnLastWindowClosed(quit_on_close)
        window.stop()
        hook.uninstall()
        window.deleteLater()
    if hook.caught:
        log.warning("the screen reported %d internal error(s) while running", len(hook.caught))
    return code if result["screenshots_ok"] else 1


def _quit_on_signals(quit_now: Callable[[], None]) -> Callable[[], None]:
    """SIGINT / SIGTERM close the window (main thread only); returns a function that restores the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda *_: QTimer.singleShot(0, quit_now))

    def restore() -> None:
        for s, handler in previous.items():
            signal.signal(s, handler)

    return restore
