"""Admission by work: a request is taken only if the work ahead of it fits the queue-wait budget.

Counting requests (the in-flight limit) or images (the queue bound) treats a one-avatar GET and a
64-avatar 256 px POST alike, though the second costs a hundred times the first, most of it in PNG
encoding rather than in the generator. Here each request states its work in the per-request cap's
unit, pixels encoded (an upscaler's work included, `ServedRelease.work_pixels`); the meter keeps the
work admitted and not yet answered, and this replica's measured rate in the same unit. A request
that would find more than `budget_s` of work ahead of it (its own included) is refused at once with
503 and a Retry-After of the time the excess needs to drain. Nothing is refused while nothing is
ahead, so any request the cap allows can run on an idle replica.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

from app.batching import QueueFull

MIN_WINDOW_S = 0.5  # busy time a rate measurement spans, so one short request does not swing it


class WorkMeter:
    """Work admitted and not yet answered, and the rate this replica gets through it."""

    def __init__(self, budget_s: float, rate_px_s: float = 0.0) -> None:
        self.budget_s = budget_s  # 0: admit everything (the in-flight limit and queue bounds still hold)
        self.rate_px_s = rate_px_s  # smoothed; 0 until measured or seeded
        self.outstanding_px = 0
        self._last = time.monotonic()
        self._window_busy_s = 0.0
        self._window_done_px = 0

    def _tick(self) -> None:
        now = time.monotonic()
        if self.outstanding_px > 0:
            self._window_busy_s += now - self._last
        self._last = now

    def ahead_s(self, work_px: int = 0) -> float:
        """Seconds of work queued ahead, plus `work_px`, at the measured rate (0 while unmeasured)."""
        return (self.outstanding_px + work_px) / self.rate_px_s if self.rate_px_s else 0.0

    @contextlib.contextmanager
    def admitted(self, work_px: int) -> Iterator[None]:
        """Hold `work_px` of work for the block, or raise `QueueFull` if it does not fit the budget."""
        self._tick()
        if self.budget_s and self.outstanding_px > 0 and self.ahead_s(work_px) > self.budget_s:
            ahead = self.ahead_s()
            retry = max(1, math.ceil(self.ahead_s(work_px) - self.budget_s))
            raise QueueFull(retry, f"about {ahead:.1f} s of work is ahead, past the {self.budget_s:g} s budget "
                                   "(AVATARS_QUEUE_WAIT_BUDGET_S)")  # fmt: skip
        self.outstanding_px += work_px
        try:
            yield
        finally:
            self._tick()
            self.outstanding_px -= work_px
            self._window_done_px += work_px
            if self._window_busy_s >= MIN_WINDOW_S:
                rate = self._window_done_px / self._window_busy_s
                self.rate_px_s = rate if not self.rate_px_s else 0.7 * self.rate_px_s + 0.3 * rate
                self._window_busy_s, self._window_done_px = 0.0, 0
