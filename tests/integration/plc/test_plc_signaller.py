"""The PLC thread against python-snap7's own S7 server on loopback (the simulated PLC)."""

from __future__ import annotations

import struct
import time

import pytest

from hmi.core.alarm_catalogue import PLC_LINK, PLC_SILENT
from hmi.core.messages import DeliveryStatus
from hmi.core.verdict import Verdict
from hmi.plc import layout
from hmi.plc.layout import ResultSlot, SlotFlag, StationState


VERDICTS = (Verdict.OK, Verdict.NG, Verdict.HOLD, Verdict.NOT_INSPECTED)


def test_every_part_writes_its_slot_before_the_header(plc, plc_cfg, make_line):
    line = make_line(plc_cfg)
    n = 200
    for seq in range(1, n + 1):
        line.send(seq, VERDICTS[seq % 4])
    reports = line.collect(n)
    assert [r.seq for r in reports] == list(range(1, n + 1))
    assert all(r.status is DeliveryStatus.DELIVERED and r.delivered_at is not None for r in reports)

    writes = plc.writes()
    slot_at = {}
    header_at = {}
    for i, w in enumerate(writes):
        assert w.start + w.size <= layout.PLC_AREA, f"vision wrote into the PLC's bytes: {w}"
        if w.start >= layout.SLOT_BASE:
            assert w.size == layout.SLOT_SIZE and (w.start - layout.SLOT_BASE) % layout.SLOT_SIZE == 0
            slot_at.setdefault(ResultSlot.decode(w.data).seq, i)
        elif w.start == layout.NEWEST_SEQ:
            assert w.size == 4
            header_at.setdefault(struct.unpack(">i", w.data)[0], i)
        else:
            assert (w.start, w.size) == (layout.VISION_HEARTBEAT, layout.BEAT_SIZE)
    for seq in range(1, n + 1):
        assert slot_at[seq] < header_at[seq], f"part {seq}: header written before its slot"
        assert writes[slot_at[seq]].start == layout.slot_offset(seq)


def test_ring_of_eight_slots_agrees_with_the_parts_sent(plc, plc_cfg, make_line, wait_until):
    line = make_line(plc_cfg)
    sent = []
    for seq in range(1, 21):
        verdict = VERDICTS[seq % 4]
        labels = ("dent",) if verdict is Verdict.NG else ()
        line.send(seq, verdict, labels=labels)
        flags = SlotFlag.NONE if verdict is Verdict.OK else SlotFlag.REJECT
        sent.append(ResultSlot(seq, verdict, flags, 2 if labels else 0))
    line.collect(20)

    assert [plc.read_slot(layout.slot_index(s.seq)) for s in sent[-8:]] == sent[-8:]
    assert plc.read_header().newest_seq == 20
    assert plc.results() == sent, "the PLC program must have taken every result, in order"
    wait_until(lambda: plc.read_plc_area().consumed_seq == 20)
    status = line.signaller.status()
    assert (status.delivered, status.late, status.not_delivered) == (20, 0, 0)
    assert status.newest_seq_written == 20
    assert status.round_trip_ms is not None and status.round_trip_ms > 0


def test_part_past_its_deadline_is_reported_late_and_written_as_a_reject(plc, plc_cfg, make_line):
    line = make_line(plc_cfg)
    line.send(1, Verdict.OK, age_s=plc_cfg.delivery_deadline_ms / 1000 + 0.2)
    line.send(2, Verdict.OK)
    late, on_time = line.collect(2)
    assert late.status is DeliveryStatus.LATE and "deadline" in late.detail
    assert on_time.status is DeliveryStatus.DELIVERED
    assert plc.read_slot(1) == ResultSlot(1, Verdict.OK, SlotFlag.REJECT, 0)
    assert plc.read_slot(2) == ResultSlot(2, Verdict.OK, SlotFlag.NONE, 0)
    assert line.signaller.status().late == 1


@pytest.mark.expected_errors("^PLC link lost: ")
def test_stopped_plc_raises_link_alarm_and_deliveries_resume_after_restart(plc, plc_cfg, make_line, wait_until):
    line = make_line(plc_cfg)
    line.send(1, Verdict.OK)
    line.collect(1)
    plc.stop()
    wait_until(lambda: line.alarms.is_active(PLC_LINK))
    alarm = next(a for a in line.alarms.snapshot() if a.code == PLC_LINK.code)
    assert alarm.message == (f"PLC {plc_cfg.host}:{plc_cfg.port} not answering: parts are being rejected — check "
                             "the cable and the PLC's power; the station reconnects by itself")
    for seq in range(2, 7):
        line.send(seq, Verdict.OK)
    reports = line.collect(6)[1:]
    assert [r.status for r in reports] == [DeliveryStatus.NOT_DELIVERED] * 5
    assert all(r.delivered_at is None and "link down" in r.detail for r in reports)
    status = line.signaller.status()
    assert not status.connected and status.not_delivered == 5 and status.last_error

    plc.start()  # same port, DB kept, as a PLC coming back from power loss
    wait_until(lambda: line.signaller.status().connected and not line.alarms.is_active(PLC_LINK))
    for seq in range(7, 10):
        line.send(seq, Verdict.NG)
    reports = line.collect(9)[6:]
    assert [r.status for r in reports] == [DeliveryStatus.DELIVERED] * 3
    assert [r.seq for r in plc.results()][-3:] == [7, 8, 9]


@pytest.mark.expected_errors("^PLC link lost: ")
def test_pulled_cable_is_noticed_and_the_queue_keeps_draining(plc, relay, make_line, fast_config, wait_until):
    cfg = fast_config("127.0.0.1", relay.port)
    line = make_line(cfg)
    line.send(1, Verdict.OK)
    line.collect(1)
    relay.cut()
    t0 = time.monotonic()
    wait_until(lambda: line.alarms.is_active(PLC_LINK))
    # Reconnect attempts meet a peer that accepts and never answers: each must give up quickly
    # so parts keep being reported while the link is down.
    for seq in range(2, 12):
        line.send(seq, Verdict.OK)
        time.sleep(0.05)  # kept: the line's pace (a part every 50 ms), not a wait for the PLC thread
    reports = line.collect(11)[1:]
    assert [r.status for r in reports] == [DeliveryStatus.NOT_DELIVERED] * 10
    elapsed = time.monotonic() - t0
    # Attempts back off (0.2 s, then doubling to reconnect_max_s), they do not hammer the PLC
    # (the allowance grows with the time taken, so a slow machine cannot fail this).
    assert 1 <= relay.unanswered <= elapsed / 0.2 + 1

    relay.cut(False)
    wait_until(lambda: line.signaller.status().connected)
    line.send(12, Verdict.OK)
    assert line.collect(12)[-1].status is DeliveryStatus.DELIVERED
    assert plc.read_slot(layout.slot_index(12)) == ResultSlot(12, Verdict.OK)


def test_frozen_plc_heartbeat_raises_plc_silent_and_clears_when_it_runs_again(plc, plc_cfg, make_line, wait_until):
    line = make_line(plc_cfg)
    wait_until(lambda: line.signaller.status().connected)
    beat = plc.read_plc_area().heartbeat  # a running heartbeat for longer than the allowed silence: no alarm
    wait_until(lambda: plc.read_plc_area().heartbeat >= beat + plc_cfg.plc_silent_ms // 100 + 2)
    assert not line.alarms.is_active(PLC_SILENT)
    plc.freeze_heartbeat(True)
    waited = wait_until(lambda: line.alarms.is_active(PLC_SILENT))
    assert waited >= plc_cfg.plc_silent_ms / 1000 - 0.15  # not before the configured silence
    alarm = next(a for a in line.alarms.snapshot() if a.code == PLC_SILENT.code)
    assert alarm.message == (f"PLC {plc_cfg.host} heartbeat stopped: parts are being rejected — check the PLC "
                             "program (is the PLC in RUN?)")
    status = line.signaller.status()
    assert status.plc_silent and status.plc_heartbeat_age_s >= plc_cfg.plc_silent_ms / 1000
    plc.freeze_heartbeat(False)
    wait_until(lambda: not line.alarms.is_active(PLC_SILENT))
    assert not line.signaller.status().plc_silent


def test_station_state_and_vision_heartbeat_reach_the_plc(plc, plc_cfg, make_line, wait_until):
    line = make_line(plc_cfg)
    wait_until(lambda: plc.read_header().state is StationState.RUNNING)
    beat = plc.read_header().heartbeat
    wait_until(lambda: plc.read_header().heartbeat >= beat + 3)

    assert line.signaller.signal_fault(wait_s=10.0)
    assert plc.read_header().state is StationState.FAULT
    assert line.signaller.status().station_state is StationState.FAULT
    line.signaller.clear_fault()
    wait_until(lambda: plc.read_header().state is StationState.RUNNING)

    line.signaller.stop()
    assert line.signaller.join(10.0)
    assert plc.read_header().state is StationState.STOPPED
    status = line.signaller.status()
    assert not status.connected and status.station_state is StationState.STOPPED


def test_status_shows_the_plc_commands(plc, plc_cfg, make_line, wait_until):
    plc.set_requested_recipe(7)
    plc.set_inspection_enabled(False)
    line = make_line(plc_cfg)
    wait_until(lambda: line.signaller.status().requested_recipe == 7)
    assert line.signaller.status().inspection_enabled is False
    plc.set_inspection_enabled(True)
    wait_until(lambda: line.signaller.status().inspection_enabled)


def test_hold_lane_takes_hold_parts_and_the_review_releases_them(plc, make_line, fast_config, wait_until):
    cfg = fast_config(plc.host, plc.port, hold_lane=True)
    line = make_line(cfg)
    line.send(1, Verdict.HOLD)
    line.send(2, Verdict.HOLD)
    for seq in range(3, 13):  # the held parts' slots are reused meanwhile
        line.send(seq, Verdict.OK)
    line.collect(12)
    assert plc.results()[0] == ResultSlot(1, Verdict.HOLD, SlotFlag.HOLD_LANE, 0)

    line.review(1, Verdict.OK)
    line.review(2, Verdict.NG, defect_type="crack")
    line.review(5, Verdict.NG)  # an OK part that already left the line: nothing to release
    wait_until(lambda: len(plc.releases()) == 2)
    assert plc.releases() == [ResultSlot(1, Verdict.OK, SlotFlag.OPERATOR, 0),
                              ResultSlot(2, Verdict.NG, SlotFlag.OPERATOR | SlotFlag.REJECT, 3)]

    # A review that overtakes its own part's result waits for it, then releases it.
    line.review(13, Verdict.OK)
    wait_until(lambda: line.signaller.status().pending_releases == 1)
    assert len(plc.releases()) == 2
    line.send(13, Verdict.HOLD)
    wait_until(lambda: len(plc.releases()) == 3)
    assert plc.results()[-1] == ResultSlot(13, Verdict.HOLD, SlotFlag.HOLD_LANE, 0)
    assert plc.releases()[-1] == ResultSlot(13, Verdict.OK, SlotFlag.OPERATOR, 0)
    status = line.signaller.status()
    assert (status.releases, status.pending_releases) == (3, 0)


def test_without_hold_lane_hold_parts_are_rejected_and_reviews_write_nothing(plc, plc_cfg, make_line, wait_until):
    line = make_line(plc_cfg)
    line.send(1, Verdict.HOLD)
    line.collect(1)
    assert plc.read_slot(1) == ResultSlot(1, Verdict.HOLD, SlotFlag.REJECT, 0)
    writes = len(plc.writes())
    line.review(1, Verdict.OK)
    wait_until(lambda: len(line.reviews) == 0)  # taken by the PLC thread; two more heartbeats: handled
    beat = plc.read_header().heartbeat
    wait_until(lambda: plc.read_header().heartbeat >= beat + 2)
    assert all(w.start < layout.SLOT_BASE for w in plc.writes()[writes:]), "only heartbeats may follow"
    assert plc.releases() == [] and line.signaller.status().releases == 0
