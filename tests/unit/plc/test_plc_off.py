"""plc.mode = off: every part is reported PLC_OFF and one standing LOW warning says the line rejects nothing."""

from __future__ import annotations

import time

from hmi.config.schema import PlcConfig
from hmi.core.alarm_catalogue import PLC_OFF
from hmi.core.alarms import AlarmBoard, Priority
from hmi.core.messages import DeliveryStatus, OperatorReview, PlcDelivery
from hmi.core.part import CameraSettings, Decision, Part, utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.plc.factory import create_signaller
from hmi.plc.signaller import NullSignaller


def test_mode_off_reports_every_part_as_plc_off_with_one_low_warning():
    parts: BoundedQueue[Part] = BoundedQueue("parts", 64)
    reviews: BoundedQueue[OperatorReview] = BoundedQueue("reviews", 8)
    out: BoundedQueue[PlcDelivery] = BoundedQueue("deliveries", 64)
    alarms = AlarmBoard()
    raised = []
    alarms.subscribe(raised.append)
    worker = create_signaller(PlcConfig(mode="off"), parts, reviews, out, alarms, ["scratch"])
    assert isinstance(worker, NullSignaller) and worker.role == "plc"
    worker.start()
    try:
        now = time.monotonic()
        for seq in range(1, 6):
            part = Part(seq, utc_now(), now, CameraSettings("t", 1.0, 0.0), "demo")
            parts.offer(part.decided(Decision(Verdict.NG, "t", 1, utc_now(), now)))
        reviews.offer(OperatorReview(1, Verdict.OK, "anna", utc_now()))
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 5 and time.monotonic() < deadline:
            d = out.take(0.05)
            if d is not None:
                got.append(d)
    finally:
        worker.stop()
        assert worker.join(10.0)
    assert [(d.seq, d.status, d.delivered_at) for d in got] == [(s, DeliveryStatus.PLC_OFF, None) for s in range(1, 6)]
    assert len(reviews) == 0
    assert [(a.code, a.priority, a.message) for a in raised] == [
        (PLC_OFF.code, Priority.LOW, "PLC signalling is switched off: parts are NOT being rejected by the line — set "
                                     "plc.mode to s7 in station.toml when the line should act on the verdicts")]
    status = worker.status()
    assert status.mode == "off" and not status.connected and status.not_delivered == 5
    assert worker.signal_fault(wait_s=0.1) is False
