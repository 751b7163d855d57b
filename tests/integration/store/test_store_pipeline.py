"""Store and image threads together, with a PLC thread reporting deliveries: rows, files and links agree."""

from __future__ import annotations

import errno
import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import hmi.store.images as images_module
from hmi.config.schema import StoreConfig
from hmi.core.alarm_catalogue import IMAGE_WRITE
from hmi.core.alarms import AlarmBoard
from hmi.core.messages import DeliveryStatus, PlcDelivery
from hmi.core.part import utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.store.images import ImageWriter
from hmi.store.queries import integrity_check
from hmi.store.writer import RecordWriter
from tests.support.waiting import wait_for

N = 60


@dataclass
class Run:
    """What a run of the pipeline left behind."""

    rows: list[tuple]
    plc_saw: list[int]
    images: ImageWriter
    alarms: AlarmBoard


def _run_line(data_dir: Path, decided_part, config: StoreConfig) -> Run:
    """N parts (every 3rd NG) through store and image threads; a PLC thread confirms each verdict."""
    rng = np.random.default_rng(3)
    alarms = AlarmBoard()
    parts, committed = BoundedQueue("parts", 256), BoundedQueue("committed", 256)
    deliveries, jobs, paths = BoundedQueue("deliveries", 256), BoundedQueue("images", 64), BoundedQueue("paths", 256)
    store = RecordWriter(data_dir / "hmi.db", parts, committed, alarms, config, deliveries=deliveries,
                         images=jobs, image_paths=paths)
    images = ImageWriter(data_dir, jobs, paths, alarms, config)
    stop, plc_saw = threading.Event(), []

    def plc() -> None:  # confirms every verdict, as the S7 signaller does after writing the slot
        while not stop.is_set():
            part = committed.take(0.05)
            if part is not None:
                plc_saw.append(part.seq)
                deliveries.put(PlcDelivery(part.seq, DeliveryStatus.DELIVERED, utc_now()), timeout=1.0)

    plc_thread = threading.Thread(target=plc)
    for worker in (store, images):
        worker.start()
    plc_thread.start()
    try:
        for seq in range(1, N + 1):
            verdict = Verdict.NG if seq % 3 == 0 else Verdict.OK
            frame = rng.integers(0, 256, (160, 200), dtype=np.uint8)
            amap = rng.random((20, 25), dtype=np.float32)
            assert parts.offer(decided_part(seq, verdict, image=frame, anomaly_map=amap))
            # the next part once the store took this one and the image thread keeps up (no image is dropped)
            wait_for(lambda: len(parts) == 0 and len(jobs) < jobs.maxsize // 2, "the store and image threads")

        def settled() -> bool:
            with closing(sqlite3.connect(data_dir / "hmi.db")) as conn:
                pending = conn.execute("SELECT count(*) FROM inspections WHERE plc_status != 'delivered'").fetchone()[0]
                total = conn.execute("SELECT count(*) FROM inspections").fetchone()[0]
            return total == N and pending == 0 and len(jobs) == 0 and len(paths) == 0

        wait_for(settled, "every part recorded and delivered")
        # The last image paths reach the records as the station stops: images first, then the store,
        # which writes what is still queued before it ends.
    finally:
        stop.set()
        plc_thread.join(5)
        images.stop()
        images.join(5)
        store.stop()
        store.join(10)
    assert store.error is None and images.error is None
    with closing(sqlite3.connect(data_dir / "hmi.db")) as conn:
        rows = conn.execute("SELECT seq, verdict, plc_status, image_path, heatmap_path FROM inspections").fetchall()
    return Run(rows, plc_saw, images, alarms)


def test_parts_images_and_deliveries_end_up_linked_in_the_records(tmp_path, decided_part):
    run = _run_line(tmp_path, decided_part, StoreConfig(ok_image_sample=2, image_quota_mb=1))
    assert len(run.rows) == N and {r[2] for r in run.rows} == {"delivered"}
    linked = {r[0]: r for r in run.rows if r[3] is not None}
    on_disk = {int(p.name[:12]) for p in (tmp_path / "images").rglob("*.png")}
    assert set(linked) == on_disk  # every kept image is linked, every link points at a file
    for seq, _, _, image_path, heatmap_path in linked.values():
        assert (tmp_path / image_path).is_file() and (tmp_path / heatmap_path).is_file()
    assert run.images.removed > 0 and run.images.used_bytes <= 1024 * 1024  # retention ran within the quota
    ok_parts = sorted(seq for seq, verdict, *_ in run.rows if verdict == "OK")
    wanted = {seq for seq, verdict, *_ in run.rows if verdict == "NG"} | set(ok_parts[::2])
    assert on_disk <= wanted  # only rejects and every 2nd OK part had images saved
    assert integrity_check(tmp_path / "hmi.db") == "ok"
    assert not run.alarms.snapshot()


@pytest.mark.expected_errors("cannot write to .*No space left on device")
def test_a_full_disk_for_images_stops_neither_verdicts_nor_records(tmp_path, decided_part, monkeypatch):
    """A full disk cannot be made portably; the image write fails with ENOSPC as the OS would report it."""

    def disk_full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(images_module, "write_file", disk_full)
    run = _run_line(tmp_path, decided_part, StoreConfig(ok_image_sample=1))
    assert sorted(run.plc_saw) == list(range(1, N + 1))
    assert len(run.rows) == N and {r[2] for r in run.rows} == {"delivered"}
    assert all(r[3] is None and r[4] is None for r in run.rows)
    assert run.alarms.is_active(IMAGE_WRITE)
    assert "No space left on device" in run.alarms.snapshot()[0].message
    assert run.images.saved == 0 and run.images.skipped >= 1
    assert integrity_check(tmp_path / "hmi.db") == "ok"
