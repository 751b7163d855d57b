"""The judging stages' exit never waits: a part the records queue refuses is a NOT_INSPECTED reject, recorded later."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hmi.core.alarm_catalogue import HOLD_FULL, RECORDS_BACKLOG
from hmi.core.alarms import AlarmBoard
from hmi.core.messages import RecordOnly
from hmi.core.part import CameraSettings, Decision, Inspection, Part, utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.holds import HoldQueue
from hmi.pipeline.metrics import StageMetrics
from hmi.pipeline.outlet import VerdictOutlet
from hmi.pipeline.queues import NewestSlot
from tests.support.queues import NoWaiting


def _part(seq: int, verdict: Verdict = Verdict.OK) -> Part:
    mono = time.monotonic()
    part = Part(seq, utc_now(), mono, CameraSettings("cam", 1.0, 0.0), "r", image=np.zeros((8, 8), np.uint8))
    part = part.inspected(Inspection(0.2, (), "cpu", "m", "ab" * 32, 1.0, np.zeros((2, 2), np.float32)))
    return part.decided(Decision(verdict, "score 0.200", 1, utc_now(), mono, 0.1))


def _outlet(records, alarms: AlarmBoard, **kw) -> VerdictOutlet:
    return VerdictOutlet(StageMetrics("verdicts"), NewestSlot("screen"), records, alarms, **kw)


@pytest.mark.expected_errors("refused by the full records queue")
def test_a_full_records_queue_makes_a_counted_not_inspected_reject_without_waiting():
    records, alarms = NoWaiting("records", 2), AlarmBoard()
    outlet = _outlet(records, alarms)
    shown = []
    outlet.subscribe(shown.append)
    for seq in range(1, 8):
        outlet.publish(_part(seq))
    assert [p.seq for p in (records.take_nowait(), records.take_nowait())] == [1, 2]
    assert [p.verdict for p in shown] == [Verdict.OK] * 2 + [Verdict.NOT_INSPECTED] * 5
    late = shown[2]
    assert late.decision.reason.startswith("records queue full: no result sent to the PLC, which rejects the part")
    assert "judged OK: score 0.200" in late.decision.reason and late.decision.confidence is None
    assert late.image is not None  # the screens still show the part
    assert outlet.counts().not_inspected == 5 and outlet.counts().ok == 2
    assert outlet.unrecorded == 5 and outlet.backlog == 5 and outlet.lost == 0
    (alarm,) = alarms.snapshot()
    assert alarm.code == RECORDS_BACKLOG.code and alarm.active
    assert alarm.message.startswith("5 parts could not be queued for the records (the store is behind)")
    assert "check the disk" in alarm.message


@pytest.mark.expected_errors("refused by the full records queue")
def test_refused_records_reach_the_records_queue_later_stripped_and_marked_record_only():
    records, alarms = NoWaiting("records", 4), AlarmBoard()
    outlet = _outlet(records, alarms)
    records.fill()
    for seq in (1, 2, 3):
        outlet.publish(_part(seq, Verdict.NG))
    assert outlet.drain() == 3  # still full: nothing moves, nothing waits
    for _ in range(4):
        records.take_nowait()
    assert outlet.drain() == 1  # keeps half the queue free for fresh parts
    assert len(records) == 2
    outlet.publish(_part(4))  # a fresh part finds room and is queued whole
    assert outlet.drain(keep_room=False) == 0
    queued = [records.take_nowait() for _ in range(4)]
    assert [type(q).__name__ for q in queued] == ["RecordOnly", "RecordOnly", "Part", "RecordOnly"]
    first = queued[0]
    assert isinstance(first, RecordOnly) and first.part.seq == 1
    assert first.part.verdict is Verdict.NOT_INSPECTED and "judged NG" in first.part.decision.reason
    assert first.part.image is None and first.part.inspection.anomaly_map is None
    assert first.part.inspection.score == 0.2  # what the model said stays in the record
    assert "PLC rejects a part it has no result for" in first.detail
    assert not alarms.is_active(RECORDS_BACKLOG)  # cleared once every refused part is on its way to the records


@pytest.mark.expected_errors("refused by the full records queue")
def test_an_overflow_at_its_limit_counts_parts_missing_from_the_records():
    records, alarms = NoWaiting("records", 1), AlarmBoard()
    outlet = _outlet(records, alarms, overflow=2)
    records.fill()
    for seq in range(1, 6):
        outlet.publish(_part(seq))
    assert outlet.unrecorded == 5 and outlet.backlog == 2 and outlet.lost == 3
    assert "3 of them are missing from the records" in alarms.snapshot()[0].message


@pytest.mark.expected_errors("refused by the full records queue")
def test_at_shutdown_the_overflow_is_flushed_into_the_records_queue():
    records, alarms = NoWaiting("records", 10), AlarmBoard()
    outlet = _outlet(records, alarms)
    records.fill()
    outlet.publish(_part(1))
    for _ in range(10):
        records.take_nowait()
    assert outlet.flush(timeout_s=5.0) == 0 and outlet.backlog == 0
    assert isinstance(records.take_nowait(), RecordOnly)


@pytest.mark.expected_errors("refused by the full records queue")
def test_with_the_hold_list_and_then_the_records_queue_full_every_part_is_still_judged_and_handed_on():
    records, reviews, alarms = NoWaiting("records", 105), NoWaiting("reviews", 2), AlarmBoard()
    outlet = _outlet(records, alarms)
    holds = HoldQueue(reviews, timeout_s=60, default=Verdict.NG, capacity=2, alarms=alarms)
    outlet.subscribe(lambda part: holds.add(part) if part.verdict is Verdict.HOLD else None)
    for seq in range(1, 6):  # 2 fill the HOLD list; of the 3 given the default at once, 2 fill the reviews queue
        outlet.publish(_part(seq, Verdict.HOLD))
    assert len(holds.pending()) == 2 and len(reviews) == 2 and holds.overflowed == 3
    for seq in range(6, 106):  # HOLD list and reviews queue full: none of this may wait
        outlet.publish(_part(seq, Verdict.HOLD))
    assert holds.overflowed == 103 and len(records) == 105 and outlet.counts().hold == 105
    for seq in range(106, 306):  # now the records queue is full too
        outlet.publish(_part(seq, Verdict.HOLD))
    counts = outlet.counts()
    assert counts.total == 305 and counts.not_inspected == 200
    assert outlet.unrecorded == 200 and outlet.backlog == 200
    assert alarms.is_active(RECORDS_BACKLOG) and alarms.is_active(HOLD_FULL)
