"""The vision interface data block (DESIGN.md, PLC interface): pure encode/decode, no I/O.

Default layout of DB 100, 80 bytes, big-endian S7 types. Vision writes bytes 0-71, the PLC
writes bytes 72-79; neither side ever writes the other's range.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from hmi.core.messages import OperatorReview
from hmi.core.part import Part
from hmi.core.verdict import Verdict

DB_SIZE = 80

# Vision header (bytes 0-7).
VISION_HEARTBEAT = 0     # INT
STATION_STATE = 2        # BYTE
LINK_TEST_BYTE = 3       # padding; only the link test writes it (a scratch byte the PLC ignores)
NEWEST_SEQ = 4           # DINT
HEADER_SIZE = 8
BEAT_SIZE = 3            # heartbeat + state: written together in one request

# Result ring (bytes 8-71).
SLOT_BASE = 8
SLOT_SIZE = 8
SLOT_COUNT = 8

# PLC area (bytes 72-79).
PLC_AREA = 72
PLC_HEARTBEAT = 72       # INT
CONSUMED_SEQ = 74        # DINT
COMMANDS = 78            # BYTE, bit 0 inspection enabled
REQUESTED_RECIPE = 79    # BYTE
PLC_AREA_SIZE = 8

VISION_AREA_END = PLC_AREA  # vision owns [0, 72)

# Sequence numbers travel as a positive DINT; they wrap to 0 after 2**31 - 1. 2**31 is a
# multiple of SLOT_COUNT, so the slot index is the same before and after wrapping.
SEQ_MODULUS = 2**31
# Heartbeats are positive INTs that wrap from 32767 to 0.
HEARTBEAT_MODULUS = 2**15

_SLOT = struct.Struct(">iBBh")
_BEAT = struct.Struct(">hB")
_SEQ = struct.Struct(">i")
_HEADER = struct.Struct(">hBxi")
_PLC = struct.Struct(">hiBB")


class StationState(IntEnum):
    """Station state byte at offset 2, read by the PLC."""

    STOPPED = 0
    RUNNING = 1
    FAULT = 2


class SlotFlag(IntFlag):
    """Flag bits of a result slot."""

    NONE = 0
    REJECT = 1       # the part leaves the line as bad
    HOLD_LANE = 2    # the part goes to the hold lane to wait for review
    OPERATOR = 4     # verdict set by a person (hold-lane release), not by the model


def wire_seq(seq: int) -> int:
    """A part's sequence number as written to the PLC (positive DINT, wrapping)."""
    return seq % SEQ_MODULUS


def next_heartbeat(value: int) -> int:
    """The heartbeat value after `value`, wrapping from 32767 to 0."""
    return (value + 1) % HEARTBEAT_MODULUS


def slot_index(seq: int) -> int:
    """Ring slot k = seq mod 8 that carries the result of part `seq`."""
    return seq % SLOT_COUNT


def slot_offset(seq: int) -> int:
    """Byte offset in the DB of the slot for part `seq`."""
    return SLOT_BASE + SLOT_SIZE * slot_index(seq)


@dataclass(frozen=True)
class ResultSlot:
    """One 8-byte result slot: DINT seq, BYTE verdict, BYTE flags, INT defect code."""

    seq: int
    verdict: Verdict
    flags: SlotFlag = SlotFlag.NONE
    defect_code: int = 0

    @property
    def reject(self) -> bool:
        """True when the slot tells the PLC to reject the part."""
        return bool(self.flags & SlotFlag.REJECT)

    @property
    def offset(self) -> int:
        """Byte offset of this slot in the DB."""
        return slot_offset(self.seq)

    def encode(self) -> bytes:
        """The 8 bytes written to the PLC in one request."""
        return _SLOT.pack(wire_seq(self.seq), int(self.verdict), int(self.flags), self.defect_code)

    @classmethod
    def decode(cls, data: bytes | bytearray) -> "ResultSlot":
        """Read a slot back; raises ValueError on a verdict code outside 1..4."""
        seq, verdict, flags, code = _SLOT.unpack(bytes(data[:SLOT_SIZE]))
        return cls(seq, Verdict(verdict), SlotFlag(flags), code)


@dataclass(frozen=True)
class VisionHeader:
    """Bytes 0-7: vision heartbeat, station state, newest sequence number written."""

    heartbeat: int
    state: StationState
    newest_seq: int

    def encode(self) -> bytes:
        """The 8 header bytes."""
        return _HEADER.pack(self.heartbeat, int(self.state), wire_seq(self.newest_seq))

    @classmethod
    def decode(cls, data: bytes | bytearray) -> "VisionHeader":
        """Read the header back (from the first 8 bytes of `data`)."""
        beat, state, seq = _HEADER.unpack(bytes(data[:HEADER_SIZE]))
        return cls(beat, StationState(state), seq)


def encode_beat(heartbeat: int, state: StationState) -> bytes:
    """Bytes 0-2 (heartbeat INT, state BYTE), written together every heartbeat; byte 3 is left alone."""
    return _BEAT.pack(heartbeat, int(state))


def encode_newest_seq(seq: int) -> bytes:
    """Bytes 4-7: the header's newest-seq DINT, written after the slot."""
    return _SEQ.pack(wire_seq(seq))


@dataclass(frozen=True)
class PlcArea:
    """Bytes 72-79, written by the PLC: its heartbeat, what it consumed, its commands."""

    heartbeat: int
    consumed_seq: int
    inspection_enabled: bool
    requested_recipe: int
    commands: int = 0

    def encode(self) -> bytes:
        """The 8 bytes as the PLC (or the simulated PLC) writes them."""
        commands = (self.commands & ~1) | (1 if self.inspection_enabled else 0)
        return _PLC.pack(self.heartbeat, self.consumed_seq, commands, self.requested_recipe)

    @classmethod
    def decode(cls, data: bytes | bytearray) -> "PlcArea":
        """Read the PLC's 8 bytes."""
        beat, consumed, commands, recipe = _PLC.unpack(bytes(data[:PLC_AREA_SIZE]))
        return cls(beat, consumed, bool(commands & 1), recipe, commands)


def defect_codes(defect_types: Sequence[str]) -> dict[str, int]:
    """Defect label -> code written to the PLC: the label's position in the recipe's list, from 1."""
    return {name: i + 1 for i, name in enumerate(defect_types)}


def slot_flags(verdict: Verdict, hold_lane: bool, operator: bool = False) -> SlotFlag:
    """Reject / hold-lane bits for a verdict.

    NG and NOT_INSPECTED are always rejected. HOLD is rejected too unless the line has a hold
    lane, in which case the part is routed there (and not rejected) to wait for review.
    """
    flags = SlotFlag.OPERATOR if operator else SlotFlag.NONE
    if verdict.is_reject:
        return flags | SlotFlag.REJECT
    if verdict is Verdict.HOLD:
        return flags | (SlotFlag.HOLD_LANE if hold_lane else SlotFlag.REJECT)
    return flags


def part_defect_code(part: Part, codes: Mapping[str, int]) -> int:
    """The part's defect code: by the setup it was judged with (`Part.defect_code`), else by `codes`.

    `codes` is only for a part that carries no setup (tools, tests); 0 when OK or no known type.
    """
    if part.setup is not None:
        return part.defect_code
    if part.verdict in (None, Verdict.OK) or part.inspection is None:
        return 0
    known = [r for r in part.inspection.regions if r.label in codes]
    if not known:
        return 0
    return codes[max(known, key=lambda r: r.peak_score).label]


def slot_for_part(part: Part, hold_lane: bool, codes: Mapping[str, int], force_reject: bool = False) -> ResultSlot:
    """The result slot for a decided part; `force_reject` sets the reject bit whatever the verdict.

    A part that somehow arrives without a verdict is written as NOT_INSPECTED (a reject), never skipped.
    """
    verdict = part.verdict if part.verdict is not None else Verdict.NOT_INSPECTED
    flags = slot_flags(verdict, hold_lane)
    if force_reject:
        flags = (flags & ~SlotFlag.HOLD_LANE) | SlotFlag.REJECT
    return ResultSlot(part.seq, verdict, flags, part_defect_code(part, codes))


def slot_for_review(review: OperatorReview, codes: Mapping[str, int]) -> ResultSlot:
    """The slot that releases a part from the hold lane with the operator's final verdict."""
    verdict = review.verdict
    code = codes.get(review.defect_type or "", 0) if verdict is not Verdict.OK else 0
    # A HOLD given again by review cannot stay in the lane forever: it leaves as a reject.
    flags = SlotFlag.OPERATOR | (SlotFlag.NONE if verdict is Verdict.OK else SlotFlag.REJECT)
    return ResultSlot(review.seq, verdict, flags, code)
