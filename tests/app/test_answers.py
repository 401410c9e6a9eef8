"""Answers held for their clients: the cap, the count, and POST /avatars' JSON streamed avatar by avatar."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.responses import JSONResponse

from app.admission import counted
from app.answers import AnswerBytes, avatar_batch_stream
from app.config import Settings
from app.main import create_app
from app.memory import Trimmer, libc_malloc_trim
from tests.live_server import live_service

ENVELOPE = {"model": "v1", "model_version": "3f9c2a7d5e1b8c40", "size": 64, "truncation": 1.0,
            "format": "png", "media_type": "image/png"}  # fmt: skip


def test_nothing_is_refused_while_nothing_is_held() -> None:
    answers = AnswerBytes(limit=100)
    assert not answers.full()
    answers.hold(99)
    assert not answers.full()
    answers.hold(1)
    assert answers.full()  # at the cap: the next request waits for clients to read theirs
    answers.release(100)
    assert answers.held == 0 and not answers.full()
    assert not AnswerBytes(limit=0).full()  # 0: counted, never capped
    huge = AnswerBytes(limit=0)
    huge.hold(1 << 40)
    assert not huge.full()


async def _collect(stream) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join([chunk async for chunk in stream])


@pytest.mark.parametrize(
    ("field", "items"),
    [
        (
            "png_base64",
            [
                {"index": 0, "seed": 1, "player_id": None, "code": "AQ"},
                {"index": 1, "seed": 2, "player_id": "p-é", "code": "AR"},
            ],
        ),
        ("image_base64", [{"index": 0, "seed": None, "player_id": None, "code": "A", "hair_color_matched": False}]),
        ("png_base64", []),
    ],
)
def test_the_streamed_json_is_the_bytes_json_response_sent(field: str, items: list[dict]) -> None:
    files = [bytes(range(256)) * (i + 1) + b"\x00" * i for i in range(len(items))]
    whole = {
        **ENVELOPE,
        "avatars": [{**item, field: base64.b64encode(f).decode()} for item, f in zip(items, files, strict=True)],
    }
    answers = AnswerBytes(limit=0)
    streamed = asyncio.run(_collect(avatar_batch_stream(ENVELOPE, items, field, list(files), answers)))
    assert streamed == JSONResponse(whole).body
    assert json.loads(streamed) == whole
    assert answers.held == 0


def test_a_stream_holds_only_the_files_not_yet_sent_and_releases_them_if_cut_short() -> None:
    items = [{"index": i, "code": "A"} for i in range(3)]
    files = [b"x" * 1000, b"y" * 2000, b"z" * 3000]
    answers = AnswerBytes(limit=0)

    async def cut_short() -> list[int]:
        stream = avatar_batch_stream(ENVELOPE, items, "png_base64", files, answers)
        seen = []
        async for _ in stream:
            seen.append(answers.held)
            if len(seen) == 3:  # the head and two avatars sent: the client leaves
                break
        await stream.aclose()
        return seen

    assert asyncio.run(cut_short()) == [6000, 5000, 3000]
    assert files[:2] == [b"", b""]  # dropped once sent, not kept until the end
    assert answers.held == 0


def test_a_body_is_held_while_send_waits_for_the_client() -> None:
    answers = AnswerBytes(limit=0)
    during: list[int] = []

    async def slow_send(message: dict) -> None:
        during.append(answers.held)

    send = counted(slow_send, answers)
    asyncio.run(send({"type": "http.response.start", "status": 200, "headers": []}))
    asyncio.run(send({"type": "http.response.body", "body": b"x" * 5000}))
    assert during == [0, 5000] and answers.held == 0


def test_past_the_cap_a_new_request_gets_503_and_probes_still_answer(settings_for: Callable[..., Settings]) -> None:
    with TestClient(create_app(settings_for(max_answer_bytes=1000))) as client:
        answers: AnswerBytes = client.app.state.answers  # type: ignore[attr-defined]
        answers.hold(1000)  # answers the server is still sending to slow clients
        refused = client.get("/avatars/7.png")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert "AVATARS_MAX_ANSWER_BYTES" in refused.json()["detail"]
        assert client.get("/healthz").status_code == 200
        answers.release(1000)
        assert client.get("/avatars/7.png").status_code == 200
        batch = client.post("/avatars", json={"seeds": [1, 2, 3], "size": 128})
        assert batch.status_code == 200 and len(batch.json()["avatars"]) == 3
        assert answers.held == 0  # every answer released once sent


@pytest.mark.slow
def test_clients_that_do_not_read_cannot_hold_more_than_the_cap(tiny_release_dir: Path) -> None:
    """A client that leaves a large JSON answer unread holds it; the next request waits (503) until it
    reads, instead of every unread answer adding to memory."""
    with live_service(tiny_release_dir, max_answer_bytes="65536", log_level="warning") as url:
        port = int(url.rsplit(":", 1)[1])
        body = json.dumps({"seeds": list(range(64)), "size": 256}).encode()
        head = (
            "POST /avatars HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}"
        )
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel buffers little of it
        slow.connect(("127.0.0.1", port))
        slow.sendall(head.encode() + b"\r\n\r\n" + body)
        assert slow.recv(12).startswith(b"HTTP/1.1 200")  # answering, and now not reading
        deadline = time.monotonic() + 10
        while True:  # the unread rest is held until this client reads it
            try:
                with urllib.request.urlopen(f"{url}/avatars/7.png", timeout=10):
                    pass
            except urllib.error.HTTPError as exc:
                assert exc.code == 503 and "AVATARS_MAX_ANSWER_BYTES" in exc.read().decode()
                break
            assert time.monotonic() < deadline, "an unread answer was never counted"
            time.sleep(0.1)
        slow.settimeout(10)
        while slow.recv(1 << 20):  # the client reads its answer to the end
            pass
        slow.close()
        with urllib.request.urlopen(f"{url}/avatars/7.png", timeout=10) as again:
            assert again.status == 200


def test_a_drain_is_reported_once_none_are_held_with_the_bytes_since_the_last() -> None:
    drains: list[int] = []
    answers = AnswerBytes(limit=0, on_drained=drains.append)
    answers.hold(300)
    answers.hold(200)
    answers.release(300)
    assert drains == []  # 200 still held
    answers.release(200)
    assert drains == [500]
    answers.hold(10)
    answers.release(10)
    assert drains == [500, 10]


def test_memory_is_trimmed_after_enough_answers_and_not_too_often() -> None:
    now = [0.0]
    trims: list[float] = []
    trimmer = Trimmer(trim=lambda: trims.append(now[0]), min_bytes=100, min_interval_s=5.0,
                      clock=lambda: now[0], run=lambda fn: fn())  # fmt: skip
    trimmer.drained(60)
    assert trims == []  # not enough freed yet to be worth a walk over every heap
    trimmer.drained(40)
    assert trims == [0.0]
    now[0] = 1.0
    trimmer.drained(1000)
    assert trims == [0.0]  # too soon after the last
    now[0] = 6.0
    trimmer.drained(0)
    assert trims == [0.0, 6.0]  # what was freed meanwhile still counts
    assert Trimmer(trim=None, min_bytes=0).pending == 0  # no malloc_trim (musl, macOS): nothing to do
    Trimmer(trim=None, min_bytes=0).drained(1 << 30)


def test_the_c_library_trim_runs_where_there_is_one() -> None:
    trim = libc_malloc_trim()
    if trim is None:
        pytest.skip("no malloc_trim in this C library")
    assert trim() in (0, 1)
