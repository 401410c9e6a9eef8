"""Admission: refuse at once what the instance cannot start soon, before it costs any work.

Past capacity the batch queue answers 503 when it is full, but only after the request was parsed,
routed and validated; and while the event loop does that for every arrival, accepted requests wait
in the loop and the socket backlog, which the queue bound does not cover (accepted requests waited
up to 2.3 s at twice capacity, docs/benchmarks.md). This middleware caps the requests being handled
at once: the next one gets 503 with Retry-After before its body is read, which costs the loop almost
nothing, so accepted requests wait behind at most `limit` others. Probes and /metrics are never
refused, so an overloaded replica stays observable and is not restarted for being busy.

A request counts against the limit only once its body is here: the body is read first, within
`body_timeout_s`, and replayed to the app. Before, 256 clients that sent headers and half a body
held every slot with no timeout, and every other request got 503 for as long as they stayed; now
they hold nothing, and get 408 when their time is up.

Answers count too: while more than AVATARS_MAX_ANSWER_BYTES of answers wait for their clients
(`app/answers.py`), a new request gets 503, so clients that do not read cannot exhaust memory.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.answers import AnswerBytes

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})


class BodyTimeout(Exception):
    """The client did not send its whole body in time."""


class BodyTooLarge(Exception):
    """The body passed the byte limit (announced by Content-Length, or as it streamed in)."""


def _has_body(headers: dict[bytes, bytes]) -> bool:
    return b"transfer-encoding" in headers or headers.get(b"content-length", b"0") not in (b"0", b"")


async def read_body(receive: Receive, timeout_s: float, max_bytes: int) -> tuple[list[Message], bool]:
    """Every message of the request body, within `timeout_s` and `max_bytes` in all; and whether the
    client left."""
    messages: list[Message] = []
    size = 0
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BodyTimeout
        try:
            message = await asyncio.wait_for(receive(), remaining)
        except TimeoutError:
            raise BodyTimeout from None
        if message["type"] == "http.disconnect":
            return messages, True
        size += len(message.get("body", b""))
        if size > max_bytes:
            raise BodyTooLarge
        messages.append(message)
        if not message.get("more_body", False):
            return messages, False


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then the client's own (its disconnect)."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def counted(send: Send, answers: AnswerBytes) -> Send:
    """`send` that holds each body chunk in `answers` until the server has taken it (uvicorn's send
    returns once the socket's buffer drains below its low-water mark: the client has read the rest)."""

    async def send_counted(message: Message) -> None:
        size = len(message.get("body", b"")) if message["type"] == "http.response.body" else 0
        answers.hold(size)
        try:
            await send(message)
        finally:
            answers.release(size)

    return send_counted


class AdmissionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        body_timeout_s: float = 10.0,
        max_body_bytes: int = 1 << 20,
        answers: AnswerBytes | None = None,
    ) -> None:
        self.app = app
        self.limit = limit  # 0: no limit
        self.body_timeout_s = body_timeout_s
        self.max_body_bytes = max_body_bytes
        self.answers = answers  # bytes of answers waiting for their clients (app/answers.py)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if _has_body(headers):
            too_large = f"request body over the limit of {self.max_body_bytes:,} bytes (AVATARS_MAX_BODY_BYTES)"
            announced = headers.get(b"content-length", b"0")
            if announced.isdigit() and int(announced) > self.max_body_bytes:
                await self._answer(send, 413, too_large, retry=None)  # before reading a byte of it
                return
            try:
                messages, gone = await read_body(receive, self.body_timeout_s, self.max_body_bytes)
            except BodyTooLarge:
                await self._answer(send, 413, too_large, retry=None)
                return
            except BodyTimeout:
                await self._answer(send, 408, f"request body not received within {self.body_timeout_s:g} s "
                                   "(AVATARS_BODY_TIMEOUT_S)", retry=None)  # fmt: skip
                return
            if gone:
                return
            receive = replaying(messages, receive)
        if self.answers is not None:
            if self.answers.full():
                await self._refuse_answers(scope, send)
                return
            send = counted(send, self.answers)
        if not self.limit:
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
        detail = f"overloaded: {self.in_flight} requests in progress (AVATARS_MAX_INFLIGHT_REQUESTS)"
        await self._answer(send, 503, detail, retry)

    async def _refuse_answers(self, scope: Scope, send: Send) -> None:
        assert self.answers is not None
        metrics = getattr(getattr(scope.get("app"), "state", None), "metrics", None)
        if metrics is not None:
            metrics.rejected.labels("answer_bytes").inc()
        detail = (f"overloaded: {self.answers.held / (1 << 20):.0f} MiB of answers are waiting for their clients "
                  "(AVATARS_MAX_ANSWER_BYTES)")  # fmt: skip
        await self._answer(send, 503, detail, retry=1)  # clients drain them at their own pace: retry soon

    @staticmethod
    async def _answer(send: Send, status: int, detail: str, retry: int | None) -> None:
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if retry is not None:
            headers.append((b"retry-after", str(retry).encode()))
        if status in (408, 413):  # the rest of the body is not read: the connection cannot be reused
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
