"""Clients that stall or send too much, against `python -m app` over real sockets: they hold no
in-flight slot, get a clear answer (408, 431) when their time or room is up, and everyone else is
served meanwhile."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_server import live_service

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tiny_release_dir: Path) -> Iterator[tuple[str, int]]:
    settings = {"max_inflight_requests": "4", "body_timeout_s": "1.5", "header_timeout_s": "1.5",
                "max_header_bytes": "16384", "log_level": "warning"}  # fmt: skip
    with live_service(tiny_release_dir, **settings) as url:
        yield url, int(url.rsplit(":", 1)[1])


def connect(port: int, head: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(head)
    return s


def answer(s: socket.socket) -> tuple[int, dict]:
    """The status and JSON body of one answer, sized by Content-Length or chunked (POST /avatars streams)."""
    data = b""

    def complete() -> bool:
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            return False
        if b"transfer-encoding: chunked" in head.lower():
            return body.endswith(b"0\r\n\r\n")
        return body.endswith(b"}")

    while not complete():
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    return int(head.split()[1]), json.loads(body or b"{}")


def dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out, body = out + rest[:size], rest[size + 2 :]
    return out


def timed_get(url: str) -> tuple[int, float]:
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, time.monotonic() - started


def test_stalled_bodies_hold_no_slot_and_get_408(server: tuple[str, int]) -> None:
    url, port = server
    half = (
        b'POST /avatars HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"seeds":'
    )
    stalled = [connect(port, half) for _ in range(8)]  # twice the in-flight limit
    time.sleep(0.3)
    status, seconds = timed_get(f"{url}/avatars/7.png")
    assert status == 200 and seconds < 1.0  # before: 503 for as long as the stalled clients stayed
    for s in stalled:
        code, body = answer(s)
        assert code == 408 and "AVATARS_BODY_TIMEOUT_S" in body["detail"]
        s.close()


def test_a_body_trickling_in_a_byte_at_a_time_gets_408(server: tuple[str, int]) -> None:
    _, port = server
    body = b'{"seeds": [1, 2, 3]}'
    s = connect(port, b"POST /avatars HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode())  # fmt: skip
    try:
        for byte in body:
            s.sendall(bytes([byte]))
            time.sleep(0.25)  # 20 bytes over 5 s, past the 1.5 s deadline
    except OSError:
        pass  # the server answered and closed mid-trickle
    code, detail = answer(s)
    assert code == 408, detail
    s.close()


def test_an_oversized_head_gets_431_at_once_and_the_loop_stays_free(server: tuple[str, int]) -> None:
    url, port = server
    s = connect(port, b"GET /avatars/1.png HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000)
    code, body = answer(s)
    assert code == 431 and "AVATARS_MAX_HEADER_BYTES" in body["detail"]
    s.close()
    status, seconds = timed_get(f"{url}/healthz")
    assert status == 200 and seconds < 0.5
    assert timed_get(f"{url}/avatars/1.png")[0] == 200  # a normal head is untouched


def test_a_stalled_head_gets_408(server: tuple[str, int]) -> None:
    _, port = server
    s = connect(port, b"GET /avatars/1.png HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    started = time.monotonic()
    code, body = answer(s)
    assert code == 408 and "AVATARS_HEADER_TIMEOUT_S" in body["detail"]
    assert 1.0 < time.monotonic() - started < 5.0
    s.close()


def test_a_large_body_sent_with_its_head_in_one_piece_is_not_a_large_head(server: tuple[str, int]) -> None:
    """Bytes after the head's end are body, even when they arrive in the same packets."""
    _, port = server
    body = b'{"seeds": [1, 2],' + b" " * 900_000 + b'"size": 64}'
    head = (b"POST /avatars HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode())  # fmt: skip
    s = connect(port, head + body)
    code, answer_body = answer(s)
    assert code == 200 and len(answer_body["avatars"]) == 2
    s.close()
