"""POST /avatars for batches from seeds, player ids or latents; GET .../avatars/{seed}.{ext} for CDNs."""

# no `from __future__ import annotations`: the route signatures refer to the release resolver
# passed to `image_routes`, which FastAPI can only see in annotations evaluated at definition time

import base64
from typing import Annotated

import torch
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from app.caching import cache_headers, matches, not_modified, release_headers
from app.deps import JsonBody, ReleaseResolver, ServiceDep, SettingsDep, Target, use_release
from app.encoding import encode_avatar
from app.errors import check_at_most, check_latent_length, check_pixels, invalid
from app.formats import BY_EXTENSION, FORMATS
from app.schemas import (
    AvatarBatch,
    AvatarItem,
    AvatarQuery,
    AvatarRequest,
    ErrorBody,
    Extension,
    ValidationErrorBody,
    quality_rule,
)
from gan.latents import MAX_SEED, player_seed, seeds_latents, truncate

router = APIRouter(tags=["avatars"])

ERRORS = {422: {"model": ValidationErrorBody}, 503: {"model": ErrorBody, "description": "overloaded; see Retry-After"}}
RELEASE_ERRORS = {
    404: {"model": ErrorBody, "description": "unknown release (the answer names the known ones)"},
    410: {"model": ErrorBody, "description": "retired release (the answer names its successor)"},
}
PNG = {"content": {"image/png": {}}}
IMAGE = {"content": {f.media_type: {} for f in FORMATS.values()}, "description": "the avatar in the URL's format"}


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
            "description": "one avatar: the image itself (unless Accept: application/json); several: JSON",
            "content": {f.media_type: {} for f in FORMATS.values()},
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
    fmt = FORMATS[body.format]
    files = await service.encode_each(images, body.size, fmt, body.quality)
    if len(files) == 1 and not wants_json(request):
        headers = release_headers(served)
        if seeds[0] is not None:
            headers["X-Avatar-Seed"] = str(seeds[0])
        return Response(files[0], media_type=fmt.media_type, headers=headers)
    field = "png_base64" if fmt.name == "png" else "image_base64"  # PNG keeps its original field name
    items = [
        AvatarItem(
            index=i,
            seed=seeds[i],
            player_id=body.player_ids[i] if body.player_ids else None,
            **{field: base64.b64encode(data).decode("ascii")},
        )
        for i, data in enumerate(files)
    ]
    batch = AvatarBatch(
        model=served.name,
        model_version=served.version,
        size=body.size,
        truncation=body.truncation,
        format=fmt.name,
        media_type=fmt.media_type,
        avatars=items,
    )
    unused = "image_base64" if field == "png_base64" else "png_base64"
    return JSONResponse(batch.model_dump(exclude={"avatars": {"__all__": {unused}}}), headers=release_headers(served))


def image_routes(release: ReleaseResolver, prefix: str = "") -> APIRouter:
    """GET /avatars/{seed}.{extension}, bound to the default release or to the release named in the URL."""
    routes = APIRouter(tags=["avatars"])

    @routes.get(
        prefix + "/avatars/{seed}.{extension}",
        response_class=Response,
        responses={200: IMAGE, 304: {"description": "If-None-Match matched"}, **RELEASE_ERRORS, **ERRORS},
    )
    async def get_avatar(
        seed: Annotated[int, Path(ge=0, le=MAX_SEED, description="0 <= seed < 2**63")],
        extension: Annotated[Extension, Path(description="the format: " + ", ".join(BY_EXTENSION))],
        query: Annotated[AvatarQuery, Query()],
        target: Annotated[Target, Depends(release)],
        request: Request,
        service: ServiceDep,
        settings: SettingsDep,
    ) -> Response:
        """The avatar of one seed in the URL's format, cacheable: strong ETag, Cache-Control, 304 on If-None-Match."""
        fmt = BY_EXTENSION[extension]
        if query.quality is not None and not fmt.takes_quality:
            raise invalid(["query", "quality"], quality_rule(extension), "value_error")
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
            extension,
            query.quality,
            fmt.codec,
        )
        headers["X-Avatar-Seed"] = str(seed)
        if matches(request, headers["ETag"]):
            return not_modified(headers)
        latents = truncate(seeds_latents([seed], served.model.latent_dim), query.truncation)
        images = await service.render(served.name, latents, request)
        data = await service.encode(
            encode_avatar, images[0], query.size, fmt, query.quality, settings.png_compress_level
        )
        return Response(data, media_type=fmt.media_type, headers=headers)

    return routes
