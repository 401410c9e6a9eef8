"""POST /avatars for batches from seeds, player ids or latents; GET .../avatars/{seed}.{ext} for CDNs."""

# no `from __future__ import annotations`: the route signatures refer to the release resolver
# passed to `image_routes`, which FastAPI can only see in annotations evaluated at definition time

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from app.avatar_specs import Redirect, draw_batch, hair_recipe, request_latents, resolve_avatar, search_rounds
from app.caching import add_head_twins
from app.creator import check_edits
from app.deps import JsonBody, ReleaseResolver, ServiceDep, SettingsDep, Target, use_release
from app.encoding import encode_avatar
from app.errors import check_pixels, check_size
from app.formats import BY_EXTENSION, FORMATS
from app.image_responses import avatar_batch_answer, canonical_redirect, image_answer
from app.responses import BODY_ERRORS, ERRORS, RELEASE_ERRORS
from app.schemas import AVATAR_PATTERN, AvatarBatch, AvatarQuery, AvatarRequest, Extension
from gan.codes import MAX_CODE_CHARS

router = APIRouter(tags=["avatars"])

IMAGE = {"content": {f.media_type: {} for f in FORMATS.values()}, "description": "the avatar in the URL's format"}


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
        **BODY_ERRORS,
    },
)
async def create_avatars(body: AvatarRequest, request: Request, service: ServiceDep, settings: SettingsDep) -> Response:
    """Avatars for players, seeds or supplied latent vectors (exactly one of the three), drawn by the
    release `model` (default: the default release). Store the answer's `model` beside the player to
    ask for exactly the same avatar later."""
    served = use_release(request, service.releases.resolve(body.model))
    check_edits(served, body.edits or {}, ["body", "edits"])
    latents, seeds = request_latents(body, served.model.latent_dim, settings.max_avatars_per_request)
    check_size(["body", "size"], served, body.size, service.releases)
    recipe = hair_recipe(body, served)
    work = check_pixels(["body", "size"], served, body.count, body.size, settings.max_request_pixels,
                        search_rounds(recipe, body))  # fmt: skip
    with service.work.admitted(work):
        drawn = await draw_batch(body, request, service, served, recipe, latents, seeds)
        return await avatar_batch_answer(body, request, service, served, drawn)


def image_routes(release: ReleaseResolver, prefix: str = "") -> APIRouter:
    """GET /avatars/{seed}.{extension}, bound to the default release or to the release named in the URL."""
    routes = APIRouter(tags=["avatars"])

    @routes.get(
        prefix + "/avatars/{seed}.{extension}",
        response_class=Response,
        responses={
            200: IMAGE,
            304: {"description": "If-None-Match matched"},
            308: {
                "description": "the avatar's one URL, the rest of the query kept: for a seed spelled otherwise "
                "(+42, 042, 4_2, 42.0), a code under another release than the one it names, or a quality "
                "on a lossless format (png), which changes nothing"
            },
            **RELEASE_ERRORS,
            **ERRORS,
        },
    )
    async def get_avatar(
        seed: Annotated[
            str,
            Path(
                max_length=MAX_CODE_CHARS,
                description="a seed (digits, 0 <= seed < 2**63; other spellings redirect to them) or an avatar "
                "code (from POST /avatars, /codes or /variations: it carries its release, truncation and edits)",
                json_schema_extra={"pattern": AVATAR_PATTERN},
            ),
        ],
        extension: Annotated[Extension, Path(description="the format: " + ", ".join(BY_EXTENSION))],
        query: Annotated[AvatarQuery, Query()],
        target: Annotated[Target, Depends(release)],
        request: Request,
        service: ServiceDep,
        settings: SettingsDep,
    ) -> Response:
        """The avatar of one seed or code in the URL's format, cacheable: strong ETag, Cache-Control,
        304 on If-None-Match. A code's URL is immutable: the code names its release."""
        fmt = BY_EXTENSION[extension]
        avatar = resolve_avatar(seed, extension, fmt, query, target, request, service)
        if isinstance(avatar, Redirect):
            return canonical_redirect(request, avatar.path, avatar.immutable, settings, avatar.drop_quality)
        spec, served = avatar.spec, avatar.served
        headers = {"X-Avatar-Code": avatar.code}
        if spec.seed is not None and not spec.variations:
            headers["X-Avatar-Seed"] = str(spec.seed)

        async def draw() -> bytes:
            images = await service.draw(served, avatar.latents(), query.size, request)
            level = settings.png_compress_level
            return await service.encode(
                encode_avatar, images[0], query.size, fmt, query.quality, level, work=query.size**2
            )

        options = {**avatar.etag_options, "size": query.size, "extension": extension, "quality": query.quality,
                   "codec": fmt.codec}  # fmt: skip
        return await image_answer(request, service, settings, served, immutable=avatar.immutable, kind="avatar",
                                  options=options, media_type=fmt.media_type,
                                  work=served.work_pixels(1, query.size), draw=draw, headers=headers)  # fmt: skip

    add_head_twins(routes)
    return routes
