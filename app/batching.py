"""The micro-batching queue: every generator call in the service goes through here.

Requests submit latents (a "job" of n rows) to a lane, one lane per model release. One worker
collects rows from the head of a lane until `max_batch_size` rows are pending or `max_wait_s` has
passed since the oldest of them arrived, runs one forward pass in a dedicated thread, and hands
every job its rows; a job of many rows may span several batches and several small jobs share one.
A batch never mixes lanes (each release has its own generator), and lanes with work take turns,
batch by batch, so a flood on one release delays another by at most one batch. A release with an
HD upscaler has a second lane for it (`v3/hd`): its rows are 64 px avatars instead of latents, and
it may have its own batch size and bound, since one of its rows costs far more than a latent.

Each lane is bounded in rows, so memory is bounded (lanes x `max_pending_rows`) and overload is
refused at once (`QueueFull`, the HTTP layer's 503) without one release's flood filling the room
of another (work is bounded before that, per request: app/work_admission.py). With
`cheap_first_after_s`, cheap jobs go first within a lane (`batch_order`), so one avatar does not wait
behind a bulk job queued before it, for longer than that. Jobs that were cancelled
(client gone) or waited past their deadline are dropped before they reach the generator. A failing
batch fails only its own jobs, after retrying in halves when the error is out-of-memory. Every event
is reported once, where it happens, to one `QueueObserver` (the service's metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import torch

logger = logging.getLogger(__name__)

RenderFn = Callable[[torch.Tensor], np.ndarray]  # rows (latents, or images for an upscaler) -> uint8 images
DropReason = Literal["client_gone", "timeout", "batch_failed", "shutdown"]


class QueueObserver(Protocol):
    """What the queue reports, each event once, at the place it happens."""

    def batch_done(self, lane: str, rows: int, seconds: float) -> None:
        """One forward pass of `rows` images succeeded."""

    def batch_failed(self, lane: str, rows: int) -> None:
        """One forward pass failed (after any out-of-memory retries); its jobs fail."""

    def rows_dropped(self, lane: str, rows: int, reason: DropReason) -> None:
        """Queued rows that will never reach the generator; rows already dispatched are not counted."""

    def job_started(self, lane: str, waited_s: float) -> None:
        """A request's first rows went into a batch, `waited_s` after it was queued (what autoscaling watches)."""


class _NoObserver:
    def batch_done(self, lane: str, rows: int, seconds: float) -> None:
        pass

    def batch_failed(self, lane: str, rows: int) -> None:
        pass

    def rows_dropped(self, lane: str, rows: int, reason: DropReason) -> None:
        pass

    def job_started(self, lane: str, waited_s: float) -> None:
        pass


class QueueFull(Exception):
    """Too many images, or too much work, are waiting; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int, why: str = "generator queue is full") -> None:
        super().__init__(f"{why}; retry in {retry_after} s")
        self.retry_after = retry_after


class QueueClosed(Exception):
    """The service is shutting down and takes no new work."""


class JobExpired(Exception):
    """A job waited longer than its deadline before the generator reached it."""


class BatchFailed(Exception):
    """The forward pass that held this job's rows failed."""


@dataclass(eq=False)
class Job:
    """One request's latents and where its images accumulate."""

    latents: torch.Tensor  # (n, ...) rows on the CPU: latents, or 64 px uint8 avatars for an upscaler lane
    future: asyncio.Future[np.ndarray]
    enqueued_at: float
    deadline: float
    lane: str = ""
    dispatched: int = 0  # rows already handed to a batch
    delivered: int = 0  # rows whose images came back
    output: np.ndarray | None = None
    cancelled: bool = False

    @property
    def size(self) -> int:
        return self.latents.shape[0]

    @property
    def undispatched(self) -> int:
        return self.size - self.dispatched

    def deliver(self, start: int, images: np.ndarray) -> None:
        if self.future.done():
            return
        if self.output is None:
            self.output = np.empty((self.size, *images.shape[1:]), dtype=images.dtype)
        self.output[start : start + len(images)] = images
        self.delivered += len(images)
        if self.delivered == self.size:
            self.future.set_result(self.output)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


@dataclass(frozen=True)
class Slice:
    """Rows [start, stop) of a job, as placed in one batch."""

    job: Job
    start: int
    stop: int


def batch_order(pending: deque[Job], now: float, aged_after_s: float | None) -> list[Job]:
    """The order a lane's jobs get rows. Without `aged_after_s`: arrival order. With it, cheap work
    first: jobs already started, and jobs that waited `aged_after_s` or longer, in arrival order; then
    the rest smallest first, so a one-avatar request passes a 64-avatar one queued before it, and the
    64-avatar one waits at most `aged_after_s` for that. Which batch a row lands in never changes its
    pixels (tests/test_golden_images.py), so the order is free to choose."""
    if aged_after_s is None:
        return list(pending)

    def priority(job: Job) -> tuple[int, int, float]:
        if job.dispatched or now - job.enqueued_at >= aged_after_s:
            return (0, 0, job.enqueued_at)
        return (1, job.undispatched, job.enqueued_at)

    return sorted(pending, key=priority)


def take_batch(
    pending: deque[Job], max_rows: int, now: float, aged_after_s: float | None = None
) -> tuple[list[Slice], list[Job]]:
    """Take up to `max_rows` rows from `pending` in `batch_order`; pure apart from mutating the queue.

    Cancelled jobs are dropped without a trace; jobs past their deadline that never started are
    removed and returned as expired (the caller fails them). A job larger than the room left is
    split: its first rows go into this batch and it stays queued, started, for the next one.
    """
    expired: list[Job] = []
    for job in list(pending):
        if job.cancelled:
            pending.remove(job)
        elif now > job.deadline and job.dispatched == 0:
            pending.remove(job)
            expired.append(job)
    batch: list[Slice] = []
    room = max_rows
    for job in batch_order(pending, now, aged_after_s):
        if not room:
            break
        take = min(room, job.undispatched)
        batch.append(Slice(job, job.dispatched, job.dispatched + take))
        job.dispatched += take
        room -= take
        if job.undispatched == 0:
            pending.remove(job)
    return batch, expired


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


@dataclass(frozen=True)
class LaneLimits:
    """A lane's own batch size and bound on waiting rows (else the queue's)."""

    max_batch_size: int
    max_pending_rows: int


@dataclass
class Lane:
    """One release's (or one upscaler's) jobs, waiting in arrival order."""

    name: str
    render: RenderFn
    max_batch_size: int
    max_pending_rows: int
    pending: deque[Job] = field(default_factory=deque)
    pending_rows: int = 0  # undispatched rows of live jobs: the bounded quantity
    rows_per_s: float = 0.0  # smoothed throughput, for Retry-After


class BatchQueue:
    """Bounded async queue of latent rows in front of one generator per lane; see the module docstring."""

    def __init__(
        self,
        renderers: Mapping[str, RenderFn],
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_pending_rows: int,
        timeout_s: float,
        observer: QueueObserver | None = None,
        lane_limits: Mapping[str, LaneLimits] | None = None,
        cheap_first_after_s: float | None = None,
    ) -> None:
        if not renderers:
            raise ValueError("a batch queue needs at least one lane")
        limits = lane_limits or {}
        default = LaneLimits(max_batch_size, max_pending_rows)
        self._lanes: dict[str, Lane] = {}
        for name, render in renderers.items():
            own = limits.get(name, default)
            self._lanes[name] = Lane(name, render, own.max_batch_size, own.max_pending_rows)
        self._order = list(self._lanes.values())
        self._turn = 0  # index in _order of the lane that is served next when several are ready
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_pending_rows = max_pending_rows  # per lane
        self.timeout_s = timeout_s
        self.cheap_first_after_s = cheap_first_after_s  # None: arrival order within a lane
        self._observer: QueueObserver = observer or _NoObserver()
        self._arrived = asyncio.Event()
        self._closing = False
        self._worker: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generator")

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="batch-worker")

    async def close(self, timeout_s: float = 30.0) -> None:
        """Stop taking work, finish what is queued (up to `timeout_s`), then stop the worker."""
        self._closing = True
        self._arrived.set()
        if self._worker is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), timeout_s)
            except TimeoutError:
                logger.warning("shutdown: %d queued images abandoned after %.0f s", self.pending_rows, timeout_s)
                self._worker.cancel()
                for lane in self._order:
                    for job in lane.pending:
                        self._discard(job, "shutdown")
                        job.fail(QueueClosed("service shut down before this request was served"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def lanes(self) -> list[str]:
        return [lane.name for lane in self._order]

    @property
    def pending_rows(self) -> int:
        return sum(lane.pending_rows for lane in self._order)

    def lane_pending_rows(self, lane: str) -> int:
        return self._lanes[lane].pending_rows

    @property
    def accepting(self) -> bool:
        return not self._closing

    # -- submitting ------------------------------------------------------------------------
    def _lane(self, name: str | None) -> Lane:
        if name is None:
            if len(self._order) != 1:
                raise ValueError(f"several lanes {self.lanes}: name one")
            return self._order[0]
        return self._lanes[name]

    def submit(self, latents: torch.Tensor, lane: str | None = None) -> Job:
        """Queue a job on `lane` (optional when there is only one) or refuse it at once; never blocks."""
        if self._closing:
            raise QueueClosed("service is shutting down")
        target = self._lane(lane)
        n = latents.shape[0]
        if target.pending_rows + n > target.max_pending_rows:
            raise QueueFull(self.retry_after(n, target.name))
        loop = asyncio.get_running_loop()
        now = loop.time()
        job = Job(latents, loop.create_future(), enqueued_at=now, deadline=now + self.timeout_s, lane=target.name)
        target.pending.append(job)
        target.pending_rows += n
        self._arrived.set()
        return job

    def cancel(self, job: Job, reason: DropReason = "client_gone") -> None:
        """Drop a job's undispatched rows because its client left or gave up."""
        if job.cancelled or job.future.done():
            return
        self._discard(job, reason)
        job.future.cancel()

    def _discard(self, job: Job, reason: DropReason) -> None:
        """Take a job's remaining rows out of its lane's count; `take_batch` skips it from now on."""
        if job.cancelled:
            return
        job.cancelled = True
        self._lanes[job.lane].pending_rows -= job.undispatched
        self._dropped(job, reason)

    def _dropped(self, job: Job, reason: DropReason) -> None:
        if job.undispatched:
            self._observer.rows_dropped(job.lane, job.undispatched, reason)

    async def generate(self, latents: torch.Tensor, lane: str | None = None) -> np.ndarray:
        """Images for `latents`, (n, R, R, 3) uint8; raises QueueFull, QueueClosed, JobExpired or BatchFailed."""
        job = self.submit(latents, lane)
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), self.timeout_s)
        except TimeoutError:
            self.cancel(job, "timeout")
            raise JobExpired(f"no result within {self.timeout_s:.0f} s") from None
        except asyncio.CancelledError:
            self.cancel(job, "client_gone")
            raise

    def seed_rate(self, lane: str, rows_per_s: float) -> None:
        """A lane's rate before its first batch is measured (the service's warm-up times one)."""
        if not self._lanes[lane].rows_per_s:
            self._lanes[lane].rows_per_s = rows_per_s

    def retry_after(self, extra_rows: int = 0, lane: str | None = None) -> int:
        """Seconds until the whole backlog (plus `extra_rows` on `lane`) should have drained, each
        lane at its own measured rate (an upscaler row costs far more than a generator row)."""
        seconds = 0.0
        for each in self._order:
            rows = each.pending_rows + (extra_rows if each.name == lane else 0)
            seconds += rows / (each.rows_per_s or float(each.max_batch_size))
        return max(1, min(60, math.ceil(seconds)))

    # -- the worker ------------------------------------------------------------------------
    def _ready_lane(self, now: float) -> Lane | None:
        """The next lane, in turn, whose batch is full or whose oldest row has waited `max_wait_s`."""
        for i in range(len(self._order)):
            lane = self._order[(self._turn + i) % len(self._order)]
            if not lane.pending:
                continue
            if self._closing or lane.pending_rows >= lane.max_batch_size:
                return lane
            if now >= lane.pending[0].enqueued_at + self.max_wait_s:
                return lane
        return None

    async def _next_batch(self) -> tuple[Lane, list[Slice]] | None:
        """Wait for rows, then for some lane's batch to fill or its oldest row's wait to run out."""
        loop = asyncio.get_running_loop()
        while True:
            waiting = [lane for lane in self._order if lane.pending]
            if not waiting:
                if self._closing:
                    return None
                self._arrived.clear()
                await self._arrived.wait()
                continue
            now = loop.time()
            lane = self._ready_lane(now)
            if lane is None:
                remaining = min(w.pending[0].enqueued_at for w in waiting) + self.max_wait_s - now
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), max(remaining, 0.0))
                continue
            self._turn = (self._order.index(lane) + 1) % len(self._order)
            now = loop.time()
            slices, expired = take_batch(lane.pending, lane.max_batch_size, now, self.cheap_first_after_s)
            lane.pending_rows -= sum(s.stop - s.start for s in slices)
            for piece in slices:
                if piece.start == 0:
                    self._observer.job_started(lane.name, now - piece.job.enqueued_at)
            for job in expired:
                lane.pending_rows -= job.undispatched
                self._dropped(job, "timeout")
                job.fail(JobExpired(f"waited over {self.timeout_s:.0f} s for the generator"))
            if slices:
                return lane, slices

    def _forward(self, render: RenderFn, latents: torch.Tensor) -> np.ndarray:
        """One forward pass; on out-of-memory, retry the two halves (recursively) before giving up."""
        try:
            images = render(latents)
        except Exception as exc:
            if not is_out_of_memory(exc) or latents.shape[0] == 1:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = latents.shape[0] // 2
            logger.warning(
                "out of memory at batch %d; retrying as %d + %d", latents.shape[0], half, latents.shape[0] - half
            )
            return np.concatenate([self._forward(render, latents[:half]), self._forward(render, latents[half:])])
        if len(images) != latents.shape[0]:
            raise RuntimeError(f"generator returned {len(images)} images for {latents.shape[0]} latents")
        return images

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            if batch is None:
                return
            lane, slices = batch
            latents = torch.cat([s.job.latents[s.start : s.stop] for s in slices])
            started = time.perf_counter()
            try:
                images = await loop.run_in_executor(self._executor, self._forward, lane.render, latents)
            except Exception as exc:
                self._observer.batch_failed(lane.name, len(latents))
                logger.exception(
                    "%s: batch of %d images failed; failing its %d requests", lane.name, len(latents), len(slices)
                )
                error = BatchFailed(f"generator failed: {type(exc).__name__}: {exc}")
                for s in slices:
                    self._discard(s.job, "batch_failed")  # rows of it still queued would only fail again
                    s.job.fail(error)
                continue
            seconds = time.perf_counter() - started
            self._record(lane.name, len(latents), seconds)
            offset = 0
            for s in slices:
                n = s.stop - s.start
                s.job.deliver(s.start, images[offset : offset + n])
                offset += n

    def _record(self, lane: str, rows: int, seconds: float) -> None:
        rate = rows / max(seconds, 1e-6)
        target = self._lanes[lane]
        target.rows_per_s = rate if not target.rows_per_s else 0.8 * target.rows_per_s + 0.2 * rate
        self._observer.batch_done(lane, rows, seconds)
