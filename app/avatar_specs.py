"""What an avatar request names, resolved before anything is drawn: the release that draws it, its
spec and code, and (for POST /avatars) the latents, the specs and the hair-colour search.

GET /avatars/{seed or code}.{ext} takes a seed (the spellings it always took; other spellings
redirect to the digits) or a code (drawn by the release it names; under another release's URL, a
redirect there), with `?v=` pinning a model version. `resolve_avatar` makes that one decision, so
the route only answers it; the ETag options it picks keep a plain seed's validators as they were
before codes existed (app/caching.py `etag_key`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch
from fastapi import HTTPException, Request
from pydantic import Field, TypeAdapter, ValidationError

from app.creator import coded_release, decode_code, edited, query_edits, specs_latents
from app.deps import Target, use_release
from app.errors import check_at_most, check_latent_length, check_size, invalid
from app.formats import ImageFormat
from app.image_responses import under_release
from app.releases import ServedRelease
from app.schemas import SEED_SPELLING, AvatarQuery, AvatarRequest
from app.service import AvatarService
from gan.codes import AvatarSpec, encode, is_code
from gan.creation import HairSearch
from gan.directions import HairRecipe
from gan.latents import MAX_SEED, player_seed, seeds_latents, truncate

_SEED = TypeAdapter(Annotated[int, Field(ge=0, le=MAX_SEED)])
_SEED_SPELLING = re.compile(SEED_SPELLING)


# ------------------------------------------------------------------------ GET /avatars/{seed or code}
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


@dataclass(frozen=True)
class Redirect:
    """The avatar's one URL is another: `path`, as cacheable as the avatar (and without `quality`
    where the format is lossless)."""

    path: str
    immutable: bool
    drop_quality: bool


@dataclass(frozen=True)
class ResolvedAvatar:
    """The avatar a GET URL names, and how to answer it."""

    served: ServedRelease  # the release that draws it
    immutable: bool  # its URL names the release (by path, by `?v=`, or by being a code)
    spec: AvatarSpec
    code: str
    plain: bool  # a seed without edits: the hot path, and the validators seeds had before codes
    etag_options: dict[str, Any]  # what names the avatar in its ETag: a plain seed's (seed, truncation), or its code

    def latents(self) -> torch.Tensor:
        """The one latent to draw; a plain seed's by the same arithmetic as `spec_latent`, without building it."""
        if self.plain:
            return truncate(seeds_latents([self.spec.seed or 0], self.served.model.latent_dim), self.spec.truncation)
        return specs_latents(self.served, [self.spec])


def resolve_avatar(
    segment: str,
    extension: str,
    fmt: ImageFormat,
    query: AvatarQuery,
    target: Target,
    request: Request,
    service: AvatarService,
) -> ResolvedAvatar | Redirect:
    """The avatar of one path segment (a seed or a code) under a release's URL, or the redirect to its
    one URL; 404/410/422 for anything else."""
    served, pinned = target.served, target.pinned
    # quality changes nothing of a lossless format: its URL without it is the avatar's one URL
    drop_quality = query.quality is not None and not fmt.takes_quality
    if not is_code(segment):  # a seed, spelled as before codes existed (pydantic's integer rules)
        value = parse_seed(segment)
        if query.v is not None:
            served = use_release(request, version_target(service, served, pinned, query.v))
        immutable = pinned or query.v is not None
        if segment != str(value) or drop_quality:  # +42, 042, 4_2, 42.0, " 42": one avatar, one URL
            return Redirect(request.url.path.rsplit("/", 1)[0] + f"/{value}.{extension}", immutable, drop_quality)
        spec = seed_spec(served, value, query)
        plain = not spec.edits
    else:
        for option in ("truncation", "edits"):
            if option in query.model_fields_set:
                raise invalid(["query", option], f"a code carries its own {option}; leave {option} out",
                              "code_option")  # fmt: skip
        coded = use_release(request, coded_release(segment, service.releases, ["path", "seed"]))
        if query.v is not None:
            version_target(service, coded, True, query.v)  # the code's release's version, or 404
        path = under_release(request, coded.name) if pinned else request.url.path  # under the code's release
        if path != request.url.path or drop_quality:
            return Redirect(path, True, drop_quality)
        served, immutable = coded, True  # a code's URL is immutable, pinned or not: the code names its release
        spec = decode_code(segment, served, ["path", "seed"])
        plain = False
    check_size(["query", "size"], served, query.size, service.releases)
    code = encode(spec)
    # a plain seed keeps the validators it has always had; everything else is named by its code
    options = {"seed": spec.seed, "truncation": query.truncation} if plain else {"code": code}
    return ResolvedAvatar(served, immutable, spec, code, plain, options)


# --------------------------------------------------------------------------------- POST /avatars
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
) -> tuple[list[AvatarSpec], np.ndarray, list[bool], list[bool]]:
    """Character creation: search each avatar's candidates in rounds, one batch through the queue per round;
    also whether each chosen face is the requested one (its seed) rather than a related face."""
    search = HairSearch(specs, recipe)
    while (batch := search.next_batch()) is not None:
        search.feed(await service.render(served.name, specs_latents(served, batch), request))
    same_face = [chosen.seed == spec.seed for chosen, spec in zip(search.chosen, specs, strict=True)]
    return search.chosen, search.drawn(), search.matched.tolist(), same_face


@dataclass(frozen=True)
class DrawnBatch:
    """POST /avatars' avatars once drawn (at the requested size), with what each answer item says."""

    specs: list[AvatarSpec]
    images: np.ndarray
    seeds: list[int | None]
    matched: list[bool] | list[None]  # hair colour honoured, per avatar (None without a hair colour)
    same_face: list[bool] | list[None]  # the requested face kept, not a related one (None without a hair colour)


async def draw_batch(
    body: AvatarRequest,
    request: Request,
    service: AvatarService,
    served: ServedRelease,
    recipe: HairRecipe | None,
    latents: torch.Tensor,
    seeds: list[int | None],
) -> DrawnBatch:
    """The hair-colour search or the plain draw, then the HD stage."""
    specs = request_specs(body, served, seeds)
    matched: list[bool] | list[None] = [None] * body.count
    same_face: list[bool] | list[None] = [None] * body.count
    if recipe is not None:
        specs, images, matched, same_face = await with_hair_color(recipe, served, specs, service, request)
        seeds = [spec.seed for spec in specs]
    else:
        latents = (
            edited(served, latents, body.truncation, body.edits) if body.edits else truncate(latents, body.truncation)
        )
        images = await service.render(served.name, latents, request)
    images = await service.upscale(served, images, body.size, request)  # after the hair search's 64 px rounds
    return DrawnBatch(specs, images, seeds, matched, same_face)
