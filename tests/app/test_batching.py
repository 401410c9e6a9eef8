"""The batching engine on its own: the pure batch-taking step and the async queue around it."""

from __future__ import annotations

import asyncio
import threading
from collections import deque

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from app.batching import (
    BatchFailed,
    BatchQueue,
    Job,
    JobExpired,
    QueueClosed,
    QueueFull,
    batch_order,
    take_batch,
)
from tests.app.conftest import until


def job(n: int, enqueued_at: float = 0.0, deadline: float = 100.0) -> Job:
    loop = asyncio.new_event_loop()
    future = loop.create_future()
    loop.close()
    return Job(torch.zeros(n, 2), future, enqueued_at=enqueued_at, deadline=deadline)


# -------------------------------------------------------------------------------- take_batch (pure)
def test_small_jobs_share_one_batch() -> None:
    pending = deque([job(1), job(2), job(3)])
    batch, expired = take_batch(pending, max_rows=8, now=1.0)
    assert [(s.start, s.stop) for s in batch] == [(0, 1), (0, 2), (0, 3)]
    assert not pending and not expired


def test_large_job_spans_batches_and_stays_at_the_head() -> None:
    big, small = job(10), job(2)
    pending = deque([big, small])
    first, _ = take_batch(pending, max_rows=4, now=1.0)
    assert [(s.job, s.start, s.stop) for s in first] == [(big, 0, 4)]
    second, _ = take_batch(pending, max_rows=4, now=1.0)
    assert [(s.start, s.stop) for s in second] == [(4, 8)]
    third, _ = take_batch(pending, max_rows=4, now=1.0)
    assert [(s.job, s.start, s.stop) for s in third] == [(big, 8, 10), (small, 0, 2)]
    assert not pending


def test_cancelled_jobs_are_skipped_and_expired_ones_returned() -> None:
    gone, late, ok = job(3), job(2, deadline=0.5), job(1)
    gone.cancelled = True
    pending = deque([gone, late, ok])
    batch, expired = take_batch(pending, max_rows=8, now=1.0)
    assert [s.job for s in batch] == [ok]
    assert expired == [late]


def test_a_started_job_is_finished_even_past_its_deadline() -> None:
    started = job(6, deadline=0.5)
    started.dispatched = 2
    batch, expired = take_batch(deque([started]), max_rows=8, now=1.0)
    assert [(s.start, s.stop) for s in batch] == [(2, 6)] and not expired


# ------------------------------------------------------------------------------------ the queue
class Recorder:
    """A QueueObserver that keeps every event, to check each is reported once."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.waits: list[float] = []  # each job_started's waited_s, in order

    @property
    def batches(self) -> list[tuple[str, int]]:
        """(lane, rows) of every forward pass that succeeded, in order."""
        return [(e[1], e[2]) for e in self.events if e[0] == "done"]

    @property
    def sizes(self) -> list[int]:
        return [rows for _, rows in self.batches]

    @property
    def dropped_rows(self) -> int:
        return sum(e[2] for e in self.events if e[0] == "dropped")

    def batch_done(self, lane: str, rows: int, seconds: float) -> None:
        self.events.append(("done", lane, rows))

    def batch_failed(self, lane: str, rows: int) -> None:
        self.events.append(("failed", lane, rows))

    def rows_dropped(self, lane: str, rows: int, reason: str) -> None:
        self.events.append(("dropped", lane, rows, reason))

    def job_started(self, lane: str, waited_s: float) -> None:
        self.waits.append(waited_s)
        self.events.append(("started", lane))


def render_ids(latents: torch.Tensor) -> np.ndarray:
    """Fake generator: image i is filled with the first latent value of row i."""
    return np.broadcast_to(latents[:, :1, None, None].numpy(), (len(latents), 2, 2, 3)).astype(np.float32).copy()


def make_queue(render=render_ids, **kw) -> BatchQueue:
    """A queue with small limits; pass `observer=Recorder()` to see its batches and drops."""
    options = dict(max_batch_size=4, max_wait_s=0.01, max_pending_rows=16, timeout_s=5.0)
    options.update(kw)
    renderers = render if isinstance(render, dict) else {"a": render}
    return BatchQueue(renderers, **options)


def rows(*values: float) -> torch.Tensor:
    return torch.tensor(values)[:, None].repeat(1, 2)


class Gate:
    """Holds the generator thread until opened, and says when a batch has reached it."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.batches = 0  # forward passes that reached the gate

    def wait(self, timeout_s: float = 5.0) -> None:
        self.batches += 1
        self.opened.wait(timeout_s)

    def set(self) -> None:
        self.opened.set()

    async def reached(self, batches: int = 1) -> None:
        await until(lambda: self.batches >= batches, what=f"{batches} batch(es) at the gate")


@pytest.mark.anyio
async def test_each_request_gets_its_own_rows_back_in_order() -> None:
    recorder = Recorder()
    queue = make_queue(observer=recorder)
    queue.start()
    results = await asyncio.gather(
        queue.generate(rows(1, 2, 3, 4, 5, 6)), queue.generate(rows(7)), queue.generate(rows(8, 9))
    )
    await queue.close()
    assert [r[:, 0, 0, 0].tolist() for r in results] == [[1, 2, 3, 4, 5, 6], [7], [8, 9]]
    assert max(recorder.sizes) <= 4
    assert sum(recorder.sizes) == 9 and len(recorder.sizes) < 9


@pytest.mark.anyio
async def test_full_queue_refuses_at_once_with_retry_after() -> None:
    gate = Gate()

    def slow(latents: torch.Tensor) -> np.ndarray:
        gate.wait()
        return render_ids(latents)

    queue = make_queue(slow, max_pending_rows=4, max_batch_size=1)
    queue.start()
    first = asyncio.ensure_future(queue.generate(rows(1)))
    await gate.reached()  # the worker holds row 1 at the gate
    waiting = [asyncio.ensure_future(queue.generate(rows(i))) for i in (2, 3, 4, 5)]
    await until(lambda: queue.pending_rows == 4, what="4 rows queued")
    with pytest.raises(QueueFull) as refused:
        queue.submit(rows(6))
    assert refused.value.retry_after >= 1
    assert queue.pending_rows == 4  # bounded: the refused row never entered
    gate.set()
    assert [r[0, 0, 0, 0] for r in await asyncio.gather(first, *waiting)] == [1, 2, 3, 4, 5]
    await queue.close()


@pytest.mark.anyio
async def test_cancelled_work_never_reaches_the_generator() -> None:
    seen: list[float] = []
    gate = Gate()

    def record(latents: torch.Tensor) -> np.ndarray:
        gate.wait()
        seen.extend(latents[:, 0].tolist())
        return render_ids(latents)

    recorder = Recorder()
    queue = make_queue(record, max_batch_size=1, observer=recorder)
    queue.start()
    first = asyncio.ensure_future(queue.generate(rows(1)))
    await gate.reached()
    doomed = asyncio.ensure_future(queue.generate(rows(2, 3)))
    await until(lambda: queue.pending_rows == 2, what="2 rows queued")
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert queue.pending_rows == 0 and recorder.dropped_rows == 2
    gate.set()
    await first
    await queue.close()
    assert seen == [1]


@pytest.mark.anyio
async def test_a_request_that_waits_too_long_gets_an_error_not_a_hang() -> None:
    gate = Gate()
    queue = make_queue(lambda z: (gate.wait(), render_ids(z))[1], max_batch_size=1, timeout_s=0.2)
    queue.start()
    held = asyncio.ensure_future(queue.generate(rows(1)))
    await gate.reached()
    with pytest.raises(JobExpired):
        await queue.generate(rows(2))
    assert queue.pending_rows == 0
    gate.set()
    with pytest.raises(JobExpired):  # row 1 was held past its own deadline too
        await held
    await queue.close()


@pytest.mark.anyio
async def test_failing_batch_fails_only_its_requests_and_the_worker_keeps_serving() -> None:
    calls = 0

    def flaky(latents: torch.Tensor) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("device lost")
        return render_ids(latents)

    recorder = Recorder()
    queue = make_queue(flaky, observer=recorder)
    queue.start()
    with pytest.raises(BatchFailed, match="device lost"):
        await queue.generate(rows(1, 2))
    assert (await queue.generate(rows(3)))[0, 0, 0, 0] == 3
    assert [e for e in recorder.events if e[0] == "failed"] == [("failed", "a", 2)]
    await queue.close()


@pytest.mark.anyio
async def test_out_of_memory_is_retried_in_halves() -> None:
    tried: list[int] = []

    def small_only(latents: torch.Tensor) -> np.ndarray:
        tried.append(len(latents))
        if len(latents) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return render_ids(latents)

    recorder = Recorder()
    queue = make_queue(small_only, max_wait_s=0.05, observer=recorder)
    queue.start()
    result = await queue.generate(rows(1, 2, 3, 4))
    assert result[:, 0, 0, 0].tolist() == [1, 2, 3, 4]
    assert tried == [4, 2, 1, 1, 2, 1, 1]  # 4 -> 2 + 2 -> 1 + 1 + 1 + 1: three splits
    assert recorder.sizes == [4]  # one forward pass as far as the observer can tell
    await queue.close()


@pytest.mark.anyio
async def test_wrong_output_count_fails_the_batch() -> None:
    queue = make_queue(lambda z: render_ids(z)[:-1])
    queue.start()
    with pytest.raises(BatchFailed, match="returned 1 images for 2 latents"):
        await queue.generate(rows(1, 2))
    await queue.close()


@pytest.mark.anyio
async def test_close_finishes_queued_work_then_refuses_new_work() -> None:
    recorder = Recorder()
    queue = make_queue(max_batch_size=2, max_wait_s=0.0, observer=recorder)
    queue.start()
    pending = [asyncio.ensure_future(queue.generate(rows(i))) for i in range(6)]
    await until(lambda: len(recorder.batches) + queue.pending_rows > 0, what="work queued")
    await queue.close()
    assert [r[0, 0, 0, 0] for r in await asyncio.gather(*pending)] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(QueueClosed):
        queue.submit(rows(9))


@pytest.mark.anyio
async def test_batch_waits_for_company_up_to_max_wait() -> None:
    # a long window, closed early by a full batch: no guessed timing either way
    recorder = Recorder()
    queue = make_queue(max_batch_size=2, max_wait_s=30.0, observer=recorder)
    queue.start()
    first = asyncio.ensure_future(queue.generate(rows(1)))
    await until(lambda: queue.pending_rows == 1, what="the first row queued")
    second = asyncio.ensure_future(queue.generate(rows(2)))
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    await queue.close()
    assert recorder.sizes == [2]


@pytest.mark.anyio
async def test_a_lone_row_goes_when_the_window_closes() -> None:
    recorder = Recorder()
    queue = make_queue(max_batch_size=8, max_wait_s=0.05, observer=recorder)
    queue.start()
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(queue.generate(rows(1)), 5)
    assert asyncio.get_running_loop().time() - started >= 0.05
    await queue.close()
    assert recorder.sizes == [1]
    # the wait reported to the observer (what autoscaling watches) is the window it sat out, not just >= 0
    (waited,) = recorder.waits
    assert waited >= 0.05 - 1e-9, waited


# ------------------------------------------------------------------------- lanes (one per release)
def tagged(tag: float, seen: list[tuple[float, int]], gate: Gate | None = None):
    """A lane's generator: images carry the lane's tag, and every batch is logged as (tag, rows)."""

    def render(latents: torch.Tensor) -> np.ndarray:
        if gate is not None:
            gate.wait(5)
        seen.append((tag, len(latents)))
        return np.full((len(latents), 2, 2, 3), tag, dtype=np.float32)

    return render


@pytest.mark.anyio
async def test_batches_never_mix_lanes_and_each_lane_draws_its_own_images() -> None:
    seen: list[tuple[float, int]] = []
    recorder = Recorder()
    queue = make_queue(
        {"a": tagged(1.0, seen), "b": tagged(2.0, seen)}, max_batch_size=8, max_wait_s=0.05, observer=recorder
    )
    queue.start()
    results = await asyncio.gather(
        queue.generate(rows(0, 0), "a"), queue.generate(rows(0), "b"), queue.generate(rows(0, 0, 0), "a")
    )
    await queue.close()
    assert [r[:, 0, 0, 0].tolist() for r in results] == [[1, 1], [2], [1, 1, 1]]
    assert sorted(seen) == [(1.0, 5), (2.0, 1)]  # one batch per lane, none mixed
    assert sorted(recorder.batches) == [("a", 5), ("b", 1)]


@pytest.mark.anyio
async def test_a_flooded_lane_does_not_starve_another() -> None:
    """Lane a holds 12 full batches; a request for b arriving behind them is served after at most
    one more batch of a, not after all of them."""
    seen: list[tuple[float, int]] = []
    gate = Gate()
    queue = make_queue(
        {"a": tagged(1.0, seen, gate), "b": tagged(2.0, seen, gate)},
        max_batch_size=4, max_wait_s=0.0, max_pending_rows=64,
    )  # fmt: skip
    queue.start()
    flood = [asyncio.ensure_future(queue.generate(rows(*range(4)), "a")) for _ in range(12)]
    await gate.reached()  # the worker took a's first batch and holds it at the gate
    await until(lambda: queue.lane_pending_rows("a") == 44, what="the rest of the flood queued")
    b = asyncio.ensure_future(queue.generate(rows(9), "b"))
    await until(lambda: queue.lane_pending_rows("b") == 1, what="b queued behind the flood")
    gate.set()
    await asyncio.gather(b, *flood)
    await queue.close()
    order = [tag for tag, _ in seen]
    assert order.index(2.0) <= 2, order  # a (in flight), at most one more a, then b
    assert len(order) == 13


@pytest.mark.anyio
async def test_each_lane_has_its_own_bound() -> None:
    gate = Gate()
    seen: list[tuple[float, int]] = []
    queue = make_queue({"a": tagged(1.0, seen, gate), "b": tagged(2.0, seen, gate)}, max_pending_rows=8)
    queue.start()
    held = [asyncio.ensure_future(queue.generate(rows(*range(4)), "a")) for _ in range(2)]
    await gate.reached()  # one batch of 4 at the gate, 4 rows waiting
    more = asyncio.ensure_future(queue.generate(rows(*range(4)), "a"))
    await until(lambda: queue.lane_pending_rows("a") == 8, what="lane a full")
    with pytest.raises(QueueFull):
        queue.submit(rows(*range(8)), "a")  # a is full...
    other = asyncio.ensure_future(queue.generate(rows(*range(8)), "b"))  # ...and b still has all its room
    gate.set()
    await asyncio.gather(*held, more, other)
    await queue.close()


@pytest.mark.anyio
async def test_the_observer_counts_each_event_once_where_it_happens() -> None:
    calls = 0
    gate = Gate()

    def flaky(latents: torch.Tensor) -> np.ndarray:
        nonlocal calls
        calls += 1
        gate.wait()
        if calls == 2:
            raise RuntimeError("device lost")
        return render_ids(latents)

    recorder = Recorder()
    queue = make_queue(flaky, max_batch_size=3, max_wait_s=0.0, observer=recorder, timeout_s=5.0)
    queue.start()
    first = asyncio.ensure_future(queue.generate(rows(1, 2, 3)))  # batch 1: held at the gate
    await gate.reached()
    # three one-row requests and a 4-row one: batch 2 takes the three and fails
    doomed = [asyncio.ensure_future(queue.generate(rows(i))) for i in range(3)]
    big = asyncio.ensure_future(queue.generate(rows(7, 7, 7, 7)))
    await until(lambda: queue.pending_rows == 7, what="7 rows queued")
    gate.set()
    await first
    outcomes = await asyncio.gather(*doomed, return_exceptions=True)
    assert all(isinstance(o, BatchFailed) for o in outcomes)
    assert (await big).shape[0] == 4  # the failure did not touch it
    await queue.close()
    failed = [e for e in recorder.events if e[0] == "failed"]
    assert failed == [("failed", "a", 3)]  # one failed forward pass, however many requests it held
    assert [e for e in recorder.events if e[0] == "started"] == [("started", "a")] * 5  # once per request
    assert [e for e in recorder.events if e[0] == "dropped"] == []  # nothing queued was discarded


@pytest.mark.anyio
async def test_dropped_rows_are_only_the_undispatched_ones_and_timeouts_count() -> None:
    gate = Gate()
    recorder = Recorder()
    queue = make_queue(
        lambda z: (gate.wait(), render_ids(z))[1], max_batch_size=2, max_wait_s=0.0, observer=recorder, timeout_s=0.3
    )
    queue.start()
    big = asyncio.ensure_future(queue.generate(rows(1, 2, 3, 4, 5)))  # 2 rows go to the generator at once
    await gate.reached()
    big.cancel()  # client gone: 3 rows never dispatched
    with pytest.raises(asyncio.CancelledError):
        await big
    late = asyncio.ensure_future(queue.generate(rows(8, 9)))  # waits behind the gate past its 0.3 s
    with pytest.raises(JobExpired):
        await late
    gate.set()
    await queue.close()
    drops = [e for e in recorder.events if e[0] == "dropped"]
    assert drops == [("dropped", "a", 3, "client_gone"), ("dropped", "a", 2, "timeout")]


# ------------------------------------------------------------------ take_batch, property-based
@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=12),
    cancelled=st.sets(st.integers(0, 11)),
    expired=st.sets(st.integers(0, 11)),
    max_rows=st.integers(1, 33),
)
def test_take_batch_delivers_every_live_row_once_in_order(
    sizes: list[int], cancelled: set[int], expired: set[int], max_rows: int
) -> None:
    jobs = [job(n, deadline=0.5 if i in expired else 100.0) for i, n in enumerate(sizes)]
    for i in cancelled & set(range(len(jobs))):
        jobs[i].cancelled = True
    pending = deque(jobs)
    taken: list[tuple[int, int]] = []  # (job index, row) in the order they reach the generator
    refused: list[Job] = []
    while pending:
        live_rows = sum(j.undispatched for j in pending if not j.cancelled)
        batch, gone = take_batch(pending, max_rows=max_rows, now=1.0)
        refused += gone
        assert sum(s.stop - s.start for s in batch) <= max_rows  # never over the limit
        assert batch or not pending  # progress whenever work is left
        for s in batch:
            taken += [(jobs.index(s.job), row) for row in range(s.start, s.stop)]
        # the pending count stays right: what is left is what was live minus what was taken or refused
        left = sum(j.undispatched for j in pending if not j.cancelled)
        assert left == live_rows - sum(s.stop - s.start for s in batch) - sum(j.size for j in gone)
    live = [i for i in range(len(jobs)) if i not in cancelled and i not in expired]
    assert taken == [(i, row) for i in live for row in range(sizes[i])]  # each row once, in arrival order
    expected_refused = {i for i in expired if i < len(jobs)} - cancelled  # a cancelled job is dropped silently
    assert sorted(jobs.index(j) for j in refused) == sorted(expected_refused)


# ------------------------------------------------------------------------------------ cheap first
def test_cheap_first_order_puts_started_and_aged_jobs_ahead_then_the_smallest() -> None:
    big, small, middle = job(64, enqueued_at=0.5), job(1, enqueued_at=0.6), job(8, enqueued_at=0.7)
    assert batch_order(deque([big, small, middle]), now=1.0, aged_after_s=None) == [big, small, middle]
    assert batch_order(deque([big, small, middle]), now=1.0, aged_after_s=1.0) == [small, middle, big]
    assert batch_order(deque([big, small, middle]), now=1.5, aged_after_s=1.0) == [big, small, middle]  # big aged
    big.dispatched = 4  # started: finished first, whatever its size
    assert batch_order(deque([big, small, middle]), now=1.0, aged_after_s=1.0)[0] is big


@pytest.mark.anyio
async def test_cheap_first_one_row_passes_a_bulk_job_queued_before_it() -> None:
    gate = Gate()
    batches: list[list[float]] = []

    def held(latents: torch.Tensor) -> np.ndarray:
        gate.wait()
        batches.append(latents[:, 0].tolist())
        return render_ids(latents)

    queue = make_queue(held, max_batch_size=8, max_pending_rows=100, cheap_first_after_s=10.0)
    queue.start()
    first = asyncio.ensure_future(queue.generate(rows(0)))
    await gate.reached()  # the worker is busy with row 0
    bulk = asyncio.ensure_future(queue.generate(torch.arange(32.0)[:, None].repeat(1, 2)))
    await until(lambda: queue.pending_rows == 32, what="the bulk job queued")
    one = asyncio.ensure_future(queue.generate(rows(99)))
    await until(lambda: queue.pending_rows == 33, what="the one-row job queued behind it")
    gate.set()
    results = await asyncio.gather(first, bulk, one)
    assert results[2][0, 0, 0, 0] == 99 and results[1][:, 0, 0, 0].tolist() == list(range(32))
    assert batches[1] == [99.0, *range(7)]  # the batch after row 0: the one row, then the bulk job's first 7
    await queue.close()
