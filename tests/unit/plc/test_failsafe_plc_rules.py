"""The PLC thread's rules in isolation: repeated link errors logged once a minute, pending rows by the ring,
unanswered writes found in the ring."""

from __future__ import annotations

import logging

from hmi.core.verdict import Verdict
from hmi.plc import layout
from hmi.plc.layout import ResultSlot, SlotFlag
from hmi.plc.left_pending import outcome, ring_slots
from hmi.plc.repeats import RepeatedLog
from hmi.plc.unsure import UnsureResult, UnsureResults


def test_a_repeated_problem_is_logged_once_a_minute_with_how_often_it_recurred(caplog):
    said = RepeatedLog(logging.getLogger("test.plc"), every_s=60.0)
    caplog.set_level(logging.WARNING, logger="test.plc")
    logged = [said.log(logging.WARNING, "down", "PLC not connected: %s", "refused", now=t) for t in (0, 1, 2, 59.9)]
    assert logged == [True, False, False, False]
    assert said.log(logging.WARNING, "down", "PLC not connected: %s", "refused", now=61.0)
    assert said.log(logging.WARNING, "other", "another problem", now=61.5)  # another key is its own
    said.forget("down")
    assert said.log(logging.WARNING, "down", "PLC not connected: %s", "again", now=62.0)
    assert [r.getMessage() for r in caplog.records] == [
        "PLC not connected: refused", "PLC not connected: refused (and 3 times more in the last 61 s)",
        "another problem", "PLC not connected: again"]


def _ring(*slots: ResultSlot) -> list[ResultSlot | None]:
    ring: list[ResultSlot | None] = [None] * layout.SLOT_COUNT
    for slot in slots:
        ring[layout.slot_index(slot.seq)] = slot
    return ring


def test_a_part_left_pending_is_delivered_only_when_the_ring_holds_it_with_its_verdict():
    ring = _ring(ResultSlot(17, Verdict.NG, SlotFlag.REJECT), ResultSlot(18, Verdict.OK),
                 ResultSlot(19, Verdict.OK, SlotFlag.OPERATOR))
    assert outcome(17, "NG", ring)[0] == "delivered" and "ring slot 1 held it (NG)" in outcome(17, "NG", ring)[1]
    assert outcome(19, "HOLD", ring)[0] == "delivered"  # a hold-lane release: its result was taken before
    status, detail = outcome(18, "NG", ring)
    assert status == "not_delivered" and "with verdict OK, not NG" in detail
    status, detail = outcome(9, "OK", ring)  # its slot holds part 17
    assert status == "not_delivered" and "held parts 17, 18, 19, not this one" in detail
    assert outcome(20, "OK", _ring())[1].count("held no results") == 1


def test_the_ring_read_as_bytes_gives_the_slots_and_none_where_never_written():
    raw = bytearray(layout.SLOT_SIZE * layout.SLOT_COUNT)
    slot = ResultSlot(10, Verdict.HOLD, SlotFlag.HOLD_LANE, 2)
    raw[layout.SLOT_SIZE * 2:layout.SLOT_SIZE * 3] = slot.encode()
    assert ring_slots(bytes(raw)) == [None, None, slot, None, None, None, None, None]


def test_an_unanswered_write_is_found_only_as_it_was_sent_and_let_go_after_its_watch():
    watched = UnsureResults(watch_s=60.0, limit=2)
    sent = ResultSlot(12, Verdict.OK)
    watched.add(UnsureResult(sent, deadline=1.0, gave_up_at=0.5, error="timeout"))
    assert watched.in_slot(4) and not watched.in_slot(5)
    assert watched.found(4, ResultSlot(20, Verdict.OK).encode()) == []  # a newer part there: not it
    assert watched.found(4, ResultSlot(12, Verdict.NG, SlotFlag.REJECT).encode()) == []  # not what was sent
    ring = bytearray(layout.SLOT_SIZE * layout.SLOT_COUNT)
    ring[layout.SLOT_SIZE * 4:layout.SLOT_SIZE * 5] = sent.encode()
    assert [r.slot for r in watched.found_in_ring(bytes(ring))] == [sent] and len(watched) == 0
    watched.add(UnsureResult(ResultSlot(13, Verdict.OK), 1.0, 0.5, "timeout"))
    watched.add(UnsureResult(ResultSlot(14, Verdict.OK), 1.0, 30.0, "timeout"))
    assert [r.slot.seq for r in watched.add(UnsureResult(ResultSlot(15, Verdict.OK), 1.0, 31.0, "x"))] == [13]
    assert [r.slot.seq for r in watched.expired(90.0)] == [14] and len(watched) == 1
