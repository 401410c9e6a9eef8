"""Admission: refuse at once what the instance cannot start soon, before it costs any work.

Past capacity the batch queue answers 503 when it is full, but only after the request was parsed,
routed and validated; and while the event loop does that for every arrival, accepted requests wait
in the loop and the socket backlog, which the queue bound does not cover (accepted requests waited
up to 2.3 s at twice capacity, docs/benchmarks.md). This middleware caps the requests being handled
at once: the next one gets 503 with Retry-After before its body is read, which costs the loop almost
nothing, so accepted requests wait behind at most `limit` others. Probes and /metrics are never
refused, so an overloaded replica stays observable and is not restarted for being busy.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit  # 0: no limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limit or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await self._refuse(scope, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _refuse(self, scope: Scope, send: Send) -> None:
        app = scope.get("app")
        service = getattr(getattr(app, "state", None), "service", None)
        retry = service.queue.retry_after() if service is not None else 1
        metrics = getattr(getattr(app, "state", None), "metrics", None)
        if metrics is not None:
            metrics.rejected.labels("overloaded").inc()
        body = json.dumps(
            {"detail": f"overloaded: {self.in_flight} requests in progress (AVATARS_MAX_INFLIGHT_REQUESTS)"}
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry).encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
