"""The inference thread: judge each part against the active model and threshold set, within its deadline."""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from hmi.core.alarm_catalogue import MODEL
from hmi.core.alarms import AlarmBoard
from hmi.core.errors import StationError
from hmi.core.part import Decision, Part, utc_now
from hmi.core.setup import SetupInForce
from hmi.core.verdict import Verdict
from hmi.decision.policy import ThresholdSet, decide, defect_confidence
from hmi.inference.inspector import Inspector, Judging
from hmi.pipeline.metrics import RecentDurations, StageMetrics
from hmi.pipeline.outlet import VerdictOutlet
from hmi.pipeline.queues import BoundedQueue, NewestSlot
from hmi.pipeline.worker import JobWorker, Worker

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


@dataclass
class _Work:
    """One part on its way through the inference stages, with what each stage found."""

    part: Part
    setup: JudgingSetup
    judging: Judging | None = None  # None: decided without the model (verdict and reason below)
    verdict: Verdict | None = None
    reason: str = ""
    failure: str = ""  # a model failure, for the model alarm


class InspectionWorker(Worker):
    """Takes parts from the frame queue, runs the model, decides, and publishes every part.

    A part that waited past its deadline, or whose inspection failed, is NOT_INSPECTED with the
    reason; consecutive model failures raise the model alarm. Nothing here waits for the outlet: it and
    its listeners count and handle a full queue or list at once (only the model stage holds a part back).

    A model that spares CPU cores while it runs (on a GPU, or on fewer threads than the machine has cores)
    judges in three stages, so that consecutive parts overlap: this thread takes a part and prepares its
    frame (`Inspector.begin`: scale, pad, tiles) while the model runs the previous part on the model thread,
    and the verdicts thread finishes each part after its model run (map, regions, decision, publish, credit
    back). Each stage takes the parts one by one in capture order, so they leave in that order; at most one
    part is prepared ahead of the model, within the in-flight credits. A model whose threads take every core
    judges each part whole on this thread: on 2 CPU cores the stages ran 0-8 % more parts a second, but the
    work beside the model slowed its threads and raised capture-to-verdict p99 from 49-66 to 68-80 ms
    (docs/performance.md).
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
        self._failures = 0  # touched by whichever thread decides parts: one at a time (_settle_stages)
        self._busy_since: float | None = None
        self.judge_times = RecentDurations()  # how long recent parts held the model (whole judging, or its run in stages)
        self._model = JobWorker("inference-model")
        self._verdicts = JobWorker("inference-verdicts")
        self._in_model: Future | None = None
        self._last_verdict: Future | None = None
        self._waiting = False  # a prepared part waits for the model
        self._fault: BaseException | None = None  # what broke a stage thread; ends this worker

    def expected_free_at(self) -> float:
        """Monotonic time by which the model should be free for one more part: after the part it runs and those
        waiting for it, each taken at a low quantile of recent model times (now when idle and none waits).

        A frame landing then usually finds the model still busy for a few milliseconds (the quantiles of the
        model's and the camera's times leave that margin), enough to prepare it while the model ends."""
        since = self._busy_since
        now = time.monotonic()
        waiting = len(self.frames) + (1 if self._waiting else 0)
        if not self.judge_times and (since is not None or waiting):
            return math.inf  # the first part: how long judging takes is known once it ends
        judge = self.judge_times.quantile(FREE_QUANTILE)
        free = max(now, since + judge) if since is not None else now
        return free + waiting * judge

    def setup(self) -> None:
        """Raise the model alarm at once when the station starts without a usable model."""
        s = self.active.get()
        if s.inspector is None:
            self.alarms.raise_(MODEL, problem=s.problem or "no model loaded")

    def loop_once(self) -> None:
        """Judge one part: whole on this thread, or (a model that spares cores) prepared here while the model runs
        the previous part, then handed to the model."""
        if self._fault is not None:
            raise self._fault
        part = self.frames.take(0.1)
        if part is None:
            self.outlet.drain()  # records refused earlier go to the store while the line is idle
            return
        setup = self.active.get()
        if setup.inspector is not None and setup.inspector.spares_cores:
            self._staged(self._begin(part, setup))
            return
        self._settle_stages()  # parts judged in stages before this one leave first
        t0 = self._busy_since = time.monotonic()
        try:
            work = self._begin(part, setup)
            self._model_run(work)
            self._publish(self._decided(work))
        finally:
            self.judge_times.add(time.monotonic() - t0)
            self._busy_since = None

    def teardown(self) -> None:
        """Finish the parts in the stages, judge what is still queued, then hand the records' overflow on, so no
        part goes unrecorded."""
        self._model.shutdown()  # its jobs hand their parts to the verdicts thread before it ends
        self._verdicts.shutdown()
        while (part := self.frames.take_nowait()) is not None:
            self._publish(self.judge(part))
        self.outlet.flush(FLUSH_S)

    def _staged(self, work: _Work) -> None:
        """Hand a prepared part to the model thread once the model is done with the part before it."""
        if self._in_model is not None:
            self._waiting = True
            try:
                self._in_model.result()  # the model is free again (its job never raises: _model_then_verdict)
            finally:
                self._waiting = False
        self._in_model = self._model.submit(lambda: self._model_then_verdict(work))

    def _settle_stages(self) -> None:
        """Wait until the parts handed to the model and verdicts threads are published."""
        if self._in_model is not None:
            self._in_model.result()
            self._in_model = None
        if self._last_verdict is not None:
            self._last_verdict.result()
            self._last_verdict = None

    def judge(self, part: Part) -> Part:
        """The part with its inspection (when it ran) and decision under the setup in force, which it carries on."""
        work = self._begin(part)
        self._model_run(work)
        return self._decided(work)

    # --- the stages ---------------------------------------------------------------------------
    def _begin(self, part: Part, setup: JudgingSetup | None = None) -> _Work:
        """This thread: the setup in force (read once per part), the deadline so far, the frame prepared."""
        setup = setup or self.active.get()
        work = _Work(part.judged_with(setup.carried), setup)
        waited = time.monotonic() - part.captured_mono
        if setup.inspector is None:
            work.verdict, work.reason = Verdict.NOT_INSPECTED, setup.problem or "no model loaded"
        elif waited > self.deadline_s:
            self.metrics.drop()
            work.verdict, work.reason = (Verdict.NOT_INSPECTED,
                                         f"waited {waited * 1000:.0f} ms, past the {self.deadline_s * 1000:.0f} ms deadline")
        else:
            self._attempt(work, lambda: setattr(work, "judging", setup.inspector.begin(part.image)))
        return work

    def _model_run(self, work: _Work) -> None:
        """The model's run on a prepared frame."""
        if work.judging is None or work.verdict is not None:
            return
        inspector = work.setup.inspector
        assert inspector is not None
        self._attempt(work, lambda: inspector.run(work.judging))

    def _decided(self, work: _Work) -> Part:
        """The verdicts thread: the inspection finished (map, regions), the decision, the deadline rule."""
        part, setup = work.part, work.setup
        inspection = None
        if work.judging is not None and work.verdict is None:
            assert setup.inspector is not None
            inspection = self._attempt(work, lambda: setup.inspector.finish(work.judging))
        if work.failure:
            self._failed(work.failure)
        confidence: float | None = None
        if inspection is None:
            verdict, reason = work.verdict or Verdict.NOT_INSPECTED, work.reason
        else:
            self._succeeded()
            part = part.inspected(inspection)
            verdict, reason = decide(inspection, setup.thresholds)
            if verdict is not Verdict.NOT_INSPECTED:
                confidence = defect_confidence(inspection.score, setup.thresholds)
            self.metrics.record(inspection.infer_ms / 1000.0)
            total = time.monotonic() - part.captured_mono
            if total > self.deadline_s:
                verdict, reason = Verdict.NOT_INSPECTED, f"judged after {total * 1000:.0f} ms, past the deadline"
                confidence = None
        return part.decided(Decision(verdict, reason, setup.thresholds.version, utc_now(), time.monotonic(),
                                     confidence))

    def _model_then_verdict(self, work: _Work) -> None:
        """The model thread's job for one part: run it, then queue it for the verdicts thread (in order)."""
        try:
            t0 = self._busy_since = time.monotonic()
            try:
                self._model_run(work)
            finally:  # the model's time, for the trigger (hmi.camera.capture)
                self.judge_times.add(time.monotonic() - t0)
                self._busy_since = None
            self._last_verdict = self._verdicts.submit(lambda: self._verdict_job(work))
        except BaseException as exc:  # noqa: BLE001 - ends the inference worker (loop_once raises it)
            self._fault = exc
            self._give_credit()

    def _verdict_job(self, work: _Work) -> None:
        """The verdicts thread's job for one part: decide and publish it, and give its credit back."""
        try:
            self.outlet.publish(self._decided(work))
        except BaseException as exc:  # noqa: BLE001 - ends the inference worker (loop_once raises it)
            self._fault = exc
        finally:
            self._give_credit()

    def _attempt(self, work: _Work, step):
        """Run one step of the inspection; a failure makes the part NOT_INSPECTED with the reason."""
        try:
            return step()
        except StationError as exc:
            work.failure = str(exc)
            work.verdict, work.reason = Verdict.NOT_INSPECTED, str(exc)
        except Exception as exc:  # noqa: BLE001 - any model failure is a NOT_INSPECTED part, plus an alarm
            log.exception("inspection of part %s failed", work.part.seq)
            work.failure = f"model failed on part {work.part.seq}: {type(exc).__name__}: {exc}"
            work.verdict, work.reason = Verdict.NOT_INSPECTED, f"model error: {type(exc).__name__}"
        return None

    def _publish(self, part: Part) -> None:
        try:
            self.outlet.publish(part)
        finally:
            self._give_credit()

    def _give_credit(self) -> None:
        if self.credits is not None:
            self.credits.release()

    def _failed(self, text: str) -> None:
        self._failures += 1
        if self._failures >= 3:
            self.alarms.raise_(MODEL, problem=text)

    def _succeeded(self) -> None:
        if self._failures:
            self._failures = 0
            self.alarms.clear(MODEL)
