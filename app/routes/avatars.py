"""POST /avatars for batches from seeds, player ids or latents; GET .../avatars/{seed}.{ext} for CDNs."""

# no `from __future__ import annotations`: the route signatures refer to the release resolver
# passed to `image_routes`, which FastAPI can only see in annotations evaluated at definition time

import re
from typing import Annotated

import numpy as np
import torch
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import Field, TypeAdapter, ValidationError

from app.answers import StreamedAnswer, avatar_batch_stream
from app.caching import IMMUTABLE, add_head_twins, answer_without_rendering, cache_headers, release_headers
from app.config import Settings
from app.creator import check_edits, coded_release, decode_code, edited, query_edits, specs_latents
from app.deps import JsonBody, ReleaseResolver, ServiceDep, SettingsDep, Target, use_release
from app.encoding import encode_avatar
from app.errors import (
    INVALID,
    INVALID_BODY,
    check_at_most,
    check_latent_length,
    check_pixels,
    check_size,
    invalid,
)
from app.formats import BY_EXTENSION, FORMATS
from app.releases import ServedRelease
from app.schemas import (
    AVATAR_PATTERN,
    SEED_SPELLING,
    AvatarBatch,
    AvatarItem,
    AvatarQuery,
    AvatarRequest,
    ErrorBody,
    Extension,
    RetiredErrorBody,
    ValidationErrorBody,
)
from app.service import AvatarService
from gan.codes import MAX_CODE_CHARS, AvatarSpec, encode, is_code
from gan.creation import HairSearch
from gan.directions import HairRecipe
from gan.latents import MAX_SEED, player_seed, seeds_latents, truncate

router = APIRouter(tags=["avatars"])

ERRORS = {
    422: {"model": ValidationErrorBody, "description": INVALID},
    503: {"model": ErrorBody, "description": "overloaded; see Retry-After"},
}
# what only a request with a body can get (app/admission.py), and one answer for any body that is not JSON
BODY_ERRORS = {
    408: {"model": ErrorBody, "description": "the body did not arrive within AVATARS_BODY_TIMEOUT_S"},
    413: {"model": ErrorBody, "description": "the body is over AVATARS_MAX_BODY_BYTES"},
    422: {"model": ValidationErrorBody, "description": INVALID_BODY},
}
# the same answers wherever a release is named: by a URL, a body's `model`, a code or a `v` version
RELEASE_ERRORS = {
    404: {"model": ErrorBody, "description": "unknown release or model version (the answer names the known ones)"},
    410: {"model": RetiredErrorBody, "description": "retired release (`successor` names the release replacing it)"},
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


def request_specs(body: AvatarRequest, served: ServedRelease, seeds: list[int | None]) -> list[AvatarSpec]:
    """What each avatar of the request is, as its code will say."""
    edits = tuple((body.edits or {}).items())
    if body.latents is not None:
        return [AvatarSpec(served.name, latent=tuple(z), truncation=body.truncation, edits=edits).normalized()
                for z in body.latents]  # fmt: skip
    return [AvatarSpec(served.name, seed=s, truncation=body.truncation, edits=edits).normalized() for s in seeds]


def hair_recipe(body: AvatarRequest, served: ServedRelease) -> HairRecipe | None:
    """The recipe of the requested hair colour (None without one), refusing a colour the release does not offer."""
    if body.hair_color is None:
        return None
    offered = sorted(served.directions.hair) if served.directions is not None else []
    if body.hair_color not in offered:
        raise invalid(["body", "hair_color"], f"release {served.name!r} offers the hair colours "
                      f"{', '.join(offered) or 'none'}, not {body.hair_color!r}", "hair_color_not_offered")  # fmt: skip
    assert served.directions is not None
    recipe = served.directions.hair[body.hair_color]
    if recipe.direction in (body.edits or {}):
        raise invalid(["body", "edits", recipe.direction], "hair_color sets this direction itself; leave it out",
                      "hair_color_edit")  # fmt: skip
    return recipe


def search_rounds(recipe: HairRecipe | None, body: AvatarRequest) -> int:
    """The most rounds the hair-colour search may run: every strength on the player's face, then on
    each alternate face (seeded avatars only); each round draws the request's avatars once more."""
    if recipe is None:
        return 0
    return len(recipe.strengths) * (1 + (recipe.alternates if body.latents is None else 0))


async def with_hair_color(
    recipe: HairRecipe, served: ServedRelease, specs: list[AvatarSpec], service: AvatarService, request: Request
) -> tuple[list[AvatarSpec], np.ndarray, list[bool]]:
    """Character creation: search each avatar's candidates in rounds, one batch through the queue per round."""
    search = HairSearch(specs, recipe)
    while (batch := search.next_batch()) is not None:
        search.feed(await service.render(served.name, specs_latents(served, batch), request))
    return search.chosen, search.drawn(), search.matched.tolist()


_SEED = TypeAdapter(Annotated[int, Field(ge=0, le=MAX_SEED)])
_SEED_SPELLING = re.compile(SEED_SPELLING)


def parse_seed(text: str) -> int:
    """A seed path segment under the rules it had before codes shared the segment (`+42` still works,
    redirected to `42`), narrowed to the spellings the schema's pattern names (no tabs, no `-0`)."""
    try:
        value = _SEED.validate_python(text, strict=False)
    except ValidationError as exc:
        error = exc.errors()[0]
        kind = "seed_out_of_range" if error["type"] == "less_than_equal" else error["type"]
        raise invalid(["path", "seed"], error["msg"], kind) from None
    if not _SEED_SPELLING.fullmatch(text):
        raise invalid(["path", "seed"], f"a seed is written in digits (42, or +42, 042, 4_2, 42.0), got {text!r}",
                      "int_parsing")  # fmt: skip
    return value


def canonical_redirect(
    request: Request, path: str, immutable: bool, settings: Settings, drop_quality: bool = False
) -> RedirectResponse:
    """308 to the avatar's one URL (`path`), the rest of the query kept: old links keep working and
    caches hold one copy. The redirect is as cacheable as the avatar it leads to."""
    url = request.url.replace(path=path)
    if drop_quality:
        url = url.remove_query_params("quality")
    lifetime = IMMUTABLE if immutable else f"public, max-age={settings.cache_max_age_s}"
    return RedirectResponse(str(url), status_code=308, headers={"Cache-Control": lifetime})


def under_release(request: Request, release: str) -> str:
    """The request's path with its `/models/{release}/` replaced by another release's."""
    pinned = f"/models/{request.path_params['release']}/"
    path = request.url.path
    at = path.index(pinned, len(request.scope.get("root_path", "")))
    return path[:at] + f"/models/{release}/" + path[at + len(pinned) :]


def version_target(service: AvatarService, served: ServedRelease, pinned: bool, version: str) -> ServedRelease:
    """The release `?v=` pins: the URL's own (a pinned URL takes only its version), or any served
    release's. A retired release's version is a 410 naming the successor, as its name is."""
    if version == served.version:
        return served
    by_version = None if pinned else service.releases.by_version(version)
    if by_version is None:
        served_versions = ", ".join(f"{s.name}={s.version}" for s in service.releases.served.values())
        raise HTTPException(404, f"model version {version!r} is not served here (served: {served_versions})")
    return by_version


def seed_spec(served: ServedRelease, seed: int, query: AvatarQuery) -> AvatarSpec:
    edits = query_edits(served, query.edits)
    return AvatarSpec(served.name, seed=seed, truncation=query.truncation, edits=tuple(edits.items())).normalized()


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
        **BODY_ERRORS,
    },
)
async def create_avatars(body: AvatarRequest, request: Request, service: ServiceDep, settings: SettingsDep) -> Response:
    """Avatars for players, seeds or supplied latent vectors (exactly one of the three), drawn by the
    release `model` (default: the default release). Store the answer's `model` beside the player to
    ask for exactly the same avatar later."""
    served = use_release(request, service.releases.resolve(body.model))
    model = served.model
    check_edits(served, body.edits or {}, ["body", "edits"])
    latents, seeds = request_latents(body, model.latent_dim, settings.max_avatars_per_request)
    check_size(["body", "size"], served, body.size, service.releases)
    recipe = hair_recipe(body, served)
    work = check_pixels(["body", "size"], served, body.count, body.size, settings.max_request_pixels,
                        search_rounds(recipe, body))  # fmt: skip
    with service.work.admitted(work):
        return await draw_avatars(body, request, service, served, recipe, latents, seeds)


async def draw_avatars(
    body: AvatarRequest,
    request: Request,
    service: AvatarService,
    served: ServedRelease,
    recipe: HairRecipe | None,
    latents: torch.Tensor,
    seeds: list[int | None],
) -> Response:
    """POST /avatars once admitted: the search or the plain draw, the HD stage, the files, the answer."""
    specs = request_specs(body, served, seeds)
    matched: list[bool] | list[None] = [None] * body.count
    if recipe is not None:
        specs, images, matched = await with_hair_color(recipe, served, specs, service, request)
        seeds = [spec.seed for spec in specs]
    else:
        latents = (
            edited(served, latents, body.truncation, body.edits) if body.edits else truncate(latents, body.truncation)
        )
        images = await service.render(served.name, latents, request)
    images = await service.upscale(served, images, body.size, request)  # after the hair search's 64 px rounds
    codes = [encode(spec) for spec in specs]
    fmt = FORMATS[body.format]
    files = await service.encode_each(images, body.size, fmt, body.quality)
    if len(files) == 1 and not wants_json(request):
        headers = release_headers(served)
        headers["X-Avatar-Code"] = codes[0]
        if seeds[0] is not None:
            headers["X-Avatar-Seed"] = str(seeds[0])
        if matched[0] is not None:
            headers["X-Hair-Color-Matched"] = "true" if matched[0] else "false"
        return Response(files[0], media_type=fmt.media_type, headers=headers)
    field = "png_base64" if fmt.name == "png" else "image_base64"  # PNG keeps its original field name
    # the JSON's fields in AvatarBatch's order; each file is base64-encoded only as it is sent (app/answers.py)
    unused = {"png_base64", "image_base64"} | ({"hair_color_matched"} if body.hair_color is None else set())
    items = [
        AvatarItem(
            index=i,
            seed=seeds[i],
            player_id=body.player_ids[i] if body.player_ids else None,
            code=codes[i],
            hair_color_matched=matched[i],
        ).model_dump(exclude=unused)
        for i in range(len(files))
    ]
    envelope = AvatarBatch(
        model=served.name,
        model_version=served.version,
        size=body.size,
        truncation=body.truncation,
        format=fmt.name,
        media_type=fmt.media_type,
        avatars=[],
    ).model_dump()
    stream = avatar_batch_stream(envelope, items, field, files, request.app.state.answers)
    return StreamedAnswer(stream, media_type="application/json", headers=release_headers(served))


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
        served, pinned = target.served, target.pinned
        # quality changes nothing of a lossless format: its URL without it is the avatar's one URL
        drop_quality = query.quality is not None and not fmt.takes_quality
        plain = not is_code(seed)  # a seed, spelled as before codes existed (pydantic's integer rules)
        if plain:
            value = parse_seed(seed)
            if query.v is not None:
                served = use_release(request, version_target(service, served, pinned, query.v))
            if seed != str(value) or drop_quality:  # +42, 042, 4_2, 42.0, " 42": one avatar, one URL
                path = request.url.path.rsplit("/", 1)[0] + f"/{value}.{extension}"
                return canonical_redirect(request, path, pinned or query.v is not None, settings, drop_quality)
            spec = seed_spec(served, value, query)
        else:
            for option in ("truncation", "edits"):
                if option in query.model_fields_set:
                    raise invalid(["query", option], f"a code carries its own {option}; leave {option} out",
                                  "code_option")  # fmt: skip
            coded = use_release(request, coded_release(seed, service.releases, ["path", "seed"]))
            if query.v is not None:
                version_target(service, coded, True, query.v)  # the code's release's version, or 404
            path = under_release(request, coded.name) if pinned else request.url.path  # under the code's release
            if path != request.url.path or drop_quality:
                return canonical_redirect(request, path, True, settings, drop_quality)
            served, pinned = coded, True  # a code's URL is immutable, pinned or not: the code names its release
            spec = decode_code(seed, served, ["path", "seed"])
        check_size(["query", "size"], served, query.size, service.releases)
        code = encode(spec)
        plain = plain and not spec.edits
        # a plain seed keeps the validators it has always had; everything else is named by its code
        key = (spec.seed, query.truncation) if plain else (code,)
        headers = cache_headers(
            served,
            pinned or query.v is not None,
            settings,
            "avatar",
            *key,
            query.size,
            extension,
            query.quality,
            fmt.codec,
        )
        headers["X-Avatar-Code"] = code
        if spec.seed is not None and not spec.variations:
            headers["X-Avatar-Seed"] = str(spec.seed)
        if (early := answer_without_rendering(request, headers, fmt.media_type)) is not None:
            return early
        if plain:  # the hot path: the same arithmetic as spec_latent without building it
            latents = truncate(seeds_latents([spec.seed or 0], served.model.latent_dim), spec.truncation)
        else:
            latents = specs_latents(served, [spec])
        with service.work.admitted(served.work_pixels(1, query.size)):
            images = await service.draw(served, latents, query.size, request)
            data = await service.encode(
                encode_avatar,
                images[0],
                query.size,
                fmt,
                query.quality,
                settings.png_compress_level,
                work=query.size**2,
            )
        return Response(data, media_type=fmt.media_type, headers=headers)

    add_head_twins(routes)
    return routes
