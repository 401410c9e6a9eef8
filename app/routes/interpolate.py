"""/interpolate: walk the latent space between two seeds (GET) or two latent vectors (POST)."""

# no `from __future__ import annotations`: the route signatures refer to the release resolver
# passed to `image_routes`, which FastAPI can only see in annotations evaluated at definition time

from typing import Annotated

import torch
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from app.caching import add_head_twins, release_headers
from app.creator import check_edits, edited, query_edits
from app.deps import JsonBody, ReleaseResolver, ServiceDep, SettingsDep, Target, use_release
from app.encoding import encode_gif, encode_strip
from app.errors import check_at_most, check_latent_length, check_pixels, check_size
from app.image_responses import image_answer
from app.releases import ServedRelease
from app.responses import BODY_ERRORS, ERRORS, NOT_MODIFIED, RELEASE_ERRORS
from app.schemas import InterpolationOptions, InterpolationQuery, InterpolationRequest
from app.service import AvatarService
from gan.latents import interpolate, seed_latent

router = APIRouter(tags=["explore"])

MEDIA = {"png": "image/png", "gif": "image/gif"}
IMAGE = {"content": {"image/png": {}, "image/gif": {}}, "description": "PNG strip or animated GIF"}


def check_cost(options: InterpolationOptions, loc: str, served: ServedRelease, service: AvatarService) -> int:
    """Refuse a walk over the limits; its work (the cap's unit) otherwise."""
    settings = service.settings
    check_at_most([loc, "steps"], options.steps, settings.max_interpolation_steps, "max_interpolation_steps")
    check_size([loc, "size"], served, options.size, service.releases)
    return check_pixels([loc, "steps"], served, options.steps, options.size, settings.max_request_pixels)


async def render_path(
    served: ServedRelease,
    start: torch.Tensor,
    end: torch.Tensor,
    options: InterpolationOptions,
    edits: dict[str, float],
    request: Request,
    service: AvatarService,
) -> bytes:
    """Truncation and edits apply to every frame, so the walk is between the two edited faces. The
    caller admits the work (`check_cost`'s) against the budget (app/work_admission.py)."""
    path = edited(served, interpolate(start, end, options.steps, options.mode), options.truncation, edits)
    images = await service.draw(served, path, options.size, request)
    pixels = options.steps * options.size**2  # what the encoder writes: its queue's order
    if options.format == "gif":
        return await service.encode(encode_gif, images, options.size, options.frame_ms, work=pixels)
    level = service.settings.png_compress_level
    return await service.encode(encode_strip, images, options.size, level, work=pixels)


def image_routes(release: ReleaseResolver, prefix: str = "") -> APIRouter:
    """GET /interpolate, bound to the default release or to the release named in the URL."""
    routes = APIRouter(tags=["explore"])

    @routes.get(
        prefix + "/interpolate",
        response_class=Response,
        responses={200: IMAGE, 304: NOT_MODIFIED, **RELEASE_ERRORS, **ERRORS},
    )
    async def get_interpolation(
        query: Annotated[InterpolationQuery, Query()],
        target: Annotated[Target, Depends(release)],
        request: Request,
        service: ServiceDep,
        settings: SettingsDep,
    ) -> Response:
        """From the avatar of `start` to that of `end`: a PNG strip (frames left to right) or a looping GIF."""
        served = target.served
        work = check_cost(query, "query", served, service)
        edits = query_edits(served, query.edits)

        async def draw() -> bytes:
            dim = served.model.latent_dim
            start, end = seed_latent(query.start, dim), seed_latent(query.end, dim)
            return await render_path(served, start, end, query, edits, request, service)

        options = {**query.model_dump(mode="json"), "edits": edits}  # the query's options, parsed edits in place
        return await image_answer(request, service, settings, served, immutable=target.pinned, kind="interpolate",
                                  options=options, media_type=MEDIA[query.format], work=work, draw=draw,
                                  headers={"X-Frames": str(query.steps)})  # fmt: skip

    add_head_twins(routes)
    return routes


@router.post(
    "/interpolate",
    dependencies=[JsonBody],
    response_class=Response,
    responses={200: IMAGE, **RELEASE_ERRORS, **ERRORS, **BODY_ERRORS},
)
async def post_interpolation(
    body: InterpolationRequest, request: Request, service: ServiceDep, settings: SettingsDep
) -> Response:
    """The same walk between two supplied latent vectors (e.g. results of vector arithmetic), drawn by
    the release `model` (default: the default release)."""
    served = use_release(request, service.releases.resolve(body.model))
    dim = served.model.latent_dim
    for name, latent in (("start", body.start), ("end", body.end)):
        check_latent_length(["body", name], latent, dim)
    work = check_cost(body, "body", served, service)
    edits = body.edits or {}
    check_edits(served, edits, ["body", "edits"])
    start, end = torch.tensor(body.start), torch.tensor(body.end)
    with service.work.admitted(work):
        data = await render_path(served, start, end, body, edits, request, service)
    headers = {**release_headers(served), "X-Frames": str(body.steps)}
    return Response(data, media_type=MEDIA[body.format], headers=headers)
