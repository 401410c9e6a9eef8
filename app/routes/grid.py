"""GET /grid: a contact sheet of consecutive seeds for artists to browse."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.caching import cache_headers, etag_for, matches, not_modified
from app.deps import ServiceDep, SettingsDep
from app.encoding import encode_grid
from app.errors import invalid
from app.routes.avatars import ERRORS, PNG
from app.schemas import GridQuery
from gan.imaging import grid_columns
from gan.latents import seeds_latents, truncate

router = APIRouter(tags=["browse"])


@router.get("/grid", response_class=Response, responses={200: PNG, 304: {"description": "not modified"}, **ERRORS})
async def get_grid(
    query: Annotated[GridQuery, Query()], request: Request, service: ServiceDep, settings: SettingsDep
) -> Response:
    """n avatars from seeds seed, seed+1, ... in one PNG, row-major, near-square unless `columns` is set."""
    if query.n > settings.max_grid:
        raise invalid(["query", "n"], f"Input should be less than or equal to {settings.max_grid}", "less_than_equal")
    columns = min(query.columns or grid_columns(query.n), query.n)
    version = service.model.version
    headers = cache_headers(
        etag_for(version, "grid", query.seed, query.n, columns, query.truncation, query.size),
        settings.cache_max_age_s,
        immutable=False,
        model_version=version,
    )
    headers["X-First-Seed"] = str(query.seed)
    headers["X-Grid-Columns"] = str(columns)
    if matches(request, headers["ETag"]):
        return not_modified(headers)
    seeds = range(query.seed, query.seed + query.n)
    images = await service.render(truncate(seeds_latents(seeds, service.model.latent_dim), query.truncation), request)
    png = await service.encode(encode_grid, images, query.size, columns, settings.png_compress_level)
    return Response(png, media_type="image/png", headers=headers)
