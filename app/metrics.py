"""Prometheus metrics of one service instance, and the ASGI middleware that times every request."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServiceMetrics:
    """One registry per app instance, so tests (and several apps in one process) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "avatars_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "avatars_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("avatars_queue_depth_images", "images waiting for the generator", registry=r)
        self.batch_size = Histogram("avatars_batch_size", "images per forward pass", buckets=BATCH_BUCKETS, registry=r)
        self.forward_seconds = Histogram(
            "avatars_forward_duration_seconds", "time of one batched forward pass", buckets=LATENCY_BUCKETS, registry=r
        )
        self.forward_passes = Counter("avatars_forward_passes", "batched forward passes run", registry=r)
        self.images = Counter("avatars_images_generated", "images produced by the generator", registry=r)
        self.rejected = Counter("avatars_rejected_requests", "requests refused, by reason", ["reason"], registry=r)
        self.batch_failures = Counter("avatars_batch_failures", "forward passes that failed", registry=r)
        self.dropped_images = Counter(
            "avatars_dropped_images", "queued images dropped because their client left or timed out", registry=r
        )

    def observe_batch(self, rows: int, seconds: float) -> None:
        self.forward_passes.inc()
        self.images.inc(rows)
        self.batch_size.observe(rows)
        self.forward_seconds.observe(seconds)

    def track_queue(self, depth: Callable[[], float]) -> None:
        self.queue_depth.set_function(depth)

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
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - started)
