"""Records and Reports say the same about a part's final verdict: a review is a review, an override an override."""

from __future__ import annotations

from contextlib import closing
from datetime import datetime, timedelta, timezone

from hmi.core.part import utc_now
from hmi.core.messages import OperatorReview
from hmi.core.verdict import Verdict
from hmi.services.reports.connection import open_reports
from hmi.services.reports.shifts import ShiftWindow
from hmi.services.reports.summary import build_report, key_figures
from tests.ui.records.conftest import stored_seqs, wait_listed


def test_records_and_reports_count_reviews_and_overrides_alike(qtbot, records_screen, recorded_station):
    station, screen = recorded_station, records_screen
    ok_seq = stored_seqs(station, "WHERE verdict = 'OK'")[0]
    # An automatic OK changed by a person, on the queue the store thread takes operators' verdicts from.
    assert station.reviews.offer(OperatorReview(ok_seq, Verdict.NG, "quinn", utc_now(), "dent", "found at assembly"))
    qtbot.waitUntil(lambda: station.records.part(ok_seq).verdict is Verdict.NG, timeout=10000)

    screen.presets["last_7_days"].setChecked(True)
    screen.search()
    wait_listed(qtbot, screen)
    words = {r.seq: screen.table.item(row, 3).text() for row, r in enumerate(screen.records)}
    assert words[station.reviewed_seq] == "NG (reviewed)"   # theo gave the HOLD part its verdict
    assert words[ok_seq] == "NG (overridden)"               # quinn changed an automatic OK

    now = datetime.now(timezone.utc)
    everything = ShiftWindow("test", now.date(), now - timedelta(days=1), now + timedelta(hours=1), "UTC")
    with closing(open_reports(station.data_dir)) as conn:
        report = build_report(conn, everything, now=now)
    listed = [station.records.part(seq) for seq in stored_seqs(station)]
    assert report.overrides == sum(r.overridden for r in listed) == 1
    assert report.reviews == sum(r.decided_by == "reviewed" for r in listed) == 1
    assert dict(key_figures(report))["Overrides (rate)"].startswith("1 (")
