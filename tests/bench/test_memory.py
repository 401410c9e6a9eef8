"""bench.memory's plan: the largest answer the per-request cap allows, and bursts that never repeat a seed."""

from __future__ import annotations

from app.config import DEFAULT_WEIGHTS_DIR, Settings
from bench.memory import burst_requests, largest_count

LIMIT = Settings.model_fields["max_request_pixels"].default


def test_the_largest_request_counts_the_upscalers_work() -> None:
    assert largest_count(DEFAULT_WEIGHTS_DIR, "v2", 256, LIMIT, 64) == 64  # 64 x 256^2 is the cap exactly
    assert largest_count(DEFAULT_WEIGHTS_DIR, "v3", 256, LIMIT, 64) == 23  # each HD avatar also costs ~110,000 px
    assert largest_count(DEFAULT_WEIGHTS_DIR, "v2", 64, LIMIT, 64) == 64  # the item limit, not the cap


def test_a_burst_asks_every_seed_once() -> None:
    requests = burst_requests("v3", 23, 256, 4, first_seed=100)
    seeds = [seed for r in requests for seed in (r.json or {})["seeds"]]
    assert seeds == list(range(100, 100 + 4 * 23))
    assert all(r.json == {**(r.json or {}), "model": "v3", "size": 256, "format": "png"} for r in requests)
