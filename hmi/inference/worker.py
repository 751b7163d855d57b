"""The inference thread: judge each part against the active model and threshold set, within its deadline."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from hmi.core.alarm_catalogue import MODEL
from hmi.core.alarms import AlarmBoard
from hmi.core.errors import StationError
from hmi.core.part import Decision, Part, utc_now
from hmi.core.setup import SetupInForce
from hmi.core.verdict import Verdict
from hmi.decision.policy import ThresholdSet, decide, defect_confidence
from hmi.inference.inspector import Inspector
from hmi.pipeline.metrics import RecentDurations, StageMetrics
from hmi.pipeline.outlet import VerdictOutlet
from hmi.pipeline.queues import BoundedQueue, NewestSlot
from hmi.pipeline.worker import Worker

log = logging.getLogger(__name__)

FLUSH_S = 5.0  # at shutdown, how long the records' overflow may wait for the store
# The capture lands the next frame as the model should free up, judged by this low quantile of recent judging
# times: a part judged faster than the mean then finds its successor waiting (with the mean, about half of them
# found none and the model idled: 17 % of the time at 5 MP on 2 cores; docs/performance.md).
FREE_QUANTILE = 0.1


@dataclass(frozen=True)
class JudgingSetup:
    """The setup in force, swapped as a whole: the model and threshold set that judge, and what each part carries.

    `in_force` is what every judged part carries on to the holds, monitors, records, images, PLC and
    outputs (hmi.core.setup); `hmi.inference.loading.judging_setup` builds the whole value from a recipe.
    """

    recipe: str
    thresholds: ThresholdSet
    inspector: Inspector | None
    problem: str = ""  # why there is no inspector, in plain words
    in_force: SetupInForce | None = None  # None: only the recipe name and threshold version (bare tools, tests)

    def __post_init__(self) -> None:
        if self.in_force is None:
            object.__setattr__(self, "in_force", SetupInForce(self.recipe, self.thresholds.version))
        elif (self.in_force.recipe, self.in_force.threshold_version) != (self.recipe, self.thresholds.version):
            raise ValueError("a judging setup names one recipe and threshold version throughout")

    @property
    def carried(self) -> SetupInForce:
        """What each part judged under this setup carries on."""
        assert self.in_force is not None
        return self.in_force


class ActiveSetup:
    """Holder of the current JudgingSetup; the app swaps it on changeover or a threshold change."""

    def __init__(self, setup: JudgingSetup) -> None:
        self._setup = setup
        self._lock = threading.Lock()

    def get(self) -> JudgingSetup:
        """The setup in force (read once per part)."""
        with self._lock:
            return self._setup

    def set(self, setup: JudgingSetup) -> None:
        """Put a new setup in force from the next part on."""
        with self._lock:
            self._setup = setup


class InspectionWorker(Worker):
    """Takes parts from the frame queue, runs the model, decides, and publishes every part.

    A part that waited past its deadline, or whose inspection failed, is NOT_INSPECTED with the
    reason; consecutive model failures raise the model alarm. Nothing on this thread waits for a
    later stage: the outlet and its listeners count and handle a full queue or list at once.
    """

    role = "inference"

    def __init__(self, frames: BoundedQueue[Part] | NewestSlot[Part], active: ActiveSetup, outlet: VerdictOutlet,
                 alarms: AlarmBoard, metrics: StageMetrics, *, deadline_s: float,
                 credits: threading.Semaphore | None = None) -> None:
        super().__init__()
        self.frames = frames
        self.active = active
        self.outlet = outlet
        self.alarms = alarms
        self.metrics = metrics
        self.deadline_s = deadline_s
        self.credits = credits
        self._failures = 0
        self._busy_since: float | None = None
        self.judge_times = RecentDurations()  # how long recent parts took to judge

    def expected_free_at(self) -> float:
        """Monotonic time by which the model should be free for one more part: after the part being judged and
        those already queued, each taken at a low quantile of recent judging times (now when idle and none waits)."""
        since = self._busy_since
        now = time.monotonic()
        judge = self.judge_times.quantile(FREE_QUANTILE)
        free = max(now, since + judge) if since is not None else now
        return free + len(self.frames) * judge

    def setup(self) -> None:
        """Raise the model alarm at once when the station starts without a usable model."""
        s = self.active.get()
        if s.inspector is None:
            self.alarms.raise_(MODEL, problem=s.problem or "no model loaded")

    def loop_once(self) -> None:
        """Judge one part (or return after a short wait when none is queued)."""
        part = self.frames.take(0.1)
        if part is None:
            self.outlet.drain()  # records refused earlier go to the store while the line is idle
            return
        t0 = self._busy_since = time.monotonic()
        try:
            self.outlet.publish(self.judge(part))
        finally:
            self.judge_times.add(time.monotonic() - t0)
            self._busy_since = None
            if self.credits is not None:
                self.credits.release()

    def teardown(self) -> None:
        """Judge what is still queued at shutdown, then hand the records' overflow on, so no part goes unrecorded."""
        while (part := self.frames.take_nowait()) is not None:
            self.outlet.publish(self.judge(part))
            if self.credits is not None:
                self.credits.release()
        self.outlet.flush(FLUSH_S)

    def judge(self, part: Part) -> Part:
        """The part with its inspection (when it ran) and decision under the setup in force, which it carries on."""
        setup = self.active.get()
        part = part.judged_with(setup.carried)
        waited = time.monotonic() - part.captured_mono
        verdict: Verdict
        confidence: float | None = None
        if setup.inspector is None:
            verdict, reason = Verdict.NOT_INSPECTED, setup.problem or "no model loaded"
        elif waited > self.deadline_s:
            self.metrics.drop()
            verdict, reason = Verdict.NOT_INSPECTED, f"waited {waited * 1000:.0f} ms, past the {self.deadline_s * 1000:.0f} ms deadline"
        else:
            t0 = time.monotonic()
            try:
                inspection = setup.inspector.inspect(part.image)
            except StationError as exc:
                self._failed(str(exc))
                verdict, reason = Verdict.NOT_INSPECTED, str(exc)
            except Exception as exc:  # noqa: BLE001 - any model failure is a NOT_INSPECTED part, plus an alarm
                log.exception("inspection of part %s failed", part.seq)
                self._failed(f"model failed on part {part.seq}: {type(exc).__name__}: {exc}")
                verdict, reason = Verdict.NOT_INSPECTED, f"model error: {type(exc).__name__}"
            else:
                self._succeeded()
                part = part.inspected(inspection)
                verdict, reason = decide(inspection, setup.thresholds)
                if verdict is not Verdict.NOT_INSPECTED:
                    confidence = defect_confidence(inspection.score, setup.thresholds)
                self.metrics.record(time.monotonic() - t0)
                total = time.monotonic() - part.captured_mono
                if total > self.deadline_s:
                    verdict, reason = Verdict.NOT_INSPECTED, f"judged after {total * 1000:.0f} ms, past the deadline"
                    confidence = None
        return part.decided(Decision(verdict, reason, setup.thresholds.version, utc_now(), time.monotonic(),
                                     confidence))

    def _failed(self, text: str) -> None:
        self._failures += 1
        if self._failures >= 3:
            self.alarms.raise_(MODEL, problem=text)

    def _succeeded(self) -> None:
        if self._failures:
            self._failures = 0
            self.alarms.clear(MODEL)
