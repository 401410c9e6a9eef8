"""The load generator: async HTTP clients against one loopback server, closed or open loop.

Closed loop (`closed_loop`): `concurrency` workers each send a request, wait for the answer and send
the next, which is how a pool of game-backend workers calls the service; it measures throughput at
a given number of requests in flight. Open loop (`open_loop`): requests are sent on a fixed schedule
whatever the server answers, which is how overload arrives; latency is then counted from the
scheduled send time, so a client that falls behind cannot hide the server's queueing (no
coordinated omission).

Only 127.0.0.1 is ever addressed: `bench.http.loopback_client` builds every client this package uses.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from bench.http import Client, HttpRequest, HttpResponse, ProtocolError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# what a failed exchange can raise; each is counted as an error under its class name
TRANSPORT_ERRORS = (
    OSError,
    EOFError,
    TimeoutError,
    ValueError,
    asyncio.LimitOverrunError,
    ProtocolError,
    httpx.HTTPError,
)


RequestFactory = Callable[[int], HttpRequest]


@dataclass(frozen=True)
class Scenario:
    """A named workload: request i is `factory(i)`, and each answer carries `images` avatars."""

    name: str
    factory: RequestFactory
    images: int = 1
    concurrency: int = 1


@dataclass(frozen=True)
class Sample:
    """One request as the client saw it: seconds since the phase began, and the outcome."""

    start: float
    end: float
    status: str  # "200", "503", ... or the exception's class name ("ConnectError")
    ok: bool  # 200 with the expected content type and a plausible body

    @property
    def latency(self) -> float:
        return self.end - self.start


@dataclass
class Summary:
    """What a scenario reports; latencies are of correct answers only, in milliseconds."""

    requests: int  # correct answers
    errors: int  # everything else
    statuses: dict[str, int]
    duration_s: float
    requests_per_s: float
    avatars_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 <= q <= 100) with linear interpolation between closest ranks, the
    definition numpy uses by default; NaN for no values (a scenario whose every request failed)."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be in [0, 100], got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(samples: Sequence[Sample], images_per_request: int, duration_s: float | None = None) -> Summary:
    """Rates over the phase's wall time (first send to last answer unless `duration_s` is given)."""
    ok = [s for s in samples if s.ok]
    if duration_s is None:
        duration_s = max((s.end for s in samples), default=0.0) - min((s.start for s in samples), default=0.0)
    duration_s = max(duration_s, 1e-9)
    latencies_ms = [s.latency * 1000 for s in ok]
    return Summary(
        requests=len(ok),
        errors=len(samples) - len(ok),
        statuses=dict(sorted(Counter(s.status for s in samples).items())),
        duration_s=duration_s,
        requests_per_s=len(ok) / duration_s,
        avatars_per_s=len(ok) * images_per_request / duration_s,
        p50_ms=percentile(latencies_ms, 50),
        p95_ms=percentile(latencies_ms, 95),
        p99_ms=percentile(latencies_ms, 99),
        max_ms=max(latencies_ms, default=math.nan),
    )


def per_second(samples: Sequence[Sample]) -> list[dict[str, Any]]:
    """Outcomes by the second in which requests were sent: whether the latency of accepted requests
    settles (bounded) or keeps growing (a queue without bound) shows over time, not in one percentile."""
    bins: dict[int, list[Sample]] = {}
    for sample in samples:
        bins.setdefault(int(sample.start), []).append(sample)
    rows = []
    for second in sorted(bins):
        ok = [s.latency * 1000 for s in bins[second] if s.ok]
        refused = [s.latency * 1000 for s in bins[second] if s.status == "503"]
        rows.append(
            {
                "second": second,
                "sent": len(bins[second]),
                "accepted": len(ok),
                "refused_503": len(refused),
                "accepted_p50_ms": round(percentile(ok, 50), 1),
                "accepted_max_ms": round(max(ok, default=math.nan), 1),
                "refused_p50_ms": round(percentile(refused, 50), 1),
            }
        )
    return rows


def is_correct(response: HttpResponse, expect: str) -> bool:
    """A 200 of the expected type; PNG answers must also start with the PNG signature."""
    if response.status != 200 or response.content_type.split(";")[0].strip() != expect:
        return False
    return expect != "image/png" or response.body.startswith(PNG_MAGIC)


async def _send(client: Client, request: HttpRequest) -> tuple[str, bool]:
    try:
        response = await client.send(request)
    except TRANSPORT_ERRORS as exc:
        return type(exc).__name__, False
    return str(response.status), is_correct(response, request.expect)


async def _closed_phase(
    client: Client, scenario: Scenario, seconds: float, max_requests: int, first_index: int
) -> list[Sample]:
    samples: list[Sample] = []
    indices = itertools.count(first_index)
    origin = time.perf_counter()
    stop_at = origin + seconds

    async def worker() -> None:
        while len(samples) < max_requests and time.perf_counter() < stop_at:
            request = scenario.factory(next(indices))
            start = time.perf_counter()
            status, ok = await _send(client, request)
            samples.append(Sample(start - origin, time.perf_counter() - origin, status, ok))

    await asyncio.gather(*(worker() for _ in range(scenario.concurrency)))
    return samples


async def closed_loop(
    client: Client,
    scenario: Scenario,
    *,
    seconds: float,
    max_requests: int,
    warmup_s: float = 1.0,
) -> Summary:
    """Run `scenario` for `seconds` or `max_requests` answers, whichever comes first, after a
    discarded warm-up that opens the connections and fills the server's queue to its steady state.

    Workers stop starting requests at the limit and the ones in flight finish, so a few more than
    `max_requests` may be counted; the rate is over first send to last answer.
    """
    if warmup_s > 0:
        await _closed_phase(client, scenario, warmup_s, max_requests, first_index=10_000_000)
    cpu = time.process_time()
    samples = await _closed_phase(client, scenario, seconds, max_requests, first_index=0)
    summary = summarize(samples, scenario.images)
    summary.extra["client_cpu_s"] = round(time.process_time() - cpu, 3)
    return summary


async def open_loop(
    client: Client,
    factory: RequestFactory,
    *,
    rate_per_s: float,
    seconds: float,
    images: int = 1,
) -> Summary:
    """Send `rate_per_s` requests per second for `seconds` whatever happens; latency counts from each
    request's scheduled time. The rate is that of correct answers over the whole phase."""
    total = max(1, int(rate_per_s * seconds))
    samples: list[Sample] = []
    lags: list[float] = []  # how late each request left this process: the client's share of latency
    origin = time.perf_counter()

    async def one(index: int, scheduled: float) -> None:
        lags.append(time.perf_counter() - origin - scheduled)
        status, ok = await _send(client, factory(index))
        samples.append(Sample(scheduled, time.perf_counter() - origin, status, ok))

    tasks: list[asyncio.Task[None]] = []
    for index in range(total):
        scheduled = index / rate_per_s
        delay = scheduled - (time.perf_counter() - origin)
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, scheduled)))
    await asyncio.gather(*tasks)
    late = time.perf_counter() - origin - seconds
    summary = summarize(samples, images)
    summary.extra.update(
        offered=total,
        offered_per_s=rate_per_s,
        drain_s=round(max(late, 0.0), 3),
        client_lag_p99_ms=round(percentile(lags, 99) * 1000, 1),
        per_second=per_second(samples),
    )
    return summary
