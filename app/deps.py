"""Typed dependencies shared by the routes.

All are `async def` although none awaits: FastAPI runs a plain `def` dependency in its thread pool,
a thread hop per dependency per request (three on POST /avatars), which cost more CPU than the
rest of the request's HTTP handling under load (docs/benchmarks.md). These never block.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import Message
from typing import Annotated

from fastapi import Depends, Path, Request

from app.config import Settings
from app.errors import invalid
from app.releases import ServedRelease
from app.service import AvatarService
from gan.releases import NAME_PATTERN


async def get_service(request: Request) -> AvatarService:
    return request.app.state.service


async def get_app_settings(request: Request) -> Settings:
    """The settings this app was created with (not `app.config.get_settings`, which reads the environment)."""
    return request.app.state.settings


async def require_json(request: Request) -> None:
    """POST bodies must be declared JSON: anything else is a 422 that says so (not a parse error)."""
    header = request.headers.get("content-type")
    if header is None:
        raise invalid(["header", "content-type"], "Content-Type header is required and must be application/json")
    message = Message()
    message["content-type"] = header
    if message.get_content_type() != "application/json":
        raise invalid(["header", "content-type"], f"Content-Type must be application/json, got {header!r}")


ServiceDep = Annotated[AvatarService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
JsonBody = Depends(require_json)
ReleaseName = Annotated[
    str,
    Path(pattern=NAME_PATTERN, max_length=32, description="a release name from GET /models, e.g. v1", examples=["v1"]),
]


@dataclass(frozen=True)
class Target:
    """The release a request is served by, and whether its URL named it (then the bytes are immutable)."""

    served: ServedRelease
    pinned: bool


def use_release(request: Request, served: ServedRelease) -> ServedRelease:
    """Record the release on the request (the metrics label it) and return it."""
    request.state.release = served.name
    return served


async def default_release(request: Request, service: ServiceDep) -> Target:
    return Target(use_release(request, service.releases.default), pinned=False)


async def named_release(release: ReleaseName, request: Request, service: ServiceDep) -> Target:
    return Target(use_release(request, service.releases.resolve(release)), pinned=True)


ReleaseResolver = Callable[..., Awaitable[Target]]
