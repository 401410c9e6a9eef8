"""POST /avatars for batches from seeds, player ids or latents; GET /avatars/{seed}.png for CDNs."""

from __future__ import annotations

import base64
from typing import Annotated

import torch
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from app.caching import cache_headers, etag_for, matches, not_modified
from app.deps import JsonBody, ServiceDep, SettingsDep
from app.encoding import encode_png
from app.errors import invalid
from app.schemas import AvatarBatch, AvatarItem, AvatarQuery, AvatarRequest, ErrorBody, ValidationErrorBody
from gan.latents import MAX_SEED, player_seed, seeds_latents, truncate

router = APIRouter(tags=["avatars"])

ERRORS = {422: {"model": ValidationErrorBody}, 503: {"model": ErrorBody, "description": "overloaded; see Retry-After"}}
PNG = {"content": {"image/png": {}}}


def request_latents(body: AvatarRequest, latent_dim: int, limit: int) -> tuple[torch.Tensor, list[int | None]]:
    """The latents a request names and the seed of each (None for supplied latents)."""
    field = "seeds" if body.seeds is not None else "player_ids" if body.player_ids is not None else "latents"
    if body.count > limit:
        raise invalid(
            ["body", field], f"List should have at most {limit} items (AVATARS_MAX_AVATARS_PER_REQUEST)", "too_long"
        )
    if body.latents is not None:
        for i, latent in enumerate(body.latents):
            if len(latent) != latent_dim:
                raise invalid(
                    ["body", "latents", i],
                    f"List should have exactly {latent_dim} items (the model's latent size), got {len(latent)}",
                    "latent_length",
                )
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
        **ERRORS,
    },
)
async def create_avatars(body: AvatarRequest, request: Request, service: ServiceDep, settings: SettingsDep) -> Response:
    """Avatars for a player, a list of seeds or supplied latent vectors (exactly one of the three)."""
    model = service.model
    latents, seeds = request_latents(body, model.latent_dim, settings.max_avatars_per_request)
    images = await service.render(truncate(latents, body.truncation), request)
    pngs = await service.encode_each(images, body.size)
    if len(pngs) == 1 and not wants_json(request):
        headers = {"X-Model-Version": model.version}
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
    batch = AvatarBatch(model_version=model.version, size=body.size, truncation=body.truncation, avatars=items)
    return JSONResponse(batch.model_dump())


@router.get(
    "/avatars/{seed}.png",
    response_class=Response,
    responses={200: PNG, 304: {"description": "If-None-Match matched"}, 404: {"model": ErrorBody}, **ERRORS},
)
async def get_avatar(
    seed: Annotated[int, Path(ge=0, le=MAX_SEED, description="0 <= seed < 2**63")],
    query: Annotated[AvatarQuery, Query()],
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
) -> Response:
    """The avatar of one seed, cacheable: strong ETag, Cache-Control, 304 on If-None-Match."""
    version = service.model.version
    if query.v is not None and query.v != version:
        raise HTTPException(404, f"model version {query.v!r} is not served here (current: {version})")
    headers = cache_headers(
        etag_for(version, "avatar", seed, query.truncation, query.size),
        settings.cache_max_age_s,
        immutable=query.v is not None,
        model_version=version,
    )
    headers["X-Avatar-Seed"] = str(seed)
    if matches(request, headers["ETag"]):
        return not_modified(headers)
    latents = truncate(seeds_latents([seed], service.model.latent_dim), query.truncation)
    images = await service.render(latents, request)
    png = await service.encode(encode_png, images[0], query.size, settings.png_compress_level)
    return Response(png, media_type="image/png", headers=headers)
