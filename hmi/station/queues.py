"""Every queue of the station, created here and only here, sized from the config's [pipeline] section."""

from __future__ import annotations

from dataclasses import dataclass

from hmi.config.schema import PipelineConfig
from hmi.core.messages import DownstreamDefect, OperatorReview, PlcDelivery
from hmi.core.part import Part
from hmi.pipeline.queues import BoundedQueue, NewestSlot
from hmi.store.audit import AuditRequest
from hmi.store.images import ImagePaths
from hmi.store.requests import StoreRequest
from hmi.store.writer import AlarmEvent


@dataclass(frozen=True)
class JudgingQueues:
    """Camera -> inference -> screens and records, and the operators' verdicts on HOLD parts."""

    frames: BoundedQueue[Part] | NewestSlot[Part]     # production: every frame waits; setup: the newest wins
    newest: NewestSlot[Part]                          # what the screens pull
    records_in: BoundedQueue[Part] | None             # decided parts for the store (None: nothing is recorded)
    reviews: BoundedQueue[OperatorReview]             # operators' verdicts for the store


@dataclass(frozen=True)
class RecordsQueues:
    """Around the store, image and PLC threads."""

    committed: BoundedQueue[Part]                     # store -> PLC, once a part's row is committed
    deliveries: BoundedQueue[PlcDelivery]             # PLC -> store: when each result was written
    plc_reviews: BoundedQueue[OperatorReview]         # the operators' verdicts again, for the PLC's hold lane
    audits: BoundedQueue[AuditRequest]
    image_jobs: BoundedQueue[Part]                    # store -> image writer
    image_paths: BoundedQueue[ImagePaths]             # image writer -> store
    alarm_events: BoundedQueue[AlarmEvent]
    downstream_defects: BoundedQueue[DownstreamDefect]
    store_requests: BoundedQueue[StoreRequest]        # part numbers, users, thresholds -> the store, each answered


def judging_queues(p: PipelineConfig, *, production: bool, records: bool) -> JudgingQueues:
    """The judging core's queues; `records_in` only for a production station that keeps records."""
    return JudgingQueues(
        frames=BoundedQueue("frames", p.frame_queue) if production else NewestSlot("frames"),
        newest=NewestSlot("screen"),
        records_in=BoundedQueue("records", p.result_queue) if (production and records) else None,
        reviews=BoundedQueue("reviews", p.review_queue))


def records_queues(p: PipelineConfig) -> RecordsQueues:
    """The queues of the records and PLC stage."""
    return RecordsQueues(
        committed=BoundedQueue("plc parts", p.result_queue),
        deliveries=BoundedQueue("plc deliveries", p.delivery_queue),
        plc_reviews=BoundedQueue("plc reviews", p.review_queue),
        audits=BoundedQueue("audit", p.audit_queue),
        image_jobs=BoundedQueue("image jobs", p.image_queue),
        image_paths=BoundedQueue("image paths", p.image_path_queue),
        alarm_events=BoundedQueue("alarm events", p.alarm_event_queue),
        downstream_defects=BoundedQueue("downstream defects", p.downstream_defect_queue),
        store_requests=BoundedQueue("store requests", p.store_request_queue))


def output_queue(p: PipelineConfig, name: str) -> BoundedQueue[Part]:
    """The decided parts waiting for one added output (plant database, OPC UA, MQTT)."""
    return BoundedQueue(f"{name} parts", p.result_queue)


def output_reviews_queue(p: PipelineConfig, name: str) -> BoundedQueue[OperatorReview]:
    """The final verdicts of HOLD parts (operators' and timed-out defaults) waiting for one added output."""
    return BoundedQueue(f"{name} reviews", p.review_queue)
