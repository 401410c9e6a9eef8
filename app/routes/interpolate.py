"""/interpolate: walk the latent space between two seeds (GET) or two latent vectors (POST)."""

from __future__ import annotations

from typing import Annotated

import torch
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.deps import JsonBody, ServiceDep, SettingsDep
from app.encoding import encode_gif, encode_strip
from app.errors import invalid
from app.routes.avatars import ERRORS
from app.schemas import InterpolationOptions, InterpolationQuery, InterpolationRequest
from app.service import AvatarService
from gan.latents import interpolate, seed_latent, truncate

router = APIRouter(tags=["explore"])

MEDIA = {"png": "image/png", "gif": "image/gif"}
IMAGE = {"content": {"image/png": {}, "image/gif": {}}, "description": "PNG strip or animated GIF"}


async def render_path(
    start: torch.Tensor,
    end: torch.Tensor,
    options: InterpolationOptions,
    loc: str,
    request: Request,
    service: AvatarService,
    max_steps: int,
) -> Response:
    if options.steps > max_steps:
        raise invalid([loc, "steps"], f"Input should be less than or equal to {max_steps}", "less_than_equal")
    path = truncate(interpolate(start, end, options.steps, options.mode), options.truncation)
    images = await service.render(path, request)
    if options.format == "gif":
        data = await service.encode(encode_gif, images, options.size, options.frame_ms)
    else:
        data = await service.encode(encode_strip, images, options.size, service.settings.png_compress_level)
    return Response(
        data,
        media_type=MEDIA[options.format],
        headers={"X-Model-Version": service.model.version, "X-Frames": str(options.steps)},
    )


@router.get("/interpolate", response_class=Response, responses={200: IMAGE, **ERRORS})
async def get_interpolation(
    query: Annotated[InterpolationQuery, Query()], request: Request, service: ServiceDep, settings: SettingsDep
) -> Response:
    """From the avatar of `start` to that of `end`: a PNG strip (frames left to right) or a looping GIF."""
    dim = service.model.latent_dim
    start, end = seed_latent(query.start, dim), seed_latent(query.end, dim)
    return await render_path(start, end, query, "query", request, service, settings.max_interpolation_steps)


@router.post("/interpolate", dependencies=[JsonBody], response_class=Response, responses={200: IMAGE, **ERRORS})
async def post_interpolation(
    body: InterpolationRequest, request: Request, service: ServiceDep, settings: SettingsDep
) -> Response:
    """The same walk between two supplied latent vectors (e.g. results of vector arithmetic)."""
    dim = service.model.latent_dim
    for name, latent in (("start", body.start), ("end", body.end)):
        if len(latent) != dim:
            raise invalid(
                ["body", name],
                f"List should have exactly {dim} items (the model's latent size), got {len(latent)}",
                "latent_length",
            )
    start, end = torch.tensor(body.start), torch.tensor(body.end)
    return await render_path(start, end, body, "body", request, service, settings.max_interpolation_steps)
