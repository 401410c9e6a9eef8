"""Typed dependencies shared by the routes.

All are `async def` although none awaits: FastAPI runs a plain `def` dependency in its thread pool,
a thread hop per dependency per request (three on POST /avatars), which cost more CPU than the
rest of the request's HTTP handling under load (docs/benchmarks.md). These never block.
"""

from __future__ import annotations

from email.message import Message
from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.errors import invalid
from app.service import AvatarService


async def get_service(request: Request) -> AvatarService:
    return request.app.state.service


async def get_settings(request: Request) -> Settings:
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
SettingsDep = Annotated[Settings, Depends(get_settings)]
JsonBody = Depends(require_json)
