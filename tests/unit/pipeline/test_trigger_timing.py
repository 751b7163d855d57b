"""When the capture should land the next frame: after the parts the model has, at their quick end of judging."""

from __future__ import annotations

import time

import pytest

from hmi.core.alarms import AlarmBoard
from hmi.core.part import CameraSettings, Part, utc_now
from hmi.decision.policy import ThresholdSet
from hmi.inference.worker import FREE_QUANTILE, ActiveSetup, InspectionWorker, JudgingSetup
from hmi.pipeline.metrics import RecentDurations, StageMetrics
from hmi.pipeline.outlet import VerdictOutlet
from hmi.pipeline.queues import BoundedQueue, NewestSlot


def test_recent_durations_answer_quantiles_of_the_last_window():
    times = RecentDurations(window=10)
    assert times.quantile(0.5) == 0.0  # nothing timed yet: no wait
    for s in range(100):  # only the last 10 (0.90 .. 0.99) are kept
        times.add(s / 100)
    assert times.quantile(0.0) == pytest.approx(0.90)
    assert times.quantile(1.0) == pytest.approx(0.99)
    assert times.quantile(0.5) == pytest.approx(0.945)


def _worker(frames: BoundedQueue[Part]) -> InspectionWorker:
    alarms = AlarmBoard()
    outlet = VerdictOutlet(StageMetrics("verdicts"), NewestSlot("screen"), BoundedQueue("records", 10), alarms)
    setup = JudgingSetup("r", ThresholdSet(version=1, score=1.0), None, problem="no model")
    return InspectionWorker(frames, ActiveSetup(setup), outlet, alarms, StageMetrics("inference"), deadline_s=10.0)


def _part(seq: int) -> Part:
    return Part(seq, utc_now(), time.monotonic(), CameraSettings("cam", 1.0, 0.0), "r")


def test_the_model_is_free_after_the_queued_parts_at_the_quick_end_of_recent_judging():
    frames: BoundedQueue[Part] = BoundedQueue("frames", 4)
    worker = _worker(frames)
    for seconds in [1.0] * 9 + [2.0] * 11:  # judging took 1 s or 2 s
        worker.judge_times.add(seconds)
    quick = worker.judge_times.quantile(FREE_QUANTILE)
    assert quick == pytest.approx(1.0)  # not the mean (1.55 s): a part judged in 1 s finds the next frame there
    before = time.monotonic()
    assert before <= worker.expected_free_at() <= time.monotonic()  # idle with nothing queued: free now
    frames.offer(_part(1))
    frames.offer(_part(2))
    before = time.monotonic()
    free = worker.expected_free_at()
    assert before + 2 * quick <= free <= time.monotonic() + 2 * quick  # the two queued parts come first


def test_while_the_first_part_is_judged_the_model_is_not_yet_expected_free():
    frames: BoundedQueue[Part] = BoundedQueue("frames", 4)
    worker = _worker(frames)
    worker._busy_since = time.monotonic()  # judging its first part: no judging time known yet
    assert worker.expected_free_at() == float("inf")  # the capture asks again rather than trigger a part to wait
    worker._busy_since = None
    frames.offer(_part(1))  # or still waiting for the model
    assert worker.expected_free_at() == float("inf")
    worker.judge_times.add(0.5)
    assert worker.expected_free_at() <= time.monotonic() + 0.5
