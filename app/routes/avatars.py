"""POST /avatars for batches from seeds, player ids or latents; GET .../avatars/{seed}.png for CDNs."""

# no `from __future__ import annotations`: the route signatures refer to the release resolver
# passed to `image_routes`, which FastAPI can only see in annotations evaluated at definition time

import base64
from typing import Annotated

import torch
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from app.caching import cache_headers, matches, not_modified, release_headers
from app.deps import JsonBody, ReleaseResolver, ServiceDep, SettingsDep, Target, use_release
from app.encoding import encode_png
from app.errors import check_at_most, check_latent_length, check_pixels
from app.schemas import AvatarBatch, AvatarItem, AvatarQuery, AvatarRequest, ErrorBody, ValidationErrorBody
from gan.latents import MAX_SEED, player_seed, seeds_latents, truncate

router = APIRouter(tags=["avatars"])

ERRORS = {422: {"model": ValidationErrorBody}, 503: {"model": ErrorBody, "description": "overloaded; see Retry-After"}}
RELEASE_ERRORS = {
    404: {"model": ErrorBody, "description": "unknown release (the answer names the known ones)"},
    410: {"model": ErrorBody, "description": "retired release (the answer names its successor)"},
}
PNG = {"content": {"image/png": {}}}


def request_latents(body: AvatarRequest, latent_dim: int, limit: int) -> tuple[torch.Tensor, list[int | None]]:
    """The latents a request names and the seed of each (None for supplied latents)."""
    field = "seeds" if body.seeds is not None else "player_ids" if body.player_ids is not None else "latents"
    check_at_most(["body", field], body.count, limit, "max_avatars_per_request", what="items")
    if body.latents is not None:
        for i, latent in enumerate(body.latents):
            check_latent_length(["body", "latents", i], latent, latent_dim)
        return torch.tensor(body.latents, dtype=torch.float32), [None] * body.count
    seeds = body.seeds if body.seeds is not None else [player_seed(p) for p in body.player_ids or []]
    return seeds_latents(seeds, latent_dim), list(seeds)


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "image/png" not in accept


@router.post(
    "/avatars",
    dependencies=[JsonBody],
    response_class=Response,
    responses={
        200: {
            "model": AvatarBatch,
            "description": "one avatar: the PNG itself (unless Accept: application/json); several: JSON",
            "content": {"image/png": {}},
        },
        **RELEASE_ERRORS,
        **ERRORS,
    },
)
async def create_avatars(body: AvatarRequest, request: Request, service: ServiceDep, settings: SettingsDep) -> Response:
    """Avatars for players, seeds or supplied latent vectors (exactly one of the three), drawn by the
    release `model` (default: the default release). Store the answer's `model` beside the player to
    ask for exactly the same avatar later."""
    served = use_release(request, service.releases.resolve(body.model))
    model = served.model
    latents, seeds = request_latents(body, model.latent_dim, settings.max_avatars_per_request)
    check_pixels(["body", "size"], body.count, body.size, settings.max_request_pixels)
    images = await service.render(served.name, truncate(latents, body.truncation), request)
    pngs = await service.encode_each(images, body.size)
    if len(pngs) == 1 and not wants_json(request):
        headers = release_headers(served)
        if seeds[0] is not None:
            headers["X-Avatar-Seed"] = str(seeds[0])
        return Response(pngs[0], media_type="image/png", headers=headers)
    items = [
        AvatarItem(
            index=i,
            seed=seeds[i],
            player_id=body.player_ids[i] if body.player_ids else None,
            png_base64=base64.b64encode(png).decode("ascii"),
        )
        for i, png in enumerate(pngs)
    ]
    batch = AvatarBatch(
        model=served.name,
        model_version=served.version,
        size=body.size,
        truncation=body.truncation,
        avatars=items,
    )
    return JSONResponse(batch.model_dump(), headers=release_headers(served))


def image_routes(release: ReleaseResolver, prefix: str = "") -> APIRouter:
    """GET /avatars/{seed}.png, bound to the default release or to the release named in the URL."""
    routes = APIRouter(tags=["avatars"])

    @routes.get(
        prefix + "/avatars/{seed}.png",
        response_class=Response,
        responses={200: PNG, 304: {"description": "If-None-Match matched"}, **RELEASE_ERRORS, **ERRORS},
    )
    async def get_avatar(
        seed: Annotated[int, Path(ge=0, le=MAX_SEED, description="0 <= seed < 2**63")],
        query: Annotated[AvatarQuery, Query()],
        target: Annotated[Target, Depends(release)],
        request: Request,
        service: ServiceDep,
        settings: SettingsDep,
    ) -> Response:
        """The avatar of one seed, cacheable: strong ETag, Cache-Control, 304 on If-None-Match."""
        served, pinned = target.served, target.pinned
        if query.v is not None and query.v != served.version:
            by_version = None if pinned else service.releases.by_version(query.v)
            if by_version is None:
                served_versions = ", ".join(f"{s.name}={s.version}" for s in service.releases.served.values())
                raise HTTPException(404, f"model version {query.v!r} is not served here (served: {served_versions})")
            served = use_release(request, by_version)
        headers = cache_headers(
            served,
            pinned or query.v is not None,
            settings,
            "avatar",
            seed,
            query.truncation,
            query.size,
        )
        headers["X-Avatar-Seed"] = str(seed)
        if matches(request, headers["ETag"]):
            return not_modified(headers)
        latents = truncate(seeds_latents([seed], served.model.latent_dim), query.truncation)
        images = await service.render(served.name, latents, request)
        png = await service.encode(encode_png, images[0], query.size, settings.png_compress_level)
        return Response(png, media_type="image/png", headers=headers)

    return routes
