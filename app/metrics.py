"""Prometheus metrics of one service instance, and the ASGI middleware that times every request."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


NO_RELEASE = "none"  # requests that name no release (probes, metrics, studio, refused names)


class ServiceMetrics:
    """One registry per app instance, so tests (and several apps in one process) never collide.

    Implements the batching queue's `QueueObserver`: each batch, failure and drop is counted once,
    where the queue sees it. Release labels take only the names loaded at start-up (bounded).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "avatars_http_requests",
            "HTTP requests by route template, method, status and release",
            ["route", "method", "status", "release"],
            registry=r,
        )
        self.latency = Histogram(
            "avatars_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method", "release"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "avatars_queue_depth_images", "images waiting for the generator", ["release"], registry=r
        )
        self.batch_size = Histogram(
            "avatars_batch_size", "images per forward pass", ["release"], buckets=BATCH_BUCKETS, registry=r
        )
        self.forward_seconds = Histogram(
            "avatars_forward_duration_seconds",
            "time of one batched forward pass",
            ["release"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.forward_passes = Counter("avatars_forward_passes", "batched forward passes run", ["release"], registry=r)
        self.images = Counter("avatars_images_generated", "images produced by the generator", ["release"], registry=r)
        self.rejected = Counter("avatars_rejected_requests", "requests refused, by reason", ["reason"], registry=r)
        self.batch_failures = Counter(
            "avatars_batch_failures", "forward passes that failed (once per pass)", ["release"], registry=r
        )
        self.queue_wait = Histogram(
            "avatars_queue_wait_seconds",
            "time from a request entering the queue to its first forward pass (the autoscaling signal)",
            ["release"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.dropped_images = Counter(
            "avatars_dropped_images",
            "queued images that never reached the generator: client gone, timed out, batch failed, shutdown",
            ["release", "reason"],
            registry=r,
        )

    def track_releases(self, names: list[str], depth: Callable[[str], float]) -> None:
        """Create every lane's series at zero and bind its queue-depth gauge: each release's generator
        lane is labelled with the release, its HD upscaler's lane with `<release>/hd`."""
        for name in names:
            self.queue_depth.labels(name).set_function(lambda name=name: depth(name))
            for family in (self.batch_size, self.forward_seconds, self.forward_passes, self.images, self.queue_wait):
                family.labels(name)
            self.batch_failures.labels(name)

    # -- QueueObserver ---------------------------------------------------------------------
    def batch_done(self, lane: str, rows: int, seconds: float) -> None:
        self.forward_passes.labels(lane).inc()
        self.images.labels(lane).inc(rows)
        self.batch_size.labels(lane).observe(rows)
        self.forward_seconds.labels(lane).observe(seconds)

    def batch_failed(self, lane: str, rows: int) -> None:
        self.batch_failures.labels(lane).inc()

    def rows_dropped(self, lane: str, rows: int, reason: str) -> None:
        self.dropped_images.labels(lane, reason).inc(rows)

    def job_started(self, lane: str, waited_s: float) -> None:
        self.queue_wait.labels(lane).observe(waited_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times each HTTP request under its route template (bounded label values)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            # set by the release dependency once a name resolved to a loaded release, never from raw input
            release = scope.get("state", {}).get("release", NO_RELEASE)
            self.metrics.requests.labels(template, method, str(status), release).inc()
            self.metrics.latency.labels(template, method, release).observe(time.perf_counter() - started)
