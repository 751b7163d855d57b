"""HOLD parts waiting at shutdown survive a restart on the same data folder: back in the review queue with the
time they have left, or given the recipe's default with the reason said; recorded and audited, never orphaned."""

from __future__ import annotations

import time

from hmi.core.part import utc_now
from hmi.core.verdict import Verdict
from hmi.station import build_station
from hmi.store.audit import AuditAction
from tests.support.stations import replay_station
from tests.support.waiting import wait_for


def _stopped_with_two_held_parts(root, tiny_model):
    """A station that judged two HOLD parts nobody reviewed (kept with their images), then stopped."""
    first = replay_station(root, tiny_model, ["hold", "ok", "hold", "ok"], max_parts=4)
    try:
        first.start()
        held = wait_for(lambda: len(first.holds.pending()) == 2 and first.holds.pending(), "two held parts")
        seqs = [h.part.seq for h in held]
        wait_for(lambda: all((r := first.records.part(s)) is not None and r.image_path for s in seqs),
                 "the held parts recorded with their images")
    finally:
        first.stop()
    assert [first.records.part(s).verdict for s in seqs] == [Verdict.HOLD, Verdict.HOLD]
    return first, seqs


def test_held_parts_come_back_for_review_with_the_time_they_have_left(tmp_path, tiny_model):
    first, seqs = _stopped_with_two_held_parts(tmp_path, tiny_model)
    second = build_station(first.cfg, first.data_dir, max_parts=1)
    try:
        second.start()
        pending = {h.part.seq: h for h in second.holds.pending()}
        assert set(seqs) <= set(pending)
        now = time.monotonic()
        for seq in seqs:
            back = pending[seq]
            assert 200 < back.due_mono - now < 300          # the recipe's 300 s less the time it already waited
            assert (back.default, back.timeout_s) == (Verdict.NG, 300)
            assert back.part.image is not None and back.part.inspection.score > 0.25
            restored = wait_for(lambda seq=seq: [e for e in second.records.part_history(seq)
                                                 if e.action == AuditAction.HOLD_RESTORED], "the restore audited")
            assert len(restored) == 1 and "back in the review queue" in restored[0].reason

        # The operator's verdict on a part from before the restart lands in the records like any other.
        olga = second.users.get("olga")
        second.review(seqs[0], Verdict.OK, olga, note="checked after the restart")
        record = wait_for(lambda: (r := second.records.part(seqs[0])) and r.reviewed_by == "olga" and r,
                          "the review recorded")
        assert (record.verdict, record.review_note) == (Verdict.OK, "checked after the restart")
    finally:
        second.stop()


def test_a_held_part_whose_time_ran_out_while_stopped_gets_the_default_with_the_reason(tmp_path, tiny_model):
    first, seqs = _stopped_with_two_held_parts(tmp_path, tiny_model)
    second = build_station(first.cfg, first.data_dir, max_parts=1)
    second.holds.timeout_s = 0.5  # the queue's own cap: the parts have waited longer than this already
    judged = [first.records.part(s).decided_at for s in seqs]
    wait_for(lambda: all((utc_now() - d).total_seconds() > 0.5 for d in judged), "the review time to pass")
    try:
        second.start()
        assert not set(seqs) & {h.part.seq for h in second.holds.pending()}
        for seq in seqs:
            record = wait_for(lambda seq=seq: (r := second.records.part(seq)) and r.verdict is not Verdict.HOLD and r,
                              "the default recorded")
            assert (record.verdict, record.reviewed_by) == (Verdict.NG, "system")
            assert "ran out while the station was stopped" in record.review_note
            history = second.records.part_history(seq)
            assert [(e.action, e.old_value, e.new_value) for e in history][-1] == (AuditAction.REVIEW, "HOLD", "NG")
    finally:
        second.stop()
