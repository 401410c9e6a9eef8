"""GET /latents/{seed}: the vector behind a seed, for client-side latent arithmetic."""

# no `from __future__ import annotations`: the route signatures refer to the release resolver
# passed to `image_routes`, which FastAPI can only see in annotations evaluated at definition time

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response

from app.caching import cache_headers, etag_key, matches, not_modified
from app.deps import ReleaseResolver, SettingsDep, Target
from app.responses import RELEASE_ERRORS
from app.schemas import LatentResponse
from gan.latents import MAX_SEED, seed_latent


def image_routes(release: ReleaseResolver, prefix: str = "") -> APIRouter:
    """GET /latents/{seed}, bound to the default release or to the release named in the URL."""
    routes = APIRouter(tags=["explore"])

    @routes.get(prefix + "/latents/{seed}", response_model=LatentResponse, responses={304: {}, **RELEASE_ERRORS})
    async def get_latent(
        seed: Annotated[int, Path(ge=0, le=MAX_SEED, description="0 <= seed < 2**63")],
        target: Annotated[Target, Depends(release)],
        request: Request,
        settings: SettingsDep,
    ) -> Response:
        """Untruncated; send it (or a sum of several) back as `latents`, with the same `model`, at any truncation."""
        served = target.served
        headers = cache_headers(served, target.pinned, settings, etag_key("latent", {"seed": seed}))
        if matches(request, headers["ETag"]):
            return not_modified(headers)
        latent = seed_latent(seed, served.model.latent_dim)
        body = LatentResponse(
            seed=seed,
            latent_dim=latent.numel(),
            latent=latent.tolist(),
            model=served.name,
            model_version=served.version,
        )
        return JSONResponse(body.model_dump(), headers=headers)

    return routes
