"""Answers held for their clients: counted, capped, and the largest one streamed.

Work admission (app/work_admission.py) bounds the work a replica takes on, but an answer outlives
its work: it stays in memory until the client has read it. A client on a slow network, or one that
never reads, holds its whole answer; `python -m bench.memory` measured 10 MiB of RSS per unread
64-avatar 256 px JSON answer, so 256 such clients (the in-flight limit) would hold 2.5 GiB, past a
replica's memory limit. So:

- `AnswerBytes` counts the bytes of answers that are made and not yet taken by the kernel: the
  body of every response while `send` waits for the client, and the files a streamed answer has
  not sent yet. Past `AVATARS_MAX_ANSWER_BYTES` a new request is refused (503) until clients drain
  them (`app/admission.py`); nothing is refused while nothing is held, so any request can run.
- `avatar_batch_stream` writes POST /avatars' JSON one avatar at a time, each file base64-encoded
  only as it goes out and dropped once sent, instead of holding the files, their base64 strings,
  the JSON text and its bytes (four copies) until the last byte is written. The bytes are the ones
  `JSONResponse` wrote.
- When none are held any more, after a burst, the freed memory is handed back (`app/memory.py`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class AnswerBytes:
    """Bytes of answers made and not yet delivered, against a cap (0: count only, never full).
    `on_drained(bytes released since)` runs whenever none are held any more (app/memory.py)."""

    def __init__(self, limit: int, on_drained: Callable[[int], None] | None = None) -> None:
        self.limit = limit
        self.held = 0
        self.on_drained = on_drained
        self._released = 0

    def hold(self, n: int) -> None:
        self.held += n

    def release(self, n: int) -> None:
        self.held = max(0, self.held - n)
        self._released += n
        if not self.held and self._released and self.on_drained is not None:
            released, self._released = self._released, 0
            self.on_drained(released)

    def full(self) -> bool:
        """Whether a new request should wait: the cap is reached (and something is held at all)."""
        return bool(self.limit) and self.held > 0 and self.held >= self.limit


def _dumps(value: Any) -> str:
    """JSON exactly as Starlette's JSONResponse renders it (compact, UTF-8, no NaN)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))


async def avatar_batch_stream(
    envelope: dict[str, Any], items: Sequence[dict[str, Any]], field: str, files: list[bytes], answers: AnswerBytes
) -> AsyncIterator[bytes]:
    """`envelope` with `"avatars": [items]`, each item with `field` (last) set to its file in base64:
    the bytes `JSONResponse({**envelope, "avatars": [...]})` would send, one avatar per chunk. `files`
    is emptied as it goes, so a slow client holds only what it has not received yet."""
    head, tail = _dumps({**envelope, "avatars": []}).split('"avatars":[]', 1)
    held = sum(map(len, files))
    answers.hold(held)
    try:
        yield (head + '"avatars":[').encode()
        for i, item in enumerate(items):
            data, files[i] = files[i], b""
            start = _dumps(item)[:-1] + ("," if item else "") + f'"{field}":"'
            chunk = ("," if i else "").encode() + start.encode() + base64.b64encode(data) + b'"}'
            answers.release(len(data))  # from here the chunk is counted while it is sent (app/admission.py)
            held -= len(data)
            yield chunk
        yield ("]" + tail).encode()
    finally:
        answers.release(held)


class StreamedAnswer(StreamingResponse):
    """A streamed answer whose generator is always closed when the response ends, whether it was sent
    whole or the client left (its `finally` then releases what it held, at once, not at collection)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()
