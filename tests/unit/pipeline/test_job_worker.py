"""JobWorker: submitted callables run one after another on one named Worker thread, which its owner stops."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import pytest

from hmi.pipeline.worker import JobWorker, WorkerState


def test_jobs_run_in_order_on_one_named_thread_started_by_the_first_job():
    jobs = JobWorker("jobs-test")
    assert not jobs.alive and jobs.state is WorkerState.NEW     # nobody gave it work: no thread
    order: list[int] = []
    futures = [jobs.submit(lambda i=i: (order.append(i), threading.current_thread().name)[1]) for i in range(5)]
    assert [f.result(timeout=10) for f in futures] == ["jobs-test"] * 5
    assert order == [0, 1, 2, 3, 4] and jobs.state is WorkerState.RUNNING
    assert jobs.shutdown(10) and not jobs.alive and jobs.state is WorkerState.STOPPED


def test_a_job_that_raises_hands_its_error_to_its_future_and_the_worker_goes_on():
    with JobWorker("jobs-test") as jobs:
        failing = jobs.submit(lambda: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            failing.result(timeout=10)
        assert jobs.submit(lambda: "next").result(timeout=10) == "next"
        assert jobs.state is WorkerState.RUNNING and jobs.error is None
    assert not jobs.alive


def test_stop_finishes_the_jobs_queued_before_it_then_refuses_more():
    jobs = JobWorker("jobs-test")
    gate = threading.Event()
    first = jobs.submit(gate.wait)
    queued = jobs.submit(lambda: "queued")
    jobs.stop()
    assert jobs.stopping and jobs.alive
    with pytest.raises(RuntimeError, match="stopped"):
        jobs.submit(lambda: None)
    gate.set()
    assert jobs.join(10)
    assert first.result() is True and queued.result() == "queued"


def test_stop_with_cancel_pending_drops_the_jobs_not_yet_started():
    jobs = JobWorker("jobs-test")
    started, gate = threading.Event(), threading.Event()
    running = jobs.submit(lambda: (started.set(), gate.wait(10))[1])
    waiting = jobs.submit(lambda: "never")
    assert started.wait(10)
    jobs.stop(cancel_pending=True)
    gate.set()
    assert jobs.join(10)
    assert running.result() is True and waiting.cancelled()
    with pytest.raises(CancelledError):
        waiting.result()


def test_a_worker_that_never_ran_stops_at_once():
    jobs = JobWorker("jobs-test")
    assert jobs.shutdown(0.1) and not jobs.alive
    with pytest.raises(RuntimeError):
        jobs.submit(lambda: None)


def test_leaving_the_with_block_on_an_error_drops_what_is_queued():
    started, gate = threading.Event(), threading.Event()
    opener = threading.Timer(0.2, gate.set)   # the job at hand ends a moment after the caller gives up
    with pytest.raises(KeyError), JobWorker("jobs-test") as jobs:
        running = jobs.submit(lambda: (started.set(), gate.wait(10))[1])
        later = jobs.submit(lambda: "never")
        assert started.wait(10)
        opener.start()
        raise KeyError("the caller gave up")
    opener.join()
    assert not jobs.alive and running.result() is True and later.cancelled()
