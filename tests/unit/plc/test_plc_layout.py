"""The interface DB layout: offsets, encodings and reject semantics, without a PLC."""

from __future__ import annotations

import struct
import time

import pytest

from hmi.core.messages import OperatorReview
from hmi.core.part import CameraSettings, Decision, DefectRegion, Inspection, Part, utc_now
from hmi.core.verdict import Verdict
from hmi.plc import layout
from hmi.plc.layout import PlcArea, ResultSlot, SlotFlag, StationState, VisionHeader


def _part(seq: int, verdict: Verdict | None, regions: tuple[DefectRegion, ...] = ()) -> Part:
    now = time.monotonic()
    part = Part(seq, utc_now(), now, CameraSettings("test", 1000.0, 0.0), "demo")
    if regions:
        part = part.inspected(Inspection(0.9, regions, "cpu", "m", "0" * 64, 1.0))
    if verdict is not None:
        part = part.decided(Decision(verdict, "test", 1, utc_now(), now))
    return part


def _region(label: str, peak: float) -> DefectRegion:
    return DefectRegion(0, 0, 4, 4, 16, peak, label=label)


def test_offsets_fill_the_vision_area_and_leave_the_plc_area_alone():
    assert layout.HEADER_SIZE == layout.SLOT_BASE
    assert layout.SLOT_BASE + layout.SLOT_SIZE * layout.SLOT_COUNT == layout.PLC_AREA == 72
    assert layout.PLC_AREA + layout.PLC_AREA_SIZE == layout.DB_SIZE == 80
    assert [layout.slot_offset(s) for s in range(8, 16)] == list(range(8, 72, 8))


@pytest.mark.parametrize("slot", [
    ResultSlot(1, Verdict.OK),
    ResultSlot(2, Verdict.NG, SlotFlag.REJECT, 3),
    ResultSlot(3, Verdict.HOLD, SlotFlag.HOLD_LANE, 0),
    ResultSlot(2**31 - 1, Verdict.NOT_INSPECTED, SlotFlag.REJECT, 32767),
    ResultSlot(12, Verdict.OK, SlotFlag.OPERATOR, 0),
])
def test_result_slot_round_trips_in_s7_big_endian(slot):
    data = slot.encode()
    assert len(data) == layout.SLOT_SIZE
    assert ResultSlot.decode(data) == slot
    # DINT seq, BYTE verdict, BYTE flags, INT defect code, most significant byte first.
    assert struct.unpack(">iBBh", data) == (slot.seq, int(slot.verdict), int(slot.flags), slot.defect_code)


def test_header_and_plc_area_round_trip():
    header = VisionHeader(32767, StationState.FAULT, 123456)
    raw = header.encode()
    assert raw[3] == 0 and VisionHeader.decode(raw) == header
    assert layout.encode_beat(5, StationState.RUNNING) == b"\x00\x05\x01"
    assert layout.encode_newest_seq(70000) == (70000).to_bytes(4, "big")
    area = PlcArea(-2, 99, True, 7, commands=0b101)
    assert PlcArea.decode(area.encode()) == area
    assert PlcArea.decode(bytes([0, 1, 0, 0, 0, 5, 0b10, 9])) == PlcArea(1, 5, False, 9, 0b10)


def test_sequence_numbers_and_heartbeats_wrap_into_positive_s7_ranges():
    big = 2**31 + 13
    assert layout.wire_seq(big) == 13
    assert layout.slot_index(big) == layout.slot_index(layout.wire_seq(big)) == 5
    assert ResultSlot.decode(ResultSlot(big, Verdict.OK).encode()).seq == 13
    assert layout.next_heartbeat(32767) == 0
    assert layout.next_heartbeat(41) == 42


def test_decode_refuses_a_verdict_code_outside_1_to_4():
    with pytest.raises(ValueError):
        ResultSlot.decode(bytes(8))


@pytest.mark.parametrize("verdict, hold_lane, expected", [
    (Verdict.OK, False, SlotFlag.NONE),
    (Verdict.OK, True, SlotFlag.NONE),
    (Verdict.NG, False, SlotFlag.REJECT),
    (Verdict.NG, True, SlotFlag.REJECT),
    (Verdict.NOT_INSPECTED, True, SlotFlag.REJECT),
    (Verdict.HOLD, False, SlotFlag.REJECT),
    (Verdict.HOLD, True, SlotFlag.HOLD_LANE),
])
def test_reject_flag_follows_verdict_and_hold_lane(verdict, hold_lane, expected):
    assert layout.slot_flags(verdict, hold_lane) == expected
    assert layout.slot_flags(verdict, hold_lane, operator=True) == expected | SlotFlag.OPERATOR


def test_defect_code_is_the_recipe_position_of_the_most_anomalous_known_region():
    codes = layout.defect_codes(["scratch", "dent", "crack"])
    assert codes == {"scratch": 1, "dent": 2, "crack": 3}
    part = _part(9, Verdict.NG, (_region("scratch", 0.6), _region("crack", 0.9), _region("anomaly", 0.99)))
    slot = layout.slot_for_part(part, False, codes)
    assert slot == ResultSlot(9, Verdict.NG, SlotFlag.REJECT, 3)
    assert layout.part_defect_code(_part(1, Verdict.NG, (_region("anomaly", 0.9),)), codes) == 0
    assert layout.part_defect_code(_part(2, Verdict.OK, (_region("dent", 0.9),)), codes) == 0


def test_late_part_is_written_with_the_reject_bit_and_leaves_the_hold_lane():
    codes = layout.defect_codes([])
    ok = layout.slot_for_part(_part(4, Verdict.OK), True, codes, force_reject=True)
    hold = layout.slot_for_part(_part(5, Verdict.HOLD), True, codes, force_reject=True)
    assert ok.flags == SlotFlag.REJECT and ok.verdict is Verdict.OK
    assert hold.flags == SlotFlag.REJECT


def test_undecided_part_is_written_as_not_inspected_reject():
    slot = layout.slot_for_part(_part(6, None), False, {})
    assert slot == ResultSlot(6, Verdict.NOT_INSPECTED, SlotFlag.REJECT, 0)


def test_operator_release_carries_the_final_verdict_and_operator_bit():
    codes = layout.defect_codes(["scratch", "dent"])
    passed = layout.slot_for_review(OperatorReview(17, Verdict.OK, "anna", utc_now(), defect_type="dent"), codes)
    failed = layout.slot_for_review(OperatorReview(18, Verdict.NG, "anna", utc_now(), defect_type="dent"), codes)
    assert passed == ResultSlot(17, Verdict.OK, SlotFlag.OPERATOR, 0)
    assert failed == ResultSlot(18, Verdict.NG, SlotFlag.OPERATOR | SlotFlag.REJECT, 2)
    assert failed.reject and not passed.reject
