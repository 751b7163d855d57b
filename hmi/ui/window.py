"""The station's main window: fixed status zone, message banner, the screens, and the navigation bar.

One QTimer at the configured screen rate peeks the newest part and draws it only when its version
changed; every half second the same timer refreshes status, counters, queue and alarms from memory.
Anything that may block (logins, audit entries, review hand-over, record queries) goes to the
background thread, and its outcome comes back as a message or a screen update.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QHBoxLayout, QMainWindow, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from hmi.core.errors import PermissionDenied, StationError
from hmi.core.part import Part
from hmi.core.verdict import Verdict
from hmi.pipeline.holds import PendingHold
from hmi.store.audit import AuditAction
from hmi.store.users import Permission, User
from hmi.ui.banner import MessageBanner
from hmi.ui.health import line_fault, station_health, station_state
from hmi.ui.keyboard import ScreenKeyboard
from hmi.ui.messages import MessageChannel
from hmi.ui.page import ScreenPage
from hmi.ui.port import StationPort
from hmi.ui.context import ScreenContext
from hmi.ui.screens.alarms import AlarmsScreen
from hmi.ui.screens.camera import CameraScreen
from hmi.ui.screens.live import LiveScreen
from hmi.ui.screens.login import LoginScreen
from hmi.ui.screens.part import PartScreen
from hmi.ui.screens.records import RecordsScreen
from hmi.ui.screens.recipes import RecipesScreen
from hmi.ui.screens.reports import ReportsScreen
from hmi.ui.screens.review import ReviewScreen
from hmi.ui.screens.roi import RoiScreen
from hmi.ui.screens.seals import SealsScreen
from hmi.ui.screens.setup import TOOLS, SetupScreen, setup_fields
from hmi.ui.screens.teach import TeachScreen
from hmi.ui.screens.thresholds import ThresholdsScreen
from hmi.ui.session import IdleLock, OperatorSession
from hmi.ui.shift_counts import ShiftCounts
from hmi.ui.signature import offer_reasons
from hmi.ui.status_zone import StatusZone
from hmi.ui.tasks import BackgroundTasks
from hmi.ui.theme import stylesheet
from hmi.ui.touch import TouchSize, button

log = logging.getLogger(__name__)

# Screens built from the window's ScreenContext: (class, permission that opens it).
TOOL_SCREENS = {
    "camera": (CameraScreen, Permission.CAMERA),
    "roi": (RoiScreen, Permission.ROI),
    "thresholds": (ThresholdsScreen, Permission.THRESHOLDS),
    "teach": (TeachScreen, Permission.TEACH),
    "recipes": (RecipesScreen, Permission.RECIPES),
    "reports": (ReportsScreen, Permission.REPORTS),
    "records": (RecordsScreen, Permission.REPORTS),
}
SCREENS = ("live", "review", "alarms", "login", "part", "setup", *TOOL_SCREENS)
SCREENSHOT_SCREENS = ("live", "review", "alarms", "login", "part", "setup", *TOOL_SCREENS)
SLOW_REFRESH_S = 0.5
TITLES = {"roi": "Inspection area", "camera": "Camera and lighting"}
AUDIENCE = {Permission.REPORTS: "quality managers", Permission.THRESHOLDS: "technicians",
            Permission.CAMERA: "technicians", Permission.ROI: "technicians", Permission.TEACH: "technicians",
            Permission.RECIPES: "technicians"}
NO_USERS = StationError("This station runs without records (setup mode or no database), so it has no users",
                        "restart it in production mode to review parts and acknowledge alarms")
# Screens that need more than a logged-in operator, and the permission that opens them.
GATED = {"setup": Permission.THRESHOLDS, **{name: perm for name, (_cls, perm) in TOOL_SCREENS.items()}}


class StationWindow(QMainWindow):
    """The touchscreen for one running station (handed in by the composition root; never started here)."""

    closed = Signal()

    def __init__(self, station: StationPort, channel: MessageChannel | None = None) -> None:
        super().__init__()
        self.station = station
        cfg = station.cfg
        self.touch = TouchSize.of(cfg.ui)
        self.channel = channel or MessageChannel(self)
        self.tasks = BackgroundTasks(self.channel, self)
        self.session = OperatorSession(station.users, self.tasks, self.channel, self)
        self.idle = IdleLock(self.session, cfg.ui.idle_lock_s, self)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self.idle)
        self.setWindowTitle(f"{cfg.station.name} — {cfg.station.line} — inspection station")
        self.setStyleSheet(stylesheet(self.touch.px))

        self.zone = StatusZone(self.touch, cfg.station.name)
        self.banner = MessageBanner(self.touch)
        self.live = LiveScreen(self.touch)
        self.review = ReviewScreen(self.touch, station.recipe, cfg.plc.hold_lane)
        self.alarms = AlarmsScreen(self.touch)
        self.login = LoginScreen(self.touch)
        self.part = PartScreen(self.touch)
        self.setup = SetupScreen(self.touch)
        self.screens: dict[str, QWidget] = {"live": self.live, "review": self.review, "alarms": self.alarms,
                                            "login": self.login, "part": self.part, "setup": self.setup}
        self.context = ScreenContext(self.touch, station, self.tasks, self.channel, self.session)
        self.tools: dict[str, QWidget] = {name: cls(self.context) for name, (cls, _perm) in TOOL_SCREENS.items()}
        self.screens.update(self.tools)
        self.stack = QStackedWidget()
        # Each screen on a page that scrolls only where the panel is too small for it at its DPI: every control
        # stays reachable instead of cut off (unscrolled_minimum() says the size at which nothing scrolls).
        self.pages: dict[str, ScreenPage] = {}
        for name in SCREENS:
            self.stack.addWidget(self._page(name))
        # Settings changed outside the station: shown at start while any waits, and instead of Setup until accepted.
        self.seals = SealsScreen(self.context)
        self.seals.accepted = lambda: self.show_screen("live")
        self.screens["seals"] = self.seals
        self.stack.addWidget(self._page("seals"))

        self.nav: dict[str, QPushButton] = {}
        nav_bar = QWidget()
        nav_bar.setObjectName("navBar")
        nav_row = QHBoxLayout(nav_bar)
        nav_row.setContentsMargins(0, 0, 0, 0)
        for name, words in (("live", "Live"), ("review", "Review"), ("alarms", "Alarms"), ("reports", "Reports"),
                            ("records", "Records"), ("setup", "Setup")):
            b = button(words, self.touch, checkable=True, primary=True)
            b.clicked.connect(lambda _=False, n=name: self.show_screen(n))
            nav_row.addWidget(b)
            self.nav[name] = b

        central = QWidget()
        col = QVBoxLayout(central)
        col.setContentsMargins(8, 8, 8, 8)
        col.setSpacing(8)
        col.addWidget(self.zone)
        col.addWidget(self.banner)
        col.addWidget(self.stack, 1)
        col.addWidget(nav_bar)
        self.setCentralWidget(central)

        self.banner.list_area = self.stack  # the message list opens over the screens
        self.shift_counts = ShiftCounts(station, self)
        self.channel.attach(self.banner.show_message)
        self.zone.alarms_requested.connect(lambda: self.show_screen("alarms"))
        self.zone.user_requested.connect(self._user_button)
        self.live.part_requested.connect(self.open_part)
        self.part.back_requested.connect(self._back)
        self.review.decided.connect(self.decide_hold)
        self.setup.tool_requested.connect(self.show_screen)
        self.alarms.acknowledge_requested.connect(self.acknowledge_alarm)
        self.alarms.shelve_requested.connect(self.shelve_alarm)
        self.login.login_requested.connect(self._authenticate)
        self.session.changed.connect(self._user_changed)

        self.current = "live"
        self.previous = "live"
        self._after_login: str | None = None
        self._deciding: set[int] = set()
        self._known_holds: dict[int, PendingHold] = {}  # held parts seen on the last tick, by sequence
        self.poll = QTimer(self)
        self.poll.setTimerType(Qt.TimerType.PreciseTimer)
        self.poll.setInterval(max(1, round(1000 / cfg.ui.refresh_hz)))
        self.poll.timeout.connect(self.tick)
        self._last_slow = 0.0
        self._status = None
        self._holds: list = []
        self._slow_steps = [self._refresh_status, self._refresh_holds, self._refresh_screen, self._refresh_strip]
        self._step = 0
        offer_reasons(self, cfg.ui.sign_reasons)
        self.keyboard = ScreenKeyboard(self.touch, self)  # opens for any text field tapped in this window
        self.keyboard.install()
        self._user_changed(None)
        self.show_screen("live")

    # --- timer -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start pulling the newest part at the screen rate."""
        self.refresh_slow()
        self.poll.start()
        self.seals.check(lambda changes: self.show_screen("seals") if changes else None)

    def stop(self) -> None:
        """Stop the timers and finish background work (the user is logged out, which is audited)."""
        self.poll.stop()
        self.idle.timer.stop()
        if self.session.user is not None:
            self.session.log_out()
        self.tasks.shutdown()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self.idle)
        self.keyboard.remove()

    def defect_limit(self) -> float:
        """The score from which a part is NG under the threshold set in force: the heatmap's 'defect' mark."""
        return float(self.station.active.get().thresholds.ng_from)

    def tick(self) -> None:
        """Draw the newest part if it changed (live screen only), then do one step of the slow refresh.

        The slow refresh (twice a second) is cut into steps done on successive ticks, so no single
        tick holds the event loop for long while the pipeline keeps the other threads busy.
        """
        if self.current == "live":
            version, part = self.station.newest.peek()
            if part is not None and version != self.live.drawn_version:
                self.live.draw(version, part, self.defect_limit(), self.station.recipe.roi)
        now = time.monotonic()
        if self._step == 0 and now - self._last_slow < SLOW_REFRESH_S:
            return
        if self._step == 0:
            self._last_slow = now
        self._slow_steps[self._step]()
        self._step = (self._step + 1) % len(self._slow_steps)

    def refresh_slow(self) -> None:
        """Status zone, navigation counts, and the figures of the screen on show, all at once."""
        for step in self._slow_steps:
            step()

    def _refresh_status(self) -> None:
        st = self.station.status()
        self._status = st
        has_model = self.station.active.get().inspector is not None
        recent = self.station.outlet.recent()
        health = station_health(st, has_model, recent)
        self.live.show_fault(line_fault(st, recent))
        self.zone.show_status(station_state(st.workers), st.recipe, st.backend, health, st.alarms)
        listed = sum(1 for a in st.alarms if a.active)
        self.nav["alarms"].setText(f"Alarms ({listed})" if listed else "Alarms")

    def _refresh_holds(self) -> None:
        holds = self.station.holds.pending()
        self._holds = holds
        self._watch_holds(holds)
        self.nav["review"].setText(f"Review ({len(holds)})" if holds else "Review")
        self.live.counters.show_waiting(len(holds))  # one count of held parts waiting, as Review shows it

    def _refresh_screen(self) -> None:
        st = self._status or self.station.status()
        if self.current == "live":
            self.shift_counts.poll()
            title, counts = self.shift_counts.counts(st.counts)  # the shift in progress, from the records
            self.live.counters.show_counts(counts, st.verdicts, title)
        elif self.current == "review":
            self.review.show_queue(self._holds, self.defect_limit())
        elif self.current == "alarms":
            self.alarms.show_alarms(st.alarms)
        elif self.current in self.tools:
            self.tools[self.current].on_tick()

    def _refresh_strip(self) -> None:
        if self.current == "live":
            self.live.strip.show_parts(self.station.outlet.recent())

    def _watch_holds(self, holds) -> None:
        """Say so when a held part left the queue without a decision from this screen (time limit or overflow)."""
        now = time.monotonic()
        current = {h.part.seq: h for h in holds}
        for seq, held in self._known_holds.items():
            if seq in current or seq in self._deciding:
                continue
            default = held.default  # the part's own recipe's, even after a changeover
            if now >= held.due_mono - 1.0:
                self.channel.warning(f"Part {seq} was not reviewed within {held.timeout_s:.0f} s: "
                                     f"the recipe's default verdict {default.label} was applied and recorded",
                                     "review held parts sooner; the Review button shows how many wait")
            else:
                self.channel.warning(f"Part {seq} left the review queue before its time ran out (the queue was full): "
                                     f"the recipe's default verdict {default.label} was applied",
                                     "review held parts sooner")
        self._deciding &= set(current)
        self._known_holds = current

    def _page(self, name: str) -> ScreenPage:
        page = ScreenPage(self.screens[name])
        self.pages[name] = page
        return page

    def unscrolled_minimum(self) -> QSize:
        """The window's smallest size at which no screen needs to scroll (its largest screen decides it)."""
        hint = self.minimumSizeHint()
        around = self.size() - self.stack.size()  # status zone, message slot, nav bar and margins, as laid out now
        widest = max(s.minimumSizeHint().width() for s in self.screens.values())
        tallest = max(s.minimumSizeHint().height() for s in self.screens.values())
        return QSize(max(hint.width(), around.width() + widest), max(hint.height(), around.height() + tallest))

    def scrolling_screens(self) -> list[str]:
        """The screens that do not fit their page at the window's present size (they scroll)."""
        viewport = self.stack.size()
        return [name for name, s in self.screens.items() if s.minimumSizeHint().width() > viewport.width()
                or s.minimumSizeHint().height() > viewport.height()]

    # --- navigation --------------------------------------------------------------------------
    def show_screen(self, name: str, *, unguarded: bool = False) -> bool:
        """Go to screen `name`; a gated screen the user may not open stays closed with a plain message.

        `unguarded` (screenshots only) opens a gated screen to look at; its actions still check the user.
        """
        if name not in self.screens:
            raise ValueError(f"no screen called {name!r}")
        if name == "setup" and self.seals.pending:
            name = "seals"
        permission = GATED.get(name)
        if permission is not None and not unguarded:
            denial = self.session.denial(permission)
            if denial is not None:
                self.channel.warning(f"The {TITLES.get(name, name.capitalize())} screen is for "
                                     f"{AUDIENCE.get(permission, 'people who may ' + permission.doing)}. "
                                     f"{denial.what}", denial.todo)
                self._check_nav()
                return False
        if name == "setup":
            self.setup.show_setup(setup_fields(self.station.cfg, self.station.recipe, self.station.active.get(),
                                               self.station.backend))
            self.setup.show_tools({tool: self.session.can(GATED[tool]) for tool in TOOLS})
        if name != self.current:
            self.previous = self.current
        self.current = name
        self.stack.setCurrentWidget(self.pages[name])
        self._check_nav()
        if name == "login":
            self.login.reset()
            self._load_users()
        elif name == "live":
            self.live.drawn_version = 0  # draw the newest at once, even if it was drawn before
        if name in ("live", "review", "alarms"):
            self.refresh_slow()
        elif name in self.tools or name == "seals":
            self.screens[name].on_show()
        return True

    def _check_nav(self) -> None:
        for name, b in self.nav.items():
            b.setChecked(name == self.current)

    def _back(self) -> None:
        self.show_screen(self.previous if self.previous not in ("part", "login") else "live")

    def ask_login(self, denial: PermissionDenied, then: str) -> None:
        """Say why the action needs someone else, and open the login screen; afterwards return to `then`."""
        self.channel.warning(denial.what, denial.todo)
        self._after_login = then
        self.show_screen("login")

    # --- login -------------------------------------------------------------------------------
    def _user_button(self) -> None:
        if self.session.user is not None:
            self.session.log_out()
            self.show_screen("live")
        else:
            self.show_screen("login")

    def _user_changed(self, user: User | None) -> None:
        self.zone.show_user(user.name if user else "", user.role.value if user else "")
        gate = GATED.get(self.current)
        if gate is not None and (user is None or not self.session.can(gate)):
            self.show_screen("live")

    def _load_users(self) -> None:
        users = self.station.users
        if users is None:
            self.login.show_users_failed(str(NO_USERS))
            return
        self.tasks.submit(lambda: (users.list(), users.needs_first_admin()),
                          lambda result: self.login.show_users(*result),
                          lambda exc: self.login.show_users_failed(str(exc)))

    def _authenticate(self, name: str, pin: str) -> None:
        users = self.station.users
        if users is None:
            self.login.show_failure(NO_USERS.what, NO_USERS.todo)
            return
        self.tasks.submit(lambda: users.authenticate(name, pin), self._logged_in, self._login_failed)

    def _logged_in(self, user: User) -> None:
        self.session.log_in(user)
        self.login.reset()
        self.channel.info(f"{user.name} logged in as {user.role.value}")
        target, self._after_login = self._after_login or "live", None
        self.show_screen(target)

    def _login_failed(self, exc: BaseException) -> None:
        if isinstance(exc, StationError):
            self.login.show_failure(exc.what, exc.todo)
        else:
            self.login.show_failure("The login could not be checked", "try again; if it happens again, call service")
            self.channel.error(exc)

    # --- actions -----------------------------------------------------------------------------
    def _acting(self, permission: Permission, then: str) -> str | None:
        """The acting user's name when they may do `permission`; otherwise explain and offer the login."""
        denial = self.session.denial(permission)
        if denial is not None:
            self.ask_login(denial, then)
            return None
        return self.session.name

    def decide_hold(self, seq: int, verdict: Verdict, defect_type: str | None, note: str) -> None:
        """An operator's verdict on a held part: to the station's review queue (records, audit, PLC)."""
        user = self._acting(Permission.REVIEW, "review")
        if user is None:
            return
        if verdict is Verdict.NG and not defect_type:
            self.channel.warning("Choose the defect type first", "tap one of the defect types, then Defect")
            return
        acting = self.session.user
        self._deciding.add(seq)
        self.review.mark_busy(seq, True)

        def done(_review) -> None:
            self.review.mark_busy(seq, False)
            kind = f" ({defect_type})" if defect_type else ""
            self.channel.info(f"Part {seq}: {verdict.label}{kind} recorded by {user}")
            self.refresh_slow()

        def failed(exc: BaseException) -> None:
            self.review.mark_busy(seq, False)
            if isinstance(exc, KeyError):
                self.review.refused(seq)
                self.channel.warning(f"Part {seq} was no longer waiting for review",
                                     "its time ran out and the recipe's default was applied; see the part's history")
            else:
                self._deciding.discard(seq)
                self.channel.error(exc)
            self.refresh_slow()

        # The station checks the role again: the screen is not the only gate.
        self.tasks.submit(lambda: self.station.review(seq, verdict, acting, defect_type, note), done, failed)

    def acknowledge_alarm(self, code: str) -> None:
        """Acknowledge an alarm in the user's name, and write it to the audit trail."""
        user = self._acting(Permission.ACK_ALARMS, "alarms")
        if user is None:
            return
        station = self.station

        def work():
            alarm = station.alarms.acknowledge(code, user)
            if alarm is None:
                raise StationError(f"Alarm {code} is no longer listed", "nothing to acknowledge")
            station.audit(user, AuditAction.ALARM_ACK, code, "not acknowledged", "acknowledged", alarm.message)
            return alarm

        self.tasks.submit(work, lambda _a: self._alarm_done(f"Alarm {code} acknowledged by {user}"))

    def shelve_alarm(self, code: str, until, reason: str) -> None:
        """Shelve an alarm until `until` with `reason` (technicians), and write it to the audit trail."""
        user = self._acting(Permission.SHELVE_ALARMS, "alarms")
        if user is None:
            return
        if until is None or not reason:
            self.channel.warning("Choose why the alarm is shelved and for how long", "then tap Shelve now")
            return
        station = self.station
        until_words = until.astimezone().strftime("%H:%M")

        def work():
            alarm = station.alarms.shelve(code, until, reason)
            if alarm is None:
                raise StationError(f"Alarm {code} is no longer listed", "nothing to shelve")
            station.audit(user, AuditAction.ALARM_SHELVE, code, "shown", f"shelved until {until.isoformat()}", reason)
            return alarm

        def done(_alarm) -> None:
            self.alarms.shelved_done()
            self._alarm_done(f"Alarm {code} shelved by {user} until {until_words}: {reason}")

        self.tasks.submit(work, done)

    def _alarm_done(self, text: str) -> None:
        self.channel.info(text)
        self.refresh_slow()

    # --- part detail -------------------------------------------------------------------------
    def open_part(self, part: Part) -> None:
        """Show a part's detail now; its stored record and history follow from the background thread."""
        self.part.show_part(part, self.defect_limit(), self.station.recipe.roi)
        self.show_screen("part")
        records = getattr(self.station, "records", None)
        if records is None:
            self.part.show_record_missing("This station keeps no records (no records database configured).")
            return
        seq = part.seq
        self.tasks.submit(lambda: (records.part(seq), records.part_history(seq)),
                          lambda result: self.part.show_record(seq, *result),
                          lambda exc: self.part.show_record_missing(str(exc)))

    def part_for_screenshot(self) -> Part | None:
        """The newest part worth showing in detail: one with regions if any, else the newest."""
        recent = self.station.outlet.recent()
        with_regions = [p for p in recent if p.inspection is not None and p.inspection.regions]
        return (with_regions or recent or [None])[-1]

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Closing the window stops the screen's timers; the station itself is stopped by whoever started it."""
        self.poll.stop()
        super().closeEvent(event)
        self.closed.emit()

