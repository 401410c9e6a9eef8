"""Two HTTP/1.1 clients for the load generator, both bound to 127.0.0.1 and nothing else.

`RawClient` (the default) speaks just enough HTTP/1.1 over asyncio streams for this benchmark:
keep-alive connections from a pool, Content-Length or chunked bodies, nothing else. It exists
because the load generator shares the machine's cores with the server under test: on the 2-core
benchmark machine httpx spent 1.3 ms of CPU per request at concurrency 1 and 3 ms at concurrency
32, more than the service's own HTTP handling, and capped GET /healthz at about 285 requests/s;
this client spends under 0.1 ms, so the CPU goes to the server being measured. `HttpxClient`
(`--client httpx`) gives the same interface over httpx, to cross-check the raw client's numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol, Self
from urllib.parse import urlencode

import httpx

LOOPBACK = "127.0.0.1"
Engine = Literal["raw", "httpx"]


@dataclass(frozen=True)
class HttpRequest:
    """One request of a scenario and what a correct answer looks like."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    expect: str = "image/png"  # content type of a correct 200 answer


@dataclass(frozen=True)
class HttpResponse:
    status: int
    content_type: str
    body: bytes


class Client(Protocol):
    """What the load loops need: send one request, get the answer or an exception."""

    async def send(self, request: HttpRequest) -> HttpResponse: ...

    async def aclose(self) -> None: ...


class ProtocolError(ConnectionError):
    """The server's answer was not HTTP/1.1 as this client understands it."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


def encode_request(request: HttpRequest, port: int) -> bytes:
    """The request's bytes: request line, Host, and a JSON body with its length if there is one."""
    target = request.path + ("?" + urlencode(request.params) if request.params else "")
    lines = [f"{request.method} {target} HTTP/1.1", f"Host: {LOOPBACK}:{port}"]
    body = b""
    if request.json is not None:
        body = json.dumps(request.json, separators=(",", ":")).encode()
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    elif request.method in ("POST", "PUT"):
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of a response head (the bytes up to the blank line)."""
    status_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are sent to us
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    return await reader.readexactly(int(headers.get("content-length", "0")))


class RawClient:
    """Keep-alive HTTP/1.1 to 127.0.0.1:`port`, at most `connections` open at once."""

    def __init__(self, port: int, connections: int, timeout_s: float = 60.0) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(connections)
        self._open: set[_Connection] = set()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _connect(self) -> _Connection:
        if self._idle:
            return self._idle.pop()
        reader, writer = await asyncio.open_connection(LOOPBACK, self.port)
        connection = _Connection(reader, writer)
        self._open.add(connection)
        return connection

    async def _exchange(self, connection: _Connection, payload: bytes) -> tuple[HttpResponse, bool]:
        connection.writer.write(payload)
        await connection.writer.drain()
        status, headers = parse_head(await connection.reader.readuntil(b"\r\n\r\n"))
        body = await _read_body(connection.reader, headers)
        keep = headers.get("connection", "").lower() != "close"
        return HttpResponse(status, headers.get("content-type", ""), body), keep

    async def send(self, request: HttpRequest) -> HttpResponse:
        payload = encode_request(request, self.port)
        async with self._slots:
            connection = await self._connect()
            try:
                response, keep = await asyncio.wait_for(self._exchange(connection, payload), self.timeout_s)
            except BaseException:
                self._discard(connection)  # its stream is in an unknown state
                raise
            if keep:
                self._idle.append(connection)
            else:
                self._discard(connection)
            return response

    def _discard(self, connection: _Connection) -> None:
        self._open.discard(connection)
        with contextlib.suppress(Exception):
            connection.close()

    async def aclose(self) -> None:
        for connection in list(self._open):
            self._discard(connection)
        self._idle.clear()


class HttpxClient:
    """The same interface over httpx.AsyncClient, for cross-checking the raw client."""

    def __init__(self, port: int, connections: int, timeout_s: float = 60.0) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._client = httpx.AsyncClient(
            base_url=f"http://{LOOPBACK}:{port}", limits=limits, timeout=httpx.Timeout(timeout_s, pool=timeout_s)
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def send(self, request: HttpRequest) -> HttpResponse:
        response = await self._client.request(request.method, request.path, json=request.json, params=request.params)
        return HttpResponse(response.status_code, response.headers.get("content-type", ""), response.content)

    async def aclose(self) -> None:
        await self._client.aclose()


def loopback_client(port: int, connections: int, engine: Engine = "raw") -> RawClient | HttpxClient:
    """The only way this package makes clients: both kinds address 127.0.0.1 and nothing else."""
    if engine == "httpx":
        return HttpxClient(port, connections)
    return RawClient(port, connections)
