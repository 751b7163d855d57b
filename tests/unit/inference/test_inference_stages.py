"""The inference stages overlap consecutive parts when the model spares cores (a GPU runs it): the next frame is
prepared while the model runs, parts leave in order; a model on every CPU core judges each part whole."""

from __future__ import annotations

import os
import threading
import time

import pytest

from hmi.core.alarm_catalogue import MODEL
from hmi.core.alarms import AlarmBoard
from hmi.core.errors import ModelError
from hmi.core.part import CameraSettings, Part, utc_now
from hmi.core.verdict import Verdict
from hmi.decision.policy import ThresholdSet
from hmi.inference.backend import BackendInfo
from hmi.inference.inspector import Inspector, Judging
from hmi.inference.package import ModelPackage
from hmi.inference.worker import ActiveSetup, InspectionWorker, JudgingSetup
from hmi.pipeline.metrics import StageMetrics
from hmi.pipeline.outlet import VerdictOutlet
from hmi.pipeline.queues import BoundedQueue, NewestSlot
from tests.support.tiny_model import frame_with_spot, plain_frame
from tests.support.waiting import wait_for

PARTS = 12


class WatchedInspector:
    """A real inspector whose steps note which thread ran them, and whose model run on part 1's frame waits until
    the next frame has been prepared (a worker judging one part at a time would never get there). With
    `spares_cores` it stands in for a model run on a GPU, which leaves the CPU cores free (none here)."""

    def __init__(self, inspector: Inspector, fail_finish_on: set[int] = frozenset(), spares_cores: bool = True) -> None:
        self.inspector = inspector
        self.spares_cores = spares_cores
        self.region_threshold = inspector.region_threshold
        self.backend = inspector.backend
        self.begun: list[int] = []
        self.threads: dict[str, set[str]] = {"begin": set(), "run": set(), "finish": set()}
        self.next_prepared = threading.Event()
        self.waited_for_next = False
        self.fail_finish_on = fail_finish_on

    def begin(self, frame) -> Judging:
        """Prepare the frame; the second one releases the model run of the first."""
        judging = self.inspector.begin(frame)
        seq = int(frame[0, 0])  # each test frame carries its part number in its first pixel
        judging.seq = seq  # type: ignore[attr-defined]
        self.begun.append(seq)
        self.threads["begin"].add(threading.current_thread().name)
        if len(self.begun) == 2:
            self.next_prepared.set()
        return judging

    def run(self, judging: Judging) -> None:
        """The model run; the first part's waits for the second part's preparation."""
        self.threads["run"].add(threading.current_thread().name)
        if judging.seq == 1 and self.spares_cores:  # type: ignore[attr-defined]
            self.waited_for_next = self.next_prepared.wait(30)
        self.inspector.run(judging)

    def finish(self, judging: Judging):
        """Regions and score; fails for the parts named in `fail_finish_on`."""
        self.threads["finish"].add(threading.current_thread().name)
        if judging.seq in self.fail_finish_on:  # type: ignore[attr-defined]
            raise ModelError("the anomaly map could not be read", "teach the model again")
        return self.inspector.finish(judging)


def _frame(seq: int):
    frame = frame_with_spot(64) if seq % 3 == 0 else plain_frame(64)
    frame = frame.copy()
    frame[0, 0] = seq
    return frame


def _station(tiny_model, **watch) -> tuple[InspectionWorker, BoundedQueue[Part], VerdictOutlet, WatchedInspector,
                                           AlarmBoard, list[Part]]:
    watched = WatchedInspector(Inspector(ModelPackage.load(tiny_model), provider="cpu", threads=1), **watch)
    frames: BoundedQueue[Part] = BoundedQueue("frames", PARTS)
    alarms = AlarmBoard()
    outlet = VerdictOutlet(StageMetrics("verdicts"), NewestSlot("screen"), BoundedQueue("records", 100), alarms)
    published: list[Part] = []
    outlet.subscribe(published.append)
    thresholds = ThresholdSet(version=1, score=0.3)
    worker = InspectionWorker(frames, ActiveSetup(JudgingSetup("r", thresholds, watched)), outlet,  # type: ignore[arg-type]
                              alarms, StageMetrics("inference"), deadline_s=3600.0)
    return worker, frames, outlet, watched, alarms, published


def _offer(frames: BoundedQueue[Part], seqs) -> None:
    for seq in seqs:
        assert frames.offer(Part(seq, utc_now(), time.monotonic(), CameraSettings("cam", 1.0, 0.0), "r",
                                 image=_frame(seq)))


def _judge_all(worker: InspectionWorker, frames: BoundedQueue[Part], published: list[Part]) -> None:
    """Queue PARTS parts, run the worker until all are published, stop it; they left in capture order."""
    _offer(frames, range(1, PARTS + 1))
    worker.start()
    try:
        wait_for(lambda: len(published) == PARTS or worker.error is not None, f"{PARTS} parts published")
    finally:
        worker.stop()
        assert worker.join(10)
    assert worker.error is None, worker.error_text()
    assert [p.seq for p in published] == list(range(1, PARTS + 1))


def test_the_next_frame_is_prepared_while_the_model_runs_and_parts_leave_in_capture_order(tiny_model):
    worker, frames, outlet, watched, _, published = _station(tiny_model)
    reference = Inspector(ModelPackage.load(tiny_model), provider="cpu", threads=1)
    _judge_all(worker, frames, published)
    assert watched.waited_for_next  # part 1's model run saw part 2 prepared: the stages overlapped
    # three threads, one step each: preparing, the model, the verdicts
    assert watched.threads == {"begin": {"inference"}, "run": {"inference-model"}, "finish": {"inference-verdicts"}}
    for part in published:  # judged as the inspector judges the frame on its own
        alone = reference.inspect(_frame(part.seq))
        assert part.inspection is not None
        assert part.inspection.score == pytest.approx(alone.score)
        assert len(part.inspection.regions) == len(alone.regions)
        assert part.verdict is (Verdict.NG if alone.score >= 0.3 else Verdict.OK)
    assert {p.verdict for p in published} == {Verdict.OK, Verdict.NG}


def test_a_part_whose_map_cannot_be_finished_is_not_inspected_in_its_place(tiny_model):
    worker, frames, outlet, _, alarms, published = _station(tiny_model, fail_finish_on={4, 5, 6})
    _offer(frames, range(1, PARTS + 1))
    worker.start()
    try:
        wait_for(lambda: len(published) == PARTS or worker.error is not None, f"{PARTS} parts published")
        assert worker.error is None, worker.error_text()
        assert [p.seq for p in published] == list(range(1, PARTS + 1))
        failed = [p for p in published if p.verdict is Verdict.NOT_INSPECTED]
        assert [p.seq for p in failed] == [4, 5, 6]
        assert all("could not be read" in p.decision.reason for p in failed)
        assert not alarms.is_active(MODEL)  # three failures in a row raised it; part 7 judged again cleared it
    finally:
        worker.stop()
        assert worker.join(10)


def test_parts_still_queued_at_shutdown_are_judged_and_published_in_order(tiny_model):
    worker, frames, outlet, watched, _, published = _station(tiny_model)
    watched.next_prepared.set()  # no hold-up: this test is about the end
    credits = threading.Semaphore(0)
    worker.credits = credits
    _offer(frames, range(1, PARTS + 1))
    worker.start()
    wait_for(lambda: len(published) >= 2, "the first parts published")
    worker.stop()
    assert worker.join(30)
    assert worker.error is None, worker.error_text()
    assert [p.seq for p in published] == list(range(1, PARTS + 1))
    assert all(p.verdict is not Verdict.NOT_INSPECTED for p in published)
    assert sum(credits.acquire(blocking=False) for _ in range(PARTS + 1)) == PARTS  # every part gave its credit back


def test_a_model_on_every_cpu_core_judges_each_part_whole_on_the_inference_thread(tiny_model):
    worker, frames, outlet, watched, _, published = _station(tiny_model, spares_cores=False)
    _judge_all(worker, frames, published)
    assert watched.threads == {"begin": {"inference"}, "run": {"inference"}, "finish": {"inference"}}


def test_a_cpu_model_spares_cores_only_on_fewer_threads_than_the_machine_has(tiny_model):
    package = ModelPackage.load(tiny_model)
    assert not Inspector(package, provider="cpu").spares_cores  # threads 0: every core
    assert Inspector(package, provider="cpu", threads=1).spares_cores == ((os.cpu_count() or 1) > 1)


def test_a_model_on_the_gpu_spares_the_cpu_cores():
    cores = os.cpu_count() or 1
    assert BackendInfo("tensorrt-fp16", cores).spares_cores and BackendInfo("cuda", cores).spares_cores
    assert not BackendInfo("cpu", cores).spares_cores
