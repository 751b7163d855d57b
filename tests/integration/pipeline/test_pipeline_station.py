"""The judging core end to end on pylon's emulated camera and real ONNX Runtime sessions."""

from __future__ import annotations

import os
import threading

import pytest

from hmi.camera.pylon import PylonCamera
from hmi.config.loader import load_station
from hmi.core.verdict import Verdict
from hmi.station import build_station
from tests.support.waiting import wait_for


def _station(data, frames, *overrides, records=False, **options):
    """The judging core (records=True: as a line would build it) on the camera replaying `frames`."""
    cfg = load_station(data, ["station.recipe=tiny", f"camera.replay_path={frames}", "camera.rate_hz=0",
                              "inference.threads=1", *overrides])
    return build_station(cfg, data, records=records, **options)


def _collect(station):
    parts = []
    station.outlet.subscribe(parts.append)
    return parts


def test_every_frame_is_a_numbered_part_with_a_verdict(line):
    data, frames = line
    st = _station(data, frames, max_parts=24)
    parts = _collect(st)
    st.start()
    try:
        assert st.wait_done(timeout_s=60)
    finally:
        st.stop()
    assert [p.seq for p in sorted(parts, key=lambda p: p.seq)] == list(range(1, 25))
    verdicts = [p.verdict for p in sorted(parts, key=lambda p: p.seq)]
    # the emulator replays 6 flat frames then 2 with a spot, in name order, in a loop
    assert verdicts[:8] == [Verdict.OK] * 6 + [Verdict.NG] * 2
    assert st.outlet.counts().total == 24 and st.outlet.counts().ng == 6
    ng = next(p for p in parts if p.verdict is Verdict.NG)
    assert ng.inspection.regions and ng.decision.threshold_version == 1
    assert ng.camera.source.startswith("Basler") and ng.latency_ms > 0


def test_failed_buffers_become_not_inspected_and_are_never_judged(line):
    data, frames = line
    cam = PylonCamera.emulated(frames, trigger="software")
    st = _station(data, frames, "camera.rate_hz=20", source=cam)
    parts = _collect(st)
    st.start()
    try:
        wait_for(lambda: len(parts) >= 3, "three judged parts")
        cam.inject_failed_buffers(3)
        wait_for(lambda: sum(p.verdict is Verdict.NOT_INSPECTED for p in parts) >= 3, "three NOT INSPECTED parts")
    finally:
        st.stop()
    failed = [p for p in parts if p.verdict is Verdict.NOT_INSPECTED]
    assert len(failed) == 3
    assert all(p.inspection is None and p.image is None for p in failed)
    assert all("buffer" in p.decision.reason for p in failed)


def test_camera_removed_mid_run_rejects_parts_raises_alarm_and_reconnects(line):
    data, frames = line
    cam = PylonCamera.emulated(frames, trigger="software")
    st = _station(data, frames, "camera.rate_hz=20", "camera.reconnect_s=0.3", source=cam)
    parts = _collect(st)
    st.start()
    try:
        wait_for(lambda: len(parts) >= 3, "three judged parts")
        cam.simulate_removal()
        wait_for(lambda: st.alarms.is_active("CAMERA_LOST"), "the CAMERA_LOST alarm")
        # back: the alarm clears and parts are judged again
        wait_for(lambda: not st.alarms.is_active("CAMERA_LOST"), "the CAMERA_LOST alarm to clear")
        n = len(parts)
        wait_for(lambda: len(parts) >= n + 5, "five more parts after the camera came back")
    finally:
        st.stop()
    lost = [p for p in parts if p.verdict is Verdict.NOT_INSPECTED]
    assert lost and all("camera" in p.decision.reason for p in lost)
    assert parts[-1].verdict in (Verdict.OK, Verdict.NG)
    seqs = [p.seq for p in parts]
    assert len(seqs) == len(set(seqs))


def test_full_queue_and_missed_deadline_make_not_inspected_never_dropped(line, demo_model_dir):
    data, _ = line
    # the real demo model on frames of the demo's size (about 15 ms each on a CPU) behind a free-running
    # replay at 400 frames/s: the queue overflows
    import shutil

    from tests.integration.pipeline.conftest import write_line_frames

    frames = write_line_frames(data.parent / "frames-384", size=384)

    shutil.copytree(demo_model_dir, data / "models" / "demo-part")
    cfg_over = ["station.recipe=demo", "camera.kind=replay", "camera.trigger=free_run", "camera.rate_hz=400",
                "pipeline.frame_queue=2", "pipeline.deadline_ms=60"]
    st = _station(data, frames, *cfg_over, max_parts=120)
    parts = _collect(st)
    st.start()
    try:
        assert st.wait_done(timeout_s=60)
    finally:
        st.stop()
    assert len(parts) == 120 and len({p.seq for p in parts}) == 120
    reasons = [p.decision.reason for p in parts if p.verdict is Verdict.NOT_INSPECTED]
    assert any("queue full" in r for r in reasons), sorted(set(reasons))[:5]
    assert st.frames.refused > 0 and st.capture_metrics.snapshot().drops > 0


def test_setup_mode_newest_frame_wins_and_nothing_is_recorded(line, demo_model_dir):
    import shutil

    from tests.integration.pipeline.conftest import write_line_frames

    data, _ = line
    frames = write_line_frames(data.parent / "frames-384", size=384)  # the demo's size: the model takes ~15 ms
    shutil.copytree(demo_model_dir, data / "models" / "demo-part")
    st = _station(data, frames, "station.mode=setup", "station.recipe=demo", "camera.kind=replay",
                  "camera.rate_hz=300", records=True)  # setup mode records nothing although records are kept
    parts = _collect(st)
    st.start()
    try:
        # setup mode shows judged frames, and frames replaced before the model took them are counted
        wait_for(lambda: parts and st.frames.overwritten > 0, "judged frames and overwritten ones")
    finally:
        st.stop()
    assert st.records_in is None and st.downstream is None


def test_station_refuses_a_model_whose_hash_differs_from_the_recipe(line):
    from hmi.config.loader import load_recipe, save_recipe
    from hmi.core.errors import ModelError

    data, frames = line
    r = load_recipe(data, "tiny")
    save_recipe(data, r.model_copy(update={"model": r.model.model_copy(update={"sha256": "b" * 64})}))
    with pytest.raises(ModelError, match="recipe expects"):
        _station(data, frames)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="a model on one thread spares a core only on 2 cores or more")
@pytest.mark.parametrize(("threads", "publisher"), [(1, "inference-verdicts"), (0, "inference")])
def test_a_model_sparing_cores_is_judged_in_stages_and_one_on_every_core_whole(line, threads, publisher):
    data, frames = line
    st = _station(data, frames, f"inference.threads={threads}", max_parts=24)
    published: list[tuple[int, str]] = []
    st.outlet.subscribe(lambda part: published.append((part.seq, threading.current_thread().name)))
    st.start()
    try:
        assert st.wait_done(timeout_s=60)
    finally:
        st.stop()
    # every part, in capture order, judged and published by the verdicts stage (1 thread) or the inference thread
    assert [seq for seq, _ in published] == list(range(1, 25))
    assert {name for _, name in published} == {publisher}
    assert st.outlet.counts().not_inspected == 0 and st.outlet.counts().ng == 6
