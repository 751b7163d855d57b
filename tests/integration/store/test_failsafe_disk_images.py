"""Records outlive images: images stop above a free-space floor on the records' own disk, and DISK_LOW comes first.

The image thread reads the real free space of the disk under the test's folder; the floor and the alarm limit
are set around it, far enough that other programs writing meanwhile do not matter.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hmi.config.schema import StoreConfig
from hmi.core.alarm_catalogue import DISK_LOW, IMAGE_WRITE
from hmi.core.alarms import AlarmBoard
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.store.images import ImagePaths, ImageWriter
from hmi.store.reserve import MB
from tests.support.waiting import wait_for

MARGIN_MB = 5000
IMAGE = np.full((48, 64), 77, np.uint8)


@pytest.fixture
def images(tmp_path):
    made: list[ImageWriter] = []

    def start(config: StoreConfig) -> tuple[ImageWriter, BoundedQueue, BoundedQueue, AlarmBoard]:
        jobs, paths, alarms = BoundedQueue("image jobs", 16), BoundedQueue("image paths", 100), AlarmBoard()
        writer = ImageWriter(tmp_path / "data", jobs, paths, alarms, config, disk_check_s=0.05)
        writer.start()
        made.append(writer)
        return writer, jobs, paths, alarms

    yield start
    for writer in made:
        writer.stop()
        assert writer.join(10)
        assert writer.error is None, writer.error_text()


def _saved(tmp_path) -> list:
    return sorted((tmp_path / "data" / "images").rglob("*.png"))


def test_below_the_floor_no_image_is_saved_and_the_alarm_says_why_until_there_is_room(images, tmp_path,
                                                                                       decided_part):
    free_mb = shutil.disk_usage(tmp_path).free // MB
    config = StoreConfig(image_floor_mb=free_mb + MARGIN_MB, low_disk_mb=free_mb + 2 * MARGIN_MB)
    writer, jobs, paths, alarms = images(config)
    jobs.offer(decided_part(1, Verdict.NG, image=IMAGE))
    wait_for(lambda: writer.skipped == 1, "the image to be refused")
    assert _saved(tmp_path) == [] and paths.take_nowait() is None
    message = next(a.message for a in alarms.snapshot() if a.code == IMAGE_WRITE.code)
    assert "store.image_floor_mb" in message and "so the records keep room" in message
    assert alarms.is_active(DISK_LOW)  # it came before images stopped: its limit is above the floor

    config.image_floor_mb = 0  # the floor is met again (as when space returns)
    jobs.offer(decided_part(2, Verdict.NG, image=IMAGE))
    got = wait_for(lambda: paths.take_nowait(), "the image to be saved")
    assert isinstance(got, ImagePaths) and got.seq == 2 and len(_saved(tmp_path)) == 1
    assert not alarms.is_active(IMAGE_WRITE)


def test_disk_low_comes_while_images_are_still_saved(images, tmp_path, decided_part):
    free_mb = shutil.disk_usage(tmp_path).free // MB
    writer, jobs, paths, alarms = images(StoreConfig(image_floor_mb=max(free_mb - MARGIN_MB, 0),
                                                     low_disk_mb=free_mb + MARGIN_MB))
    wait_for(lambda: alarms.is_active(DISK_LOW), "the early warning")
    jobs.offer(decided_part(1, Verdict.NG, image=IMAGE))
    wait_for(lambda: paths.take_nowait(), "the image to be saved")
    assert not alarms.is_active(IMAGE_WRITE) and writer.skipped == 0


def test_the_alarm_must_come_before_images_stop():
    with pytest.raises(ValueError, match="low_disk_mb .* must be above store.image_floor_mb"):
        StoreConfig(image_floor_mb=500, low_disk_mb=500)
