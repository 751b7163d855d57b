"""Writes as requests to the store thread: answered after COMMIT, refused alone, and part numbers never hang."""

from __future__ import annotations

import sqlite3
from concurrent.futures import Future

import pytest

from hmi.config.schema import StoreConfig
from hmi.core.alarms import AlarmBoard
from hmi.core.errors import PermissionDenied, StoreError
from hmi.pipeline.queues import BoundedQueue
from hmi.store.database import open_database
from hmi.store.sequence import SequenceAllocator
from hmi.store.users import Role, UserDirectory
from hmi.store.writer import RecordWriter


def _writer(db_path) -> RecordWriter:
    open_database(db_path).close()  # as the builder does: the records exist before anything reads them
    return RecordWriter(db_path, BoundedQueue("parts", 64), BoundedQueue("committed", 64), AlarmBoard(),
                        StoreConfig(), requests=BoundedQueue("store requests", 16))


def _rows(db_path, sql: str) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql).fetchall()


def test_requests_run_in_the_store_connection_with_the_parts_and_are_answered_after_commit(db_path, make_part):
    writer = _writer(db_path)
    assert writer.requests is not None
    users = UserDirectory(db_path, writes=writer.requests)
    admin = users.add("admin", Role.ADMIN, "999999", None)  # before the thread runs: its connection, at once
    writer.start()
    try:
        writer.parts.put(make_part(1), timeout=1.0)
        users.add("olga", Role.OPERATOR, "123456", admin)  # answered by the store thread
        with pytest.raises(PermissionDenied):  # refused in its own savepoint: nothing else undone
            users.add("eve", Role.OPERATOR, "123456", users.get("olga"))
        assert writer.committed.take(5.0).seq == 1
    finally:
        writer.stop()
        writer.join(5.0)
        users.close()
    assert [r[0] for r in _rows(db_path, "SELECT name FROM users ORDER BY name")] == ["admin", "olga"]
    assert _rows(db_path, "SELECT seq FROM inspections") == [(1,)]
    with pytest.raises(StoreError, match="closed"):  # the store thread has ended: refused at once, no hang
        writer.requests.run("could not add a user", "start the station again", lambda conn: None)


class _StalledStore:
    """A store that takes requests but never answers (a stalled disk)."""

    def __init__(self) -> None:
        self.asked = 0

    def submit(self, what, todo, work, *, durable=False) -> Future:
        self.asked += 1
        return Future()


def test_part_numbers_from_a_stalled_store_are_refused_in_plain_words_not_waited_for_again():
    store = _StalledStore()
    numbers = SequenceAllocator(store, block=10, wait_s=0.05)
    with pytest.raises(StoreError, match="did not answer within|did not answer yet"):
        numbers.next()
    with pytest.raises(StoreError, match="did not answer yet"):  # the block already waited for is not waited on
        numbers.next()
    assert store.asked == 1


def test_part_numbers_are_asked_for_ahead_so_the_caller_does_not_wait_at_a_block_boundary():
    answered: list[Future] = []

    class Store:
        def submit(self, what, todo, work, *, durable=False) -> Future:
            assert durable  # a block's high-water mark must survive a power cut
            future: Future = Future()
            answered.append(future)
            return future

    numbers = SequenceAllocator(Store(), block=4)
    answered[0].set_result((1, 4))
    assert [numbers.next(), numbers.next()] == [1, 2]
    assert len(answered) == 2  # half used: the next block is asked for now
    answered[1].set_result((5, 8))
    assert [numbers.next() for _ in range(4)] == [3, 4, 5, 6]
