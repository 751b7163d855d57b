"""Composition root: reads the config, creates every queue and worker, starts and stops them in order."""

from __future__ import annotations

import gc
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hmi.camera.capture import CaptureWorker
from hmi.camera.source import FrameSource, TriggerMode
from hmi.config.loader import load_recipe
from hmi.config.schema import Recipe, StationConfig
from hmi.core.alarms import AlarmBoard
from hmi.core.errors import ModelError, StationError, StoreError
from hmi.core.part import Part, utc_now
from hmi.inference.loading import find_model, load_inspector, thresholds_of
from hmi.changes.plc_requests import PlcRecipeRequests
from hmi.changes.setup import SetupChanges
from hmi.changes.teaching import Teaching
from hmi.inference.inspector import Inspector
from hmi.core.messages import DownstreamDefect, OperatorReview
from hmi.core.verdict import Verdict
from hmi.downstream import RecordsAndPlc
from hmi.inference.worker import ActiveSetup, InspectionWorker, JudgingSetup
from hmi.logs import on_crash
from hmi.pipeline.holds import HoldQueue, HoldTimer
from hmi.pipeline.metrics import StageMetrics, StageSnapshot
from hmi.pipeline.monitors import LightingDriftMonitor, RejectRateMonitor
from hmi.pipeline.outlet import VerdictCounts, VerdictOutlet
from hmi.pipeline.queues import BoundedQueue, NewestSlot
from hmi.pipeline.supervisor import Supervisor, WorkerHealth

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StationStatus:
    """Everything the status line and the screens show about the running station."""

    counts: VerdictCounts
    verdicts: StageSnapshot
    capture: StageSnapshot
    inference: StageSnapshot
    workers: list[WorkerHealth]
    backend: str
    recipe: str
    alarms: list = field(default_factory=list)


class Station:
    """The running station: camera -> inference -> decision -> outputs, built from one config.

    `records` and `plc` are the downstream stages (store writer, PLC signaller); without them the
    station is the bare judging core (used by `hmi bench` for its baseline and by `hmi inspect`).
    """

    def __init__(self, cfg: StationConfig, data_dir: Path, *, source: FrameSource,
                 max_parts: int = 0, next_seq=None, require_model: bool = True,
                 downstream: RecordsAndPlc | None = None) -> None:
        self.cfg = cfg
        self.data_dir = data_dir
        self.alarms = AlarmBoard()
        try:
            self.recipe = load_recipe(data_dir, cfg.station.recipe)
            inspector: Inspector | None = load_inspector(cfg, data_dir, self.recipe)
            problem = ""
        except ModelError as exc:
            if require_model:
                self._release(downstream)
                raise
            inspector, problem = None, str(exc)
        except BaseException:
            self._release(downstream)
            raise
        self.active = ActiveSetup(JudgingSetup(self.recipe.name, thresholds_of(self.recipe), inspector, problem))

        production = cfg.station.mode == "production"
        trigger = TriggerMode(cfg.camera.trigger) if production else TriggerMode.FREE_RUN
        p = cfg.pipeline
        # Every queue of the judging core is created here, and only here.
        self.frames: BoundedQueue[Part] | NewestSlot[Part] = (
            BoundedQueue("frames", p.frame_queue) if production else NewestSlot("frames"))
        self.newest: NewestSlot[Part] = NewestSlot("screen")
        self.records_in: BoundedQueue[Part] | None = BoundedQueue("records", p.result_queue) if (production and downstream) else None
        self.capture_metrics = StageMetrics("capture")
        self.inference_metrics = StageMetrics("inference")
        self.verdict_metrics = StageMetrics("verdicts")
        self.outlet = VerdictOutlet(self.verdict_metrics, self.newest, self.records_in, self.alarms)
        # Operators' verdicts on HOLD parts flow down this queue to the records and the PLC.
        self.reviews: BoundedQueue[OperatorReview] = BoundedQueue("reviews", 1000)
        self.holds = HoldQueue(self.reviews, self.recipe.hold.timeout_s, Verdict[self.recipe.hold.default])
        light = self.recipe.lighting
        self.reject_monitor = RejectRateMonitor(self.alarms, self.recipe.reject_rate_limit)
        self.lighting_monitor = LightingDriftMonitor(self.alarms, light.mean, light.limit_pct, light.every_n)
        if production:
            self.outlet.subscribe(lambda part: self.holds.add(part) if part.verdict is Verdict.HOLD else None)
            self.outlet.subscribe(self.reject_monitor)
            self.outlet.subscribe(self.lighting_monitor)  # idle while the recipe has no lighting reference
        credits = threading.Semaphore(p.max_in_flight) if trigger is TriggerMode.SOFTWARE else None
        counter = itertools.count(1)
        if next_seq is None and downstream is not None:
            next_seq = downstream.sequence.next
        self.supervisor = Supervisor(self.alarms)
        # Setup mode records nothing and signals nothing: no downstream stages.
        self.downstream = downstream if self.records_in is not None else None
        if self.downstream is not None:
            self.downstream.attach(self)
        else:
            self._release(downstream)
        self.supervisor.add(HoldTimer(self.holds))
        self.inference = self.supervisor.add(InspectionWorker(
            self.frames, self.active, self.outlet, self.alarms, self.inference_metrics,
            deadline_s=p.deadline_ms / 1000.0, credits=credits))
        self.capture = self.supervisor.add(CaptureWorker(
            source, self.frames, self.outlet, next_seq or (lambda: next(counter)), lambda: self.active.get().recipe,
            self.alarms, self.capture_metrics, trigger=trigger, production=production, credits=credits,
            rate_hz=cfg.camera.rate_hz, grab_timeout_s=cfg.camera.grab_timeout_ms / 1000.0,
            reconnect_s=cfg.camera.reconnect_s, max_parts=max_parts, model_free_at=self.inference.expected_free_at))
        self._started = False
        self._crash_callback_remove = lambda: None
        self.changes = SetupChanges(cfg, data_dir, self.recipe, self.active, audit=self.audit, users=self.users,
                                    threshold_log=self.downstream.thresholds if self.downstream else None,
                                    camera=self.capture.call)
        self.changes.subscribe(self._recipe_in_force)
        self.teaching = Teaching(data_dir, self.newest)
        self.recipe_requests = PlcRecipeRequests(self.changes, self.plc_status, self.alarms) if self.downstream else None
        if self.recipe_requests is not None:
            self.supervisor.add(self.recipe_requests)

    def _recipe_in_force(self, recipe: Recipe) -> None:
        """Make everything that follows the recipe follow a change: holds, alarms, PLC defect codes."""
        self.recipe = recipe
        self.holds.timeout_s = recipe.hold.timeout_s
        self.holds.default = Verdict[recipe.hold.default]
        self.reject_monitor.limit = recipe.reject_rate_limit
        self.lighting_monitor.retarget(recipe.lighting.mean, recipe.lighting.limit_pct, recipe.lighting.every_n)
        if self.downstream is not None:
            self.downstream.plc.set_defect_types(recipe.defect_types)

    @property
    def backend(self) -> str:
        """Inference backend in use, or 'none' without a model."""
        ins = self.active.get().inspector
        return ins.backend if ins else "none"

    def start(self) -> None:
        """Start downstream stages first, then inference, then the camera."""
        # Objects made while loading (model, config, pylon) live as long as the station: keep the
        # collector from walking them again and again, which shows as latency spikes on the line.
        gc.collect()
        gc.freeze()
        if self.downstream is not None:
            self.downstream.start()
            plc = self.downstream.plc
            # A crash anywhere in the process shows on the PLC as station state 2 (fault), not as silence.
            self._crash_callback_remove = on_crash(lambda: plc.signal_fault(wait_s=1.0))
        self.supervisor.start()
        self._started = True
        self.changes.apply_camera(self.recipe)  # the recipe's exposure and gain, on the capture thread

    def signal_fault(self) -> None:
        """Show the PLC station state 2 (fault), so the line rejects rather than waits; used before a crash exit."""
        if self.downstream is not None:
            self.downstream.plc.signal_fault(wait_s=1.0)

    @staticmethod
    def _release(downstream: RecordsAndPlc | None) -> None:
        if downstream is not None:
            downstream.close()

    def stop(self) -> None:
        """Stop the camera first, let inference finish its queue, then the downstream stages drain."""
        self.teaching.stop()
        if not self._started:
            self._release(self.downstream)  # built but never started: free the PLC server and connections
            return
        self.supervisor.stop()
        if self.downstream is not None:
            self._crash_callback_remove()
            self.downstream.stop()
        self._started = False

    def wait_done(self, timeout_s: float | None = None) -> bool:
        """Wait until `max_parts` parts were captured and judged; True when done."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.capture.done.is_set():
            if self.supervisor.failed():
                return False
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        while self.outlet.counts().total < self.capture.parts:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    @property
    def users(self):
        """The user directory (None when the station runs without records)."""
        return self.downstream.users if self.downstream else None

    @property
    def records(self):
        """Read-only queries on the stored parts (None without records)."""
        return self.downstream.records if self.downstream else None

    def review(self, seq: int, verdict: Verdict, user, defect_type: str | None = None, note: str = "") -> OperatorReview:
        """An operator's verdict on a held part, checked against the user's role here, not only on screen."""
        from hmi.store.users import Permission, require

        require(user, Permission.REVIEW)
        return self.holds.decide(seq, verdict, user.name, defect_type, note)

    def report_downstream_defect(self, seq: int, defect_type: str, user, secret: str,
                                 note: str = "") -> DownstreamDefect:
        """A defect found downstream on part `seq`, signed by a quality manager; the store thread records it.

        Checked here, before anything is queued: the role, that the part is in the records, that the type is
        one of its recipe's defect types, and the signature (the PIN entered again, audited).
        """
        from hmi.store.users import Permission, require

        require(user, Permission.REPORT_DEFECTS)
        if self.downstream is None:
            raise StoreError("this station keeps no records (setup mode), so no part can be reported",
                             "report it on a station in production mode")
        record = self.downstream.records.part(int(seq))
        if record is None:
            raise StoreError(f"there is no part {seq} in the records",
                             "check the part number on the part's label or in the record browser")
        types = self._defect_types(record.recipe)
        if defect_type not in types:
            raise StationError(f"'{defect_type}' is not a defect type of recipe {record.recipe}",
                               f"choose one of: {', '.join(types)}")
        signer = self.changes.sign(user, secret, Permission.REPORT_DEFECTS, f"defect found downstream on part {seq}")
        report = DownstreamDefect(int(seq), defect_type, signer.name, utc_now(), note.strip())
        self.downstream.report_downstream_defect(report)
        return report

    def _defect_types(self, recipe: str) -> list[str]:
        """The defect types of `recipe` (the recipe in force when its file is gone)."""
        if recipe == self.recipe.name:
            return list(self.recipe.defect_types)
        try:
            return list(self.changes.load(recipe).defect_types)
        except StationError:
            return list(self.recipe.defect_types)

    def audit(self, user: str, action: str, subject: str = "", old=None, new=None, reason: str = "") -> None:
        """Append to the audit trail through the store thread."""
        if self.downstream is None:
            log.warning("audit without records: %s %s %s", user, action, subject)
            return
        self.downstream.audit(user, action, subject, old, new, reason)

    def plc_status(self):
        """The PLC link's state, or None without a PLC stage."""
        return self.downstream.plc.status() if self.downstream else None

    def status(self) -> StationStatus:
        """A consistent picture of the station for the status line and screens."""
        workers = self.supervisor.health()
        if self.downstream is not None:
            workers += [WorkerHealth(w.role, w.state, w.error_text()) for w in self.downstream.workers()]
        return StationStatus(self.outlet.counts(), self.verdict_metrics.snapshot(), self.capture_metrics.snapshot(),
                             self.inference_metrics.snapshot(), workers, self.backend,
                             self.active.get().recipe, self.alarms.snapshot())


__all__ = ["Station", "StationStatus", "find_model", "load_inspector", "thresholds_of", "StationError"]
