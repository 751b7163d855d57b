"""Line-level alarms: one aggregated reject-rate alarm, lighting drift against the recipe's reference."""

from __future__ import annotations

import time

import numpy as np

from hmi.core.alarm_catalogue import LIGHTING_DRIFT, REJECT_RATE
from hmi.core.alarms import AlarmBoard
from hmi.core.part import CameraSettings, Decision, Part, utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.monitors import LightingDriftMonitor, RejectRateMonitor


def _part(seq: int, verdict: Verdict, brightness: int = 100) -> Part:
    p = Part(seq, utc_now(), time.monotonic(), CameraSettings("cam", 1.0, 0.0), "r",
             image=np.full((64, 64), brightness, np.uint8))
    return p.decided(Decision(verdict, "", 1, utc_now(), time.monotonic()))


def test_reject_rate_raises_one_alarm_and_clears_with_hysteresis():
    board = AlarmBoard()
    raised = []
    board.subscribe(lambda a: raised.append(a) if a.active else None)
    mon = RejectRateMonitor(board, limit=0.2, window=50)
    for i in range(50):
        mon(_part(i, Verdict.NG if i % 3 == 0 else Verdict.OK))   # 34 % rejects
    assert board.is_active(REJECT_RATE)
    assert len({a.code for a in raised}) == 1 and len(raised) <= 2  # not one alarm per part
    for i in range(50, 85):
        mon(_part(i, Verdict.OK))
    assert board.is_active(REJECT_RATE) is False


def test_reject_rate_waits_for_a_full_window():
    board = AlarmBoard()
    mon = RejectRateMonitor(board, limit=0.2, window=100)
    for i in range(10):
        mon(_part(i, Verdict.NG))
    assert not board.is_active(REJECT_RATE)


def test_lighting_drift_alarm_and_recovery():
    board = AlarmBoard()
    mon = LightingDriftMonitor(board, reference_mean=100.0, limit_pct=15.0, every=1)
    for i in range(5):
        mon(_part(i, Verdict.OK, brightness=70))
    assert board.is_active(LIGHTING_DRIFT)
    assert "-30 %" in board.snapshot()[0].message
    for i in range(5, 12):
        mon(_part(i, Verdict.OK, brightness=101))
    assert not board.is_active(LIGHTING_DRIFT)
