"""HTTP caching of deterministic images: strong ETags and Cache-Control, so a CDN can sit in front."""

from __future__ import annotations

import hashlib

from fastapi import Request
from fastapi.responses import Response

IMMUTABLE = "public, max-age=31536000, immutable"


def etag_for(model_version: str, *parts: object) -> str:
    """Strong validator: the image is a pure function of the model version and the request options."""
    digest = hashlib.sha256("|".join([model_version, *map(str, parts)]).encode()).hexdigest()[:32]
    return f'"{digest}"'


def matches(request: Request, etag: str) -> bool:
    """If-None-Match uses weak comparison (RFC 9110 13.1.2): W/"x" matches "x"; * matches anything."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return "*" in candidates or etag in candidates


def cache_headers(etag: str, max_age: int, immutable: bool, model_version: str) -> dict[str, str]:
    return {
        "ETag": etag,
        "Cache-Control": IMMUTABLE if immutable else f"public, max-age={max_age}",
        "X-Model-Version": model_version,
    }


def not_modified(headers: dict[str, str]) -> Response:
    return Response(status_code=304, headers=headers)
