"""HTTP caching of deterministic images: strong ETags and Cache-Control, so a CDN can sit in front.

An image is a pure function of the release's weights (model version), the device kind that ran it
and the request's options. URLs that name a release are immutable and cached for a year;
unversioned URLs follow the default release and are cached briefly (`AVATARS_CACHE_MAX_AGE_S`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from app.config import Settings
from app.releases import ServedRelease

IMMUTABLE = "public, max-age=31536000, immutable"


def etag_for(model_version: str, device_kind: str, *parts: object) -> str:
    """Strong validator of the exact bytes: CPU float32 and GPU float16 images differ slightly, so
    the device kind is part of it and no cache mixes them."""
    digest = hashlib.sha256("|".join([model_version, device_kind, *map(str, parts)]).encode()).hexdigest()[:32]
    return f'"{digest}"'


def matches(request: Request, etag: str) -> bool:
    """If-None-Match uses weak comparison (RFC 9110 13.1.2): W/"x" matches "x"; * matches anything."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return "*" in candidates or etag in candidates


def release_headers(served: ServedRelease) -> dict[str, str]:
    """Every image answer says which release and weights drew it."""
    return {"X-Model": served.name, "X-Model-Version": served.version}


def etag_key(kind: str, options: Mapping[str, Any]) -> tuple[object, ...]:
    """What an image's ETag is made of, on every route: its kind, then its options in the route's
    order. An `edits` option counts only when there are edits, sorted by name, so an image without
    edits keeps the validators it had before edits existed; for the same reason a plain seed's
    avatar is named by its seed and truncation, any other avatar by its code (app/avatar_specs.py)."""
    parts: list[object] = [kind]
    for name, value in options.items():
        if name == "edits":
            if not value:
                continue
            value = sorted(value.items())
        parts.append(value)
    return tuple(parts)


def cache_control(immutable: bool, settings: Settings) -> str:
    """A year for a URL that names its release; the default release's URLs briefly."""
    return IMMUTABLE if immutable else f"public, max-age={settings.cache_max_age_s}"


def cache_headers(
    served: ServedRelease, immutable: bool, settings: Settings, key: tuple[object, ...]
) -> dict[str, str]:
    """Validators and lifetime of one image answer, its ETag from `etag_key`. The encoder's zlib level
    changes the bytes but not the pixels, so it is part of the ETag too: a deliberate encoder change
    gets new validators."""
    return {
        "ETag": etag_for(served.version, served.device_kind, f"png-{settings.png_compress_level}", *key),
        "Cache-Control": cache_control(immutable, settings),
        **release_headers(served),
    }


def not_modified(headers: dict[str, str]) -> Response:
    return Response(status_code=304, headers=headers)


def add_head_twins(routes: APIRouter) -> None:
    """HEAD for each GET image route of `routes`: the same endpoint, which answers HEAD without
    drawing (`answer_without_rendering`). Kept out of the OpenAPI schema, where it would repeat the GET."""
    for route in list(routes.routes):
        if isinstance(route, APIRoute) and "GET" in route.methods and route.response_class is Response:
            routes.add_api_route(route.path, route.endpoint, methods=["HEAD"], include_in_schema=False,
                                 response_class=Response)  # fmt: skip


def answer_without_rendering(request: Request, headers: dict[str, str], media_type: str) -> Response | None:
    """What an image route answers before any work: 304 when If-None-Match matches; for HEAD (CDNs,
    link checkers) the GET's headers without a body, since the ETag alone decides them. None: render.
    The length is not known without rendering, so a HEAD answer sends none rather than a wrong 0."""
    if matches(request, headers["ETag"]):
        return not_modified(headers)
    if request.method != "HEAD":
        return None
    response = Response(headers=headers, media_type=media_type)
    del response.headers["content-length"]
    return response
