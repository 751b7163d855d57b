"""Image store: PNG image and heatmap per part, quota retention order, low and full disk never stop verdicts."""

from __future__ import annotations

import errno
from datetime import datetime, timezone

import cv2
import numpy as np
import pytest

import hmi.store.images as images_module
from hmi.config.schema import StoreConfig
from hmi.core.alarm_catalogue import DISK_LOW, IMAGE_WRITE
from hmi.core.alarms import AlarmBoard
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.store.images import ImagePaths, ImageWriter, heatmap_overlay

DAY = datetime(2024, 5, 1, 23, 59, 59, tzinfo=timezone.utc)
RNG = np.random.default_rng(7)


def noise(h: int = 96, w: int = 128, channels: int = 1) -> np.ndarray:
    """A frame that PNG cannot shrink much, so file sizes are predictable."""
    shape = (h, w) if channels == 1 else (h, w, channels)
    return RNG.integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def alarms() -> AlarmBoard:
    return AlarmBoard()


@pytest.fixture
def paths() -> BoundedQueue[ImagePaths]:
    return BoundedQueue("image paths", 10_000)


def _writer(tmp_path, alarms, paths, **config) -> ImageWriter:
    w = ImageWriter(tmp_path, BoundedQueue("images", 16), paths, alarms, StoreConfig(**config), retry_s=0.0)
    w.setup()
    return w


def _kept(tmp_path) -> set[int]:
    return {int(p.name[:12]) for p in (tmp_path / "images").rglob("*.png")}


def _drain(paths: BoundedQueue[ImagePaths], writer: ImageWriter) -> list[ImagePaths]:
    writer._flush_outbox()
    out = []
    while (item := paths.take_nowait()) is not None:
        out.append(item)
    return out


def test_image_saved_as_png_and_heatmap_as_jpeg_under_the_utc_day(tmp_path, alarms, paths, make_part):
    amap = np.zeros((12, 16), np.float32)
    amap[2:5, 3:7] = 0.9  # a hot spot at the top left
    frame = noise(96, 128, 3)
    writer = _writer(tmp_path, alarms, paths)
    got = writer.save(make_part(42, Verdict.NG, image=frame, anomaly_map=amap, captured_at=DAY))
    assert got == ImagePaths(42, "images/2024-05-01/000000000042_NG.png", "images/2024-05-01/000000000042_NG_heatmap.jpg")
    stored = cv2.imread(str(tmp_path / got.image_path), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(stored[:, :, ::-1], frame)  # lossless, and RGB frames are stored in the right order
    heat = cv2.imread(str(tmp_path / got.heatmap_path))
    assert heat.shape == (96, 128, 3)
    hot, cold = heat[20:40, 30:60].astype(int), heat[70:90, 100:120].astype(int)
    assert (hot[:, :, 2] - hot[:, :, 0]).mean() > (cold[:, :, 2] - cold[:, :, 0]).mean() + 50  # red over the defect
    assert _drain(paths, writer) == [got]
    assert writer.used_bytes == sum((tmp_path / p).stat().st_size for p in (got.image_path, got.heatmap_path))


def test_mono_frames_stay_mono_and_parts_without_a_map_get_no_heatmap(tmp_path, alarms, paths, make_part):
    frame = noise(64, 80)
    writer = _writer(tmp_path, alarms, paths)
    got = writer.save(make_part(7, Verdict.HOLD, image=frame))
    assert got.heatmap_path is None
    assert np.array_equal(cv2.imread(str(tmp_path / got.image_path), cv2.IMREAD_UNCHANGED), frame)


def test_heatmap_limits_fix_the_colour_scale():
    frame = np.full((32, 32), 128, np.uint8)
    faint = np.full((4, 4), 0.1, np.float32)
    fixed = heatmap_overlay(frame, faint, limits=(0.0, 1.0))
    stretched = heatmap_overlay(frame, faint)
    assert fixed[:, :, 0].mean() > fixed[:, :, 2].mean()  # low score shown cold (blue) on a fixed scale
    assert fixed.shape == stretched.shape == (32, 32, 3)


def test_retention_removes_oldest_ok_images_first_then_oldest_others(tmp_path, alarms, paths, make_part):
    writer = _writer(tmp_path, alarms, paths, image_quota_mb=1)
    quota = 1024 * 1024
    kinds: dict[int, Verdict] = {}
    removed: list[int] = []

    def save(seq: int, verdict: Verdict) -> None:
        kinds[seq] = verdict
        writer.save(make_part(seq, verdict, image=noise(200, 200)))
        removed.extend(p.seq for p in _drain(paths, writer) if p.image_path is None)
        assert writer.used_bytes <= quota

    seq = 0
    while not removed:  # OK and NG parts alternating until the quota is reached
        seq += 1
        save(seq, Verdict.OK if seq % 2 else Verdict.NG)
    while not any(kinds[s] is Verdict.NG for s in removed):  # then NG parts only
        seq += 1
        save(seq, Verdict.NG)
    oks = [s for s, v in kinds.items() if v is Verdict.OK]
    first_ngs = [s for s, v in kinds.items() if v is Verdict.NG][: len(removed) - len(oks)]
    assert removed == oks + first_ngs  # every OK image, oldest first, before the oldest NG image
    assert len(oks) >= 5 and first_ngs == [2]
    assert _kept(tmp_path) == set(kinds) - set(removed)
    assert sum(p.stat().st_size for p in (tmp_path / "images").rglob("*.png")) == writer.used_bytes


def test_a_restarted_writer_indexes_old_images_and_relinks_the_newest(tmp_path, alarms, paths, make_part):
    first = _writer(tmp_path, alarms, paths)
    for seq, verdict in ((1, Verdict.OK), (2, Verdict.NG), (3, Verdict.OK)):
        first.save(make_part(seq, verdict, image=noise(), captured_at=DAY))
    _drain(paths, first)
    (tmp_path / "images" / "2024-05-01" / "000000000004_NG.png.tmp").write_bytes(b"half")  # killed mid-write
    used = first.used_bytes
    second = ImageWriter(tmp_path, BoundedQueue("images", 4), paths, alarms, StoreConfig(), relink_recent=2)
    second.setup()
    assert second.used_bytes == used
    assert not list((tmp_path / "images").rglob("*.tmp"))
    assert [p.seq for p in _drain(paths, second)] == [2, 3]


@pytest.mark.expected_errors("cannot write to .*No space left on device")
def test_a_full_disk_stops_images_raises_the_alarm_and_recovers(tmp_path, alarms, paths, make_part, monkeypatch):
    """A full disk cannot be made portably; the write call fails with ENOSPC as the OS would report it."""
    writer = _writer(tmp_path, alarms, paths)

    def disk_full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(images_module, "write_file", disk_full)
    assert writer.save(make_part(1, Verdict.NG, image=noise(), anomaly_map=np.ones((4, 4), np.float32))) is None
    assert alarms.is_active(IMAGE_WRITE)
    text = alarms.snapshot()[0].message
    assert "No space left on device" in text and "verdicts and records continue" in text
    assert not list((tmp_path / "images").rglob("*.png*"))
    writer.retry_s = 60.0
    writer.save(make_part(2, Verdict.NG, image=noise()))
    assert writer.save(make_part(3, Verdict.NG, image=noise())) is None and writer.skipped == 3  # paused, no retry
    monkeypatch.undo()
    writer._paused_until = 0.0  # the pause has run out
    assert writer.save(make_part(4, Verdict.NG, image=noise())) is not None
    assert not alarms.is_active(IMAGE_WRITE)


def test_low_free_disk_raises_disk_low_before_the_quota_bites(tmp_path, alarms, paths):
    _writer(tmp_path, alarms, paths, low_disk_mb=1, image_floor_mb=0)
    assert not alarms.is_active(DISK_LOW)
    _writer(tmp_path, alarms, paths, low_disk_mb=10**12)  # more than any disk here has free
    assert alarms.is_active(DISK_LOW)
    assert "Disk space is low" in alarms.snapshot()[0].message


def test_the_writer_thread_saves_what_it_is_given(tmp_path, alarms, paths, make_part, wait_until):
    jobs = BoundedQueue("images", 8)
    writer = ImageWriter(tmp_path, jobs, paths, alarms, StoreConfig())
    writer.start()
    try:
        jobs.offer(make_part(9, Verdict.NG, image=noise()))
        wait_until(lambda: len(paths) == 1, what="image paths")
    finally:
        writer.stop()
        assert writer.join(5)
    assert paths.take_nowait().seq == 9 and writer.error is None


@pytest.mark.expected_errors("image that cannot be saved: image has pixel type uint16")
def test_a_frame_that_cannot_be_encoded_is_skipped(tmp_path, alarms, paths, make_part):
    writer = _writer(tmp_path, alarms, paths)
    deep = np.zeros((32, 32), np.uint16)  # not what the pipeline delivers: the heatmap blend refuses it
    assert writer.save(make_part(1, Verdict.NG, image=deep, anomaly_map=np.ones((4, 4), np.float32))) is None
    assert writer.skipped == 1 and not list((tmp_path / "images").rglob("*.png"))
    assert writer.save(make_part(2, Verdict.NG, image=noise())) is not None
