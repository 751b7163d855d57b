"""Part sequence numbers: continue across restarts, reserved before use, never handed out twice."""

from __future__ import annotations

import sqlite3
import threading

from hmi.store.database import open_database
from hmi.store.sequence import SequenceAllocator


def _high_water(db_path) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT high_water FROM part_sequence").fetchone()[0]


def test_numbers_continue_after_a_restart_without_reuse(db_path):
    first = SequenceAllocator(db_path, block=10)
    before = [first.next() for _ in range(3)]
    first.close()
    second = SequenceAllocator(db_path, block=10)
    after = [second.next() for _ in range(25)]
    second.close()
    assert before == [1, 2, 3]
    assert min(after) > max(before)
    assert len(set(after)) == len(after) == 25
    assert after == sorted(after)


def test_a_block_is_committed_before_its_first_number_is_used_and_the_next_when_half_is_used(db_path):
    alloc = SequenceAllocator(db_path, block=1000)
    seq = alloc.next()
    # Another connection (what a restarted process would see) already knows the whole block is taken.
    assert _high_water(db_path) >= seq + 999
    for _ in range(498):
        alloc.next()
    assert _high_water(db_path) == 1000
    assert alloc.next() == 500
    assert _high_water(db_path) == 2000  # the next block is reserved ahead, while half of this one is left
    assert [alloc.next() for _ in range(501)][-1] == 1001
    assert _high_water(db_path) == 2000
    alloc.close()


def test_numbering_starts_above_any_recorded_part(db_path):
    conn = open_database(db_path)
    conn.execute("INSERT INTO inspections (seq, captured_at, captured_mono, recipe, auto_verdict, verdict) "
                 "VALUES (5000, '2024-01-01T00:00:00.000Z', 1.0, 'demo', 'OK', 'OK')")
    conn.close()
    alloc = SequenceAllocator(db_path, block=100)
    assert alloc.next() == 5001
    alloc.close()


def test_threads_never_get_the_same_number(db_path):
    alloc = SequenceAllocator(db_path, block=50)
    got: list[list[int]] = [[], []]

    def take(bucket: list[int]) -> None:
        for _ in range(1500):
            bucket.append(alloc.next())

    threads = [threading.Thread(target=take, args=(b,)) for b in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alloc.close()
    every = got[0] + got[1]
    assert len(set(every)) == len(every) == 3000
