"""The encoder pool: smallest work first, failures handed back, queued work finished on shutdown."""

from __future__ import annotations

import threading

import pytest

from app.encoder_pool import EncoderPool


def test_idle_threads_take_the_smallest_job_first_and_equals_in_arrival_order() -> None:
    pool = EncoderPool(1)
    gate = threading.Event()
    order: list[str] = []
    blocker = pool.submit(0, gate.wait)  # holds the only thread while the others queue
    arrivals = ((512 * 512, "big"), (64 * 64, "small"), (256 * 256, "mid"), (64 * 64, "small2"))
    jobs = [pool.submit(work, lambda name=name: order.append(name)) for work, name in arrivals]
    gate.set()
    for job in (blocker, *jobs):
        job.result(timeout=5)
    assert order == ["small", "small2", "mid", "big"]
    pool.shutdown()


def test_a_failing_job_hands_its_exception_to_the_caller_and_the_pool_goes_on() -> None:
    pool = EncoderPool(2)

    def broken() -> None:
        raise ValueError("bad image")

    with pytest.raises(ValueError, match="bad image"):
        pool.submit(1, broken).result(timeout=5)
    assert pool.submit(1, lambda: 42).result(timeout=5) == 42
    pool.shutdown()


def test_shutdown_finishes_queued_jobs_then_refuses_new_ones() -> None:
    pool = EncoderPool(1)
    gate = threading.Event()
    first = pool.submit(0, gate.wait)
    queued = pool.submit(5, lambda: "done")
    closer = threading.Thread(target=pool.shutdown)
    closer.start()
    gate.set()
    closer.join(timeout=5)
    assert first.result(timeout=1) is True and queued.result(timeout=1) == "done"
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(1, lambda: None)
