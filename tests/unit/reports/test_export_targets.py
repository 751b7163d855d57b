"""Export targets: the station's disk, the configured shares, and the USB drives mounted now."""

from __future__ import annotations

from hmi.config.schema import ExportTargetConfig, ReportsConfig
from hmi.services.reports.targets import export_targets, settle


def test_targets_are_the_station_the_shares_and_the_drives_mounted_now(tmp_path):
    media, run_media = tmp_path / "media", tmp_path / "run" / "media"
    for folder in (media / "KINGSTON", media / "anna" / "SANDISK", run_media / "anna" / "LAB USB", media / "empty"):
        folder.mkdir(parents=True)
    mounted = {str(media / "KINGSTON"), str(media / "anna" / "SANDISK"), str(run_media / "anna" / "LAB USB")}
    share = tmp_path / "share"
    config = ReportsConfig(export_targets=[ExportTargetConfig(name="Quality share", path=str(share))],
                           removable_media=[str(media), str(run_media)])
    targets = export_targets(config, tmp_path / "data", is_mount=lambda p: p in mounted)
    assert [t.label for t in targets] == ["Station disk", "Quality share", "USB: KINGSTON", "USB: LAB USB",
                                          "USB: SANDISK"]
    assert targets[0].folder == tmp_path / "data" / "exports" and targets[0].ready() is None
    assert "cannot be reached" in targets[1].ready().what       # the share is not mounted
    share.mkdir()
    assert targets[1].ready() is None
    (media / "KINGSTON").rmdir()                                 # the drive was pulled
    assert targets[2].ready().what == "USB: KINGSTON is no longer plugged in"
    out = share / "report.csv"
    out.write_text("seq\n")
    settle(out)
    assert out.read_text() == "seq\n"
