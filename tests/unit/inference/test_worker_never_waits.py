"""The inference thread never waits for a later stage: with the records queue and HOLD list full it keeps judging."""

from __future__ import annotations

import time

import pytest

from hmi.core.alarm_catalogue import HOLD_FULL, RECORDS_BACKLOG
from hmi.core.alarms import AlarmBoard
from hmi.core.messages import RecordOnly
from hmi.core.part import CameraSettings, Part, utc_now
from hmi.core.verdict import Verdict
from hmi.decision.policy import ThresholdSet
from hmi.inference.inspector import Inspector
from hmi.inference.package import ModelPackage
from hmi.inference.worker import ActiveSetup, InspectionWorker, JudgingSetup
from hmi.pipeline.holds import HoldQueue
from hmi.pipeline.metrics import StageMetrics
from hmi.pipeline.outlet import VerdictOutlet
from hmi.pipeline.queues import BoundedQueue, NewestSlot
from tests.support.queues import NoWaiting
from tests.support.tiny_model import plain_frame
from tests.support.waiting import wait_for

PARTS = 300



@pytest.mark.expected_errors("refused by the full records queue")
def test_the_inference_thread_keeps_judging_with_the_records_queue_and_the_hold_list_full(tiny_model):
    inspector = Inspector(ModelPackage.load(tiny_model), provider="cpu", threads=1)
    everything_held = ThresholdSet(version=1, score=0.3, hold_below=1.0)  # a flat frame scores 0: HOLD
    frames: BoundedQueue[Part] = BoundedQueue("frames", PARTS)
    for seq in range(1, PARTS + 1):
        assert frames.offer(Part(seq, utc_now(), time.monotonic(), CameraSettings("cam", 1.0, 0.0), "r",
                                 image=plain_frame(64)))
    alarms = AlarmBoard()
    records, reviews = NoWaiting("records", 5), NoWaiting("reviews", 2)  # nobody takes from them
    outlet = VerdictOutlet(StageMetrics("verdicts"), NewestSlot("screen"), records, alarms)
    holds = HoldQueue(reviews, timeout_s=60, default=Verdict.NG, capacity=2, alarms=alarms)
    outlet.subscribe(lambda part: holds.add(part) if part.verdict is Verdict.HOLD else None)
    worker = InspectionWorker(frames, ActiveSetup(JudgingSetup("r", everything_held, inspector)), outlet, alarms,
                              StageMetrics("inference"), deadline_s=3600.0)
    worker.start()
    try:
        wait_for(lambda: outlet.counts().total == PARTS or worker.error is not None, f"{PARTS} parts judged")
        assert worker.error is None, worker.error_text()  # a wait on a full queue fails the worker here
        counts = outlet.counts()
        # 5 parts fit the records queue: 2 wait for review, 3 got the recipe default at once (the reviews queue
        # took 2); every later part was judged all the same and rejected as NOT INSPECTED
        assert (counts.hold, counts.not_inspected) == (5, PARTS - 5)
        assert holds.overflowed == 3 and len(holds.pending()) == 2
        assert outlet.unrecorded == PARTS - 5 and outlet.backlog == PARTS - 5
        assert alarms.is_active(RECORDS_BACKLOG) and alarms.is_active(HOLD_FULL)
        # the store catches up: every refused part reaches the records queue, as a record only
        taken = []
        while outlet.backlog or len(records):
            while (item := records.take_nowait()) is not None:
                taken.append(item)
            outlet.drain(keep_room=False)
        assert sum(isinstance(t, RecordOnly) for t in taken) == PARTS - 5
    finally:
        worker.stop()
        assert worker.join(10)
    assert not alarms.is_active(RECORDS_BACKLOG)
