"""GET /: the artists' studio, a static page over the public API (see app/static/); GET /favicon.ico."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["studio"])


@router.get("/", include_in_schema=False)
async def get_studio() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.get("/favicon.ico", include_in_schema=False)
async def get_favicon() -> FileResponse:
    # browsers ask for it on every page (and the docs pages use it too): a day in caches
    return FileResponse(
        STATIC_DIR / "favicon.ico", media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"}
    )
