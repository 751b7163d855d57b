"""Bounded hand-over points and the HOLD queue's time limit."""

from __future__ import annotations

import time

from hmi.core.part import CameraSettings, Part, utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.holds import HoldQueue
from hmi.pipeline.queues import BoundedQueue, NewestSlot
from tests.support.queues import NoWaiting
from tests.support.waiting import wait_for


def _part(seq: int) -> Part:
    return Part(seq, utc_now(), time.monotonic(), CameraSettings("cam", 1.0, 0.0), "r")


def test_full_queue_refuses_and_counts_without_waiting():
    q: BoundedQueue[int] = BoundedQueue("q", 2)
    assert q.offer(1) and q.offer(2)
    assert not q.offer(3) and q.refused == 1  # refused at once: offer has no timeout to wait in
    assert [q.take(0), q.take(0), q.take(0.01)] == [1, 2, None]


def test_newest_slot_keeps_only_the_newest_and_counts_overwrites():
    s: NewestSlot[int] = NewestSlot("s")
    for i in range(5):
        s.put(i)
    version, item = s.peek()
    assert (version, item) == (5, 4) and s.overwritten == 4
    assert s.take() == 4 and s.take() is None


def test_review_decides_and_timeout_applies_recipe_default():
    reviews: BoundedQueue = BoundedQueue("reviews", 10)
    plc_side = []
    holds = HoldQueue(reviews, timeout_s=0.2, default=Verdict.NG)
    holds.subscribe(plc_side.append)
    holds.add(_part(1))
    holds.add(_part(2))
    r = holds.decide(1, Verdict.OK, "olga", note="fine")
    assert r.verdict is Verdict.OK and not r.automatic
    expired = []
    wait_for(lambda: expired.extend(holds.expire()) or expired, "part 2's review time to run out", 10)
    assert [e.seq for e in expired] == [2] and expired[0].automatic and expired[0].verdict is Verdict.NG
    assert "not reviewed within" in expired[0].note
    assert holds.pending() == []
    assert [x.seq for x in plc_side] == [1, 2] and len(reviews) == 2


def test_a_full_hold_list_gives_the_extra_part_the_recipe_default_at_once():
    from hmi.core.alarm_catalogue import HOLD_FULL
    from hmi.core.alarms import AlarmBoard

    reviews: BoundedQueue = BoundedQueue("reviews", 10)
    alarms = AlarmBoard()
    plc_side = []
    holds = HoldQueue(reviews, timeout_s=60, default=Verdict.NG, capacity=2, alarms=alarms)
    holds.subscribe(plc_side.append)
    for seq in (1, 2, 3, 4):
        holds.add(_part(seq))
    assert [p.part.seq for p in holds.pending()] == [1, 2]  # those waiting for an operator stay
    decided = [reviews.take(0), reviews.take(0)]
    assert [(r.seq, r.verdict, r.automatic) for r in decided] == [(3, Verdict.NG, True), (4, Verdict.NG, True)]
    assert "HOLD list full (2 parts waiting for review): recipe default NG applied at once" in decided[0].note
    assert [r.seq for r in plc_side] == [3, 4] and holds.overflowed == 2
    (alarm,) = alarms.snapshot()
    assert alarm.code == HOLD_FULL.code and alarm.active
    assert "2 more held parts got the recipe default NG at once" in alarm.message
    assert "review the waiting parts" in alarm.message
    holds.decide(1, Verdict.OK, "olga")
    holds.expire()  # the holds thread notices the list has room again
    assert not alarms.is_active(HOLD_FULL)


def test_a_default_the_full_reviews_queue_refuses_is_sent_later_by_the_holds_thread():
    from hmi.core.alarm_catalogue import HOLD_FULL
    from hmi.core.alarms import AlarmBoard

    reviews = NoWaiting("reviews", 2)
    reviews.offer("something already waiting")
    reviews.offer("and another")
    alarms = AlarmBoard()
    holds = HoldQueue(reviews, timeout_s=60, default=Verdict.NG, capacity=2, alarms=alarms)
    for seq in range(1, 6):
        holds.add(_part(seq))  # on the judging thread: must not wait for the reviews queue
    assert holds.overflowed == 3 and len(reviews) == 2 and [p.part.seq for p in holds.pending()] == [1, 2]
    # at most `capacity` refused defaults are kept; the oldest beyond that is dropped, and the alarm says so
    assert "1 of these verdicts could not be handed to the records" in alarms.snapshot()[0].message
    assert [reviews.take_nowait(), reviews.take_nowait()] == ["something already waiting", "and another"]
    reviews.waiting_allowed = True  # the holds thread may wait
    assert [r.seq for r in holds.expire()] == [4, 5]
    assert [reviews.take_nowait().seq, reviews.take_nowait().seq] == [4, 5]
    assert alarms.is_active(HOLD_FULL)  # the list itself is still full


def test_a_review_the_records_cannot_take_is_refused_and_the_part_stays_held():
    import pytest

    from hmi.core.errors import StoreError

    reviews: BoundedQueue = BoundedQueue("reviews", 1)
    reviews.offer("something already waiting")
    holds = HoldQueue(reviews, timeout_s=60, default=Verdict.NG)
    holds.add(_part(7))
    with pytest.raises(StoreError, match="still waiting for review"):
        holds.decide(7, Verdict.OK, "olga")
    assert [p.part.seq for p in holds.pending()] == [7]


def test_restored_parts_keep_the_time_they_have_left_or_get_the_default_with_the_reason():
    reviews: BoundedQueue = BoundedQueue("reviews", 10)
    holds = HoldQueue(reviews, timeout_s=100.0, default=Verdict.NG, capacity=2)
    back = holds.restore(_part(1), waited_s=40.0)
    assert back.part.seq == 1 and 55 < back.due_mono - time.monotonic() <= 60 and back.timeout_s == 100.0
    late = holds.restore(_part(2), waited_s=100.0)
    assert (late.seq, late.verdict, late.automatic) == (2, Verdict.NG, True)
    assert "ran out while the station was stopped" in late.note
    holds.restore(_part(3), waited_s=0.0)
    full = holds.restore(_part(4), waited_s=0.0)
    assert "HOLD list was full" in full.note
    assert [h.part.seq for h in holds.pending()] == [1, 3] and [reviews.take(0).seq for _ in range(2)] == [2, 4]
