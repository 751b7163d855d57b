"""Messages that follow a part after its verdict: PLC delivery reports, operator reviews, defects found downstream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from hmi.core.part import Part
from hmi.core.verdict import Verdict


class DeliveryStatus(str, Enum):
    """What became of a verdict on its way to the PLC."""

    DELIVERED = "delivered"          # slot and header written before the deadline
    LATE = "late"                    # written, but after the delivery deadline (PLC will have rejected)
    NOT_DELIVERED = "not_delivered"  # link down or write failed; the PLC rejects the part by itself
    PLC_OFF = "plc_off"              # station runs without a PLC (plc.mode = off)


@dataclass(frozen=True)
class PlcDelivery:
    """Report from the PLC thread to the store: when (or whether) a part's verdict reached the PLC."""

    seq: int
    status: DeliveryStatus
    delivered_at: datetime | None
    detail: str = ""


@dataclass(frozen=True)
class RecordOnly:
    """A part to record but never send to the PLC: its record could not be queued in time, so the PLC got nothing.

    `part` is NOT_INSPECTED (stripped of its image and anomaly map); `detail` is what the records say about the PLC.
    """

    part: Part
    detail: str


# The name the records give a HOLD part decided by the recipe's default after its review time ran out.
TIMEOUT_REVIEWER = "system"


@dataclass(frozen=True)
class OperatorReview:
    """An operator's final verdict on a part (usually a HOLD), flowing to the store and the PLC."""

    seq: int
    verdict: Verdict
    user: str
    reviewed_at: datetime
    defect_type: str | None = None
    note: str = ""
    automatic: bool = False  # True when the HOLD timed out and the recipe's default was applied


@dataclass(frozen=True)
class DownstreamDefect:
    """A defect found later, downstream of the station, on a part it judged: a missed defect, for the records."""

    seq: int
    defect_type: str
    user: str
    reported_at: datetime
    note: str = ""
