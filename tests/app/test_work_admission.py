"""Admission by work: the meter refuses a request only when the work ahead of it, its own included,
passes the budget at the measured rate, and measures that rate from what it got through."""

from __future__ import annotations

import time

import pytest

from app.batching import QueueFull
from app.work_admission import MIN_WINDOW_S, WorkMeter


def test_nothing_ahead_admits_any_request_and_past_the_budget_refuses_with_the_time_to_drain() -> None:
    meter = WorkMeter(budget_s=1.0, rate_px_s=1_000_000)
    with meter.admitted(3_000_000):  # 3 s of work, but nothing is ahead of it: taken
        assert meter.outstanding_px == 3_000_000
        with pytest.raises(QueueFull) as refused, meter.admitted(100):
            pass
        assert refused.value.retry_after == 3  # 3.0001 s ahead against a 1 s budget
        assert "AVATARS_QUEUE_WAIT_BUDGET_S" in str(refused.value) and "3.0 s of work is ahead" in str(refused.value)
    assert meter.outstanding_px == 0
    with meter.admitted(600_000), meter.admitted(300_000):  # 0.9 s in all: within the budget
        assert meter.outstanding_px == 900_000


def test_a_zero_budget_or_an_unmeasured_rate_refuses_nothing() -> None:
    for meter in (WorkMeter(budget_s=0.0, rate_px_s=1.0), WorkMeter(budget_s=1.0)):
        with meter.admitted(10**9), meter.admitted(10**9):
            pass


def test_the_rate_is_measured_from_work_done_per_busy_second() -> None:
    meter = WorkMeter(budget_s=1.0)
    with meter.admitted(500_000):
        time.sleep(MIN_WINDOW_S + 0.1)
    assert 500_000 / (MIN_WINDOW_S + 0.3) < meter.rate_px_s < 500_000 / MIN_WINDOW_S
    time.sleep(0.2)  # idle time is not busy time: it does not dilute the next measurement
    before = meter.rate_px_s
    with meter.admitted(1_000_000):
        time.sleep(MIN_WINDOW_S + 0.1)
    assert meter.rate_px_s > before  # twice the work in the same busy time
