"""The HTTP/1.1 connection as `python -m app` runs it: uvicorn's httptools protocol, with the limits
servers put on a request's head.

Without them (found by a hostile-client battery): a 64 MiB header was read whole and parsed on the
event loop (`/healthz` took 2-3 s meanwhile; 256 MiB never finished), and a client could send half
a request line and then nothing, holding its connection open for good. Here a head (request line and
headers) larger than `AVATARS_MAX_HEADER_BYTES` is answered 431 and the connection closed as soon as
that many bytes arrived without the head's end, and a head not complete within
`AVATARS_HEADER_TIMEOUT_S` is answered 408. The body's own deadline is the admission middleware's
(app/admission.py), which sees the ASGI messages.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import get_settings


def _close_with(transport: asyncio.Transport, status: int, reason: str, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode()
    transport.write(head + body)
    transport.close()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """httptools with a size limit and a deadline on each request's head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.max_head_bytes = settings.max_header_bytes
        self.head_timeout_s = settings.header_timeout_s
        self.head_bytes = 0  # bytes received since this request's head began, while it is incomplete
        self.head_done = False
        self.head_timer: asyncio.TimerHandle | None = None

    def _start_head_clock(self) -> None:
        self._stop_head_clock()
        self.head_bytes = 0
        self.head_done = False
        self.head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _stop_head_clock(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if not self.transport.is_closing():
            detail = f"request head not received within {self.head_timeout_s:g} s (AVATARS_HEADER_TIMEOUT_S)"
            _close_with(self.transport, 408, "Request Timeout", detail)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_done:  # the next request on a kept-alive connection
            self._start_head_clock()

    def data_received(self, data: bytes) -> None:
        """Everything received while a head is incomplete is head: once that passes the limit and the
        parser still has not seen the head's end, the head is too large, however it is split."""
        if not self.head_done:
            self.head_bytes += len(data)
        super().data_received(data)
        if not self.head_done and self.head_bytes > self.max_head_bytes and not self.transport.is_closing():
            self._stop_head_clock()
            detail = f"request head over {self.max_head_bytes:,} bytes (AVATARS_MAX_HEADER_BYTES)"
            _close_with(self.transport, 431, "Request Header Fields Too Large", detail)

    def on_headers_complete(self) -> None:
        self.head_done = True
        self._stop_head_clock()
        super().on_headers_complete()
