"""GET /grid: a contact sheet of consecutive seeds for artists to browse."""

# no `from __future__ import annotations`: the route signatures refer to the release resolver
# passed to `image_routes`, which FastAPI can only see in annotations evaluated at definition time

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from app.caching import add_head_twins
from app.creator import edited, query_edits
from app.deps import ReleaseResolver, ServiceDep, SettingsDep, Target
from app.encoding import encode_grid
from app.errors import check_at_most, check_pixels, check_size
from app.image_responses import image_answer
from app.responses import ERRORS, NOT_MODIFIED, PNG, RELEASE_ERRORS
from app.schemas import GridQuery
from gan.imaging import grid_columns
from gan.latents import seeds_latents


def image_routes(release: ReleaseResolver, prefix: str = "") -> APIRouter:
    """GET /grid, bound to the default release or to the release named in the URL."""
    routes = APIRouter(tags=["browse"])

    @routes.get(
        prefix + "/grid",
        response_class=Response,
        responses={200: PNG, 304: NOT_MODIFIED, **RELEASE_ERRORS, **ERRORS},
    )
    async def get_grid(
        query: Annotated[GridQuery, Query()],
        target: Annotated[Target, Depends(release)],
        request: Request,
        service: ServiceDep,
        settings: SettingsDep,
    ) -> Response:
        """n avatars from seeds seed, seed+1, ... in one PNG, row-major, near-square unless `columns` is set."""
        check_at_most(["query", "n"], query.n, settings.max_grid, "max_grid")
        served = target.served
        check_size(["query", "size"], served, query.size, service.releases)
        work = check_pixels(["query", "n"], served, query.n, query.size, settings.max_request_pixels)
        columns = min(query.columns or grid_columns(query.n), query.n)
        edits = query_edits(served, query.edits)

        async def draw() -> bytes:
            seeds = range(query.seed, query.seed + query.n)
            latents = edited(served, seeds_latents(seeds, served.model.latent_dim), query.truncation, edits)
            images = await service.draw(served, latents, query.size, request)
            level = settings.png_compress_level
            return await service.encode(encode_grid, images, query.size, columns, level, work=query.n * query.size**2)

        options = {"seed": query.seed, "n": query.n, "columns": columns, "truncation": query.truncation,
                   "size": query.size, "edits": edits}  # fmt: skip
        headers = {"X-First-Seed": str(query.seed), "X-Grid-Columns": str(columns)}
        return await image_answer(request, service, settings, served, immutable=target.pinned, kind="grid",
                                  options=options, media_type="image/png", work=work, draw=draw,
                                  headers=headers)  # fmt: skip

    add_head_twins(routes)
    return routes
