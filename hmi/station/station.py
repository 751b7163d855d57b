"""The running station: what the builder wired, started and stopped in a fixed order; it creates nothing."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from hmi.camera.capture import CaptureWorker
from hmi.changes.plc_requests import PlcRecipeRequests
from hmi.changes.setup import SetupChanges
from hmi.changes.teaching import Teaching
from hmi.config.schema import Recipe, StationConfig
from hmi.core.alarms import AlarmBoard
from hmi.core.errors import StationError, StoreError
from hmi.core.messages import DownstreamDefect, OperatorReview
from hmi.core.part import Part, utc_now
from hmi.core.verdict import Verdict
from hmi.inference.worker import ActiveSetup, InspectionWorker
from hmi.core.logs import on_crash
from hmi.pipeline.holds import HoldQueue
from hmi.pipeline.metrics import StageMetrics, StageSnapshot
from hmi.pipeline.monitors import LightingDriftMonitor, RejectRateMonitor
from hmi.pipeline.outlet import VerdictCounts, VerdictOutlet
from hmi.pipeline.outputs import Output, StationStateWatch
from hmi.pipeline.queues import BoundedQueue, NewestSlot
from hmi.pipeline.supervisor import Supervisor, WorkerHealth
from hmi.services.reports.background import ReportWorker
from hmi.station.held_parts import restore_held_parts
from hmi.station.records_and_plc import RecordsAndPlc
from hmi.store.queries import RecordReader
from hmi.store.users import UserDirectory

log = logging.getLogger(__name__)

REPORTS_STOP_S = 10.0  # a shift report takes 2 s at most; an export of a long shift a few more


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


@dataclass(eq=False, kw_only=True, repr=False)
class Station:
    """The running station: camera -> inference -> decision -> records, PLC and outputs, as `build_station` wired it.

    Without `downstream` it is the bare judging core (setup mode, `hmi bench`'s baseline): nothing is
    recorded or signalled and nobody can log in (`users` is None).
    """

    cfg: StationConfig
    data_dir: Path
    active: ActiveSetup                 # the setup in force (model, thresholds, what each part carries on)
    alarms: AlarmBoard
    frames: BoundedQueue[Part] | NewestSlot[Part]
    newest: NewestSlot[Part]
    records_in: BoundedQueue[Part] | None
    reviews: BoundedQueue[OperatorReview]
    capture_metrics: StageMetrics
    inference_metrics: StageMetrics
    verdict_metrics: StageMetrics
    outlet: VerdictOutlet
    holds: HoldQueue
    reject_monitor: RejectRateMonitor
    lighting_monitor: LightingDriftMonitor
    supervisor: Supervisor              # holds timer, inference, camera, PLC recipe requests, in start order
    inference: InspectionWorker
    capture: CaptureWorker
    changes: SetupChanges
    teaching: Teaching
    reports: ReportWorker               # the reports screen's low-priority thread: starts with its first report
    state: StationStateWatch            # Preoperational / Operational / Error / Halted, as the plant's outputs show it
    audit_trail: Callable[..., None]    # the store's audit queue, or the log without records
    users: UserDirectory | None = None
    records: RecordReader | None = None
    downstream: RecordsAndPlc | None = None
    outputs: list[Output] = field(default_factory=list)
    recipe_requests: PlcRecipeRequests | None = None
    resources: ExitStack = field(default_factory=ExitStack)  # what the builder opened: released by stop()
    _started: bool = field(default=False, init=False)
    _crash_callback_remove: Callable[[], None] = field(default=lambda: None, init=False)

    @property
    def recipe(self) -> Recipe:
        """The recipe in force, as its one owner (the setup changes) holds it.

        Nothing is pushed from here: every part carries the setup it was judged with (`Part.setup`) to the
        holds, monitors, records, images, PLC and outputs, so a part in flight keeps its own recipe.
        """
        return self.changes.recipe

    @property
    def backend(self) -> str:
        """Inference backend in use, or 'none' without a model."""
        ins = self.active.get().inspector
        return ins.backend if ins else "none"

    def start(self) -> None:
        """Start the records and the PLC first, then the outputs, then inference, then the camera."""
        # Objects made while loading (model, config, pylon) live as long as the station: keep the
        # collector from walking them again and again, which shows as latency spikes on the line.
        gc.collect()
        gc.freeze()
        if self.downstream is not None:
            self.downstream.start()
            # A crash anywhere in the process shows on the PLC as station state 2 (fault), not as silence.
            self._crash_callback_remove = on_crash(self.downstream.signal_fault)
            if self.records is not None:  # parts left HOLD by the last run: back for review, or their default
                restore_held_parts(self.holds, self.records.db_path, self.data_dir, self.changes.load, self.recipe,
                                   self.audit)
        for output in self.outputs:
            output.start()
        self.supervisor.start()
        self._started = True
        self.state.running()
        self.changes.apply_camera(self.recipe)  # the recipe's exposure and gain, on the capture thread

    def signal_fault(self) -> None:
        """Show the PLC station state 2 (fault), so the line rejects rather than waits; used before a crash exit."""
        if self.downstream is not None:
            self.downstream.signal_fault()

    def stop(self) -> None:
        """Stop teaching and the report thread, then the camera; inference finishes its queue, then the outputs,
        then the records and PLC drain.

        A station built but never started releases what the builder opened (PLC server, records connections).
        """
        self.teaching.stop()
        # A report under way is let finish; those still queued are dropped, and nothing new starts.
        if not self.reports.shutdown(REPORTS_STOP_S, cancel_pending=True):
            log.warning("the report thread did not finish its report within %.0f s; stopping without it",
                        REPORTS_STOP_S)
        if self._started:
            self.state.halted()
            self.supervisor.stop()
            for output in reversed(self.outputs):
                output.stop()
            if self.downstream is not None:
                self._crash_callback_remove()
                self.downstream.stop()
            self._started = False
        self.resources.close()

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
        if self.downstream is None or self.records is None:
            raise StoreError("this station keeps no records (setup mode), so no part can be reported",
                             "report it on a station in production mode")
        record = self.records.part(int(seq))
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
        """Append to the audit trail through the store thread (to the log only without records)."""
        self.audit_trail(user, action, subject, old, new, reason)

    def plc_status(self):
        """The PLC link's state, or None without a PLC stage."""
        return self.downstream.plc_status() if self.downstream else None

    def status(self) -> StationStatus:
        """A consistent picture of the station for the status line and screens."""
        workers = self.supervisor.health()
        for stage in ([self.downstream] if self.downstream is not None else []) + self.outputs:
            workers += [WorkerHealth(w.role, w.state, w.error_text()) for w in stage.workers()]
        return StationStatus(self.outlet.counts(), self.verdict_metrics.snapshot(), self.capture_metrics.snapshot(),
                             self.inference_metrics.snapshot(), workers, self.backend,
                             self.active.get().recipe, self.alarms.snapshot())
