"""GET /docs (Swagger UI) and /redoc, with their scripts and styles served here rather than from a CDN.

The pages work on a machine without internet. The assets come from the `fastapi-offline` package
(Swagger UI, Apache-2.0, and ReDoc, MIT; the package itself is MIT). ReDoc's bundle still draws a
Redocly logo from its CDN in the menu's footer; it is served here with that address replaced by an
empty inline image, so the page asks nothing of the internet (tests/studio/test_docs_pages_e2e.py).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response

ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
ASSETS_URL = "/docs-assets"
# the only files served from ASSETS_DIR, with their media types
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
}
# the bundle's one remote address, and what replaces it: an empty SVG that needs no request
REMOTE_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"
FAVICON_URL = "/favicon.ico"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"

router = APIRouter(include_in_schema=False)


def asset_url(request: Request, name: str) -> str:
    return f"{request.scope.get('root_path', '')}{ASSETS_URL}/{name}"


def openapi_url(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}{request.app.openapi_url}"


@router.get("/docs")
async def get_swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=openapi_url(request),
        title=f"{request.app.title} - Swagger UI",
        oauth2_redirect_url=OAUTH2_REDIRECT_URL,
        swagger_js_url=asset_url(request, "swagger-ui-bundle.js"),
        swagger_css_url=asset_url(request, "swagger-ui.css"),
        swagger_favicon_url=f"{request.scope.get('root_path', '')}{FAVICON_URL}",
        swagger_ui_parameters=request.app.swagger_ui_parameters,
    )


@router.get(OAUTH2_REDIRECT_URL)
async def get_swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def get_redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=asset_url(request, "redoc.standalone.js"),
        redoc_favicon_url=f"{request.scope.get('root_path', '')}{FAVICON_URL}",
        with_google_fonts=False,
    )


@lru_cache(maxsize=len(ASSETS))
def asset_bytes(name: str) -> bytes:
    """An asset as served: read once; ReDoc's remote logo address replaced (see the module docstring)."""
    return (ASSETS_DIR / name).read_bytes().replace(REMOTE_LOGO, EMPTY_IMAGE)


@router.get(ASSETS_URL + "/{name}")
async def get_docs_asset(name: Annotated[str, PathParam(max_length=64)]) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, f"no docs asset {name!r}")
    # the bundles change only with the package's version: a day in caches
    return Response(asset_bytes(name), media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})
