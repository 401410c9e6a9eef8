"""The creator's routes: a release's directions, avatar codes, and variations of a seed or code."""

# no `from __future__ import annotations`: the route signatures refer to the release resolver
# passed to `image_routes`, which FastAPI can only see in annotations evaluated at definition time

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from app.caching import add_head_twins
from app.creator import check_edits, children, code_url, coded_release, decode_code, parent_spec, specs_latents
from app.deps import JsonBody, ReleaseResolver, ServiceDep, SettingsDep, Target, use_release
from app.encoding import encode_grid
from app.errors import check_latent_length, check_pixels, check_size
from app.image_responses import canonical_redirect, image_answer, under_release
from app.releases import ServedRelease
from app.responses import BODY_ERRORS, ERRORS, NOT_MODIFIED, PNG, RELEASE_ERRORS
from app.schemas import (
    CodeRequest,
    CodeResponse,
    CodeText,
    DirectionsResponse,
    VariationItem,
    VariationOptions,
    VariationsQuery,
    VariationsRequest,
    VariationsResponse,
)
from gan.codes import AvatarSpec, is_code
from gan.imaging import grid_columns
from gan.latents import player_seed

router = APIRouter(tags=["creator"])


def code_response(served: ServedRelease, spec: AvatarSpec) -> CodeResponse:
    code, url = code_url(spec)
    return CodeResponse(
        code=code,
        url=url,
        model=spec.release,
        seed=spec.seed,
        latent=None if spec.latent is None else list(spec.latent),
        truncation=spec.truncation,
        variations=[{"seed": v.seed, "strength": v.strength} for v in spec.variations],
        edits=dict(spec.edits),
        drawn_latent=specs_latents(served, [spec])[0].tolist(),
    )


def variation_specs(served: ServedRelease, options: VariationOptions, loc: str) -> tuple[AvatarSpec, list[AvatarSpec]]:
    parent = parent_spec(served, options.of, options.truncation, [loc, "of"])
    return parent, children(parent, options.n, options.strength, options.seed)


@router.post(
    "/codes",
    dependencies=[JsonBody],
    response_model=CodeResponse,
    responses={**RELEASE_ERRORS, **ERRORS, **BODY_ERRORS},
)
async def create_code(body: CodeRequest, request: Request, service: ServiceDep) -> CodeResponse:
    """The code of a seed, player id or latent with truncation and edits: store it, or GET its `url`.
    A `base` code is drawn by the release it names, as on every route."""
    if body.base is not None:
        served = use_release(request, coded_release(body.base, service.releases, ["body", "base"], body.model))
    else:
        served = use_release(request, service.releases.resolve(body.model))
    edits = body.edits or {}
    check_edits(served, edits, ["body", "edits"])
    if body.base is not None:
        base = decode_code(body.base, served, ["body", "base"])
        return code_response(served, base if body.edits is None else base.with_edits(edits))
    if body.latent is not None:
        check_latent_length(["body", "latent"], body.latent, served.model.latent_dim)
        spec = AvatarSpec(served.name, latent=tuple(body.latent), truncation=body.truncation)
    else:
        seed = body.seed if body.seed is not None else player_seed(body.player_id or "")
        spec = AvatarSpec(served.name, seed=seed, truncation=body.truncation)
    return code_response(served, spec.with_edits(edits))


@router.get("/codes/{code}", response_model=CodeResponse, responses={**RELEASE_ERRORS, **ERRORS})
async def read_code(
    code: Annotated[CodeText, Path(description="an avatar code")], request: Request, service: ServiceDep
) -> CodeResponse:
    """What a code says: release, seed or latent, lineage, truncation and edits (404/410 for a release
    this server does not serve, 422 for anything that is not a code)."""
    served = use_release(request, coded_release(code, service.releases, ["path", "code"]))
    return code_response(served, decode_code(code, served, ["path", "code"]))


@router.post(
    "/variations",
    dependencies=[JsonBody],
    response_model=VariationsResponse,
    responses={**RELEASE_ERRORS, **ERRORS, **BODY_ERRORS},
)
async def create_variations(body: VariationsRequest, request: Request, service: ServiceDep) -> VariationsResponse:
    """n children of a seed or code as codes and URLs, deterministic per `seed`: pick one and ask for its
    children in turn (each step is kept in the child's code, so its lineage travels with it)."""
    if is_code(body.of):  # a code parent: the release it names draws its children
        served = use_release(request, coded_release(body.of, service.releases, ["body", "of"], body.model))
    else:
        served = use_release(request, service.releases.resolve(body.model))
    parent, specs = variation_specs(served, body, "body")
    items = []
    for i, spec in enumerate(specs):
        code, url = code_url(spec, size=body.size)
        items.append(VariationItem(index=i, code=code, url=url))
    return VariationsResponse(
        model=served.name,
        model_version=served.version,
        parent=code_url(parent)[0],
        strength=body.strength,
        seed=body.seed,
        variations=items,
    )


def image_routes(release: ReleaseResolver, prefix: str = "") -> APIRouter:
    """GET /variations.png and /directions, bound to the default release or to the one in the URL."""
    routes = APIRouter(tags=["creator"])

    @routes.get(prefix + "/directions", response_model=DirectionsResponse, responses={**RELEASE_ERRORS})
    async def get_directions(target: Annotated[Target, Depends(release)]) -> DirectionsResponse:
        """The release's latent directions (names for `edits`, with their allowed ranges) and the hair
        colours character creation offers; empty for a release without published directions."""
        served = target.served
        listing = served.directions.describe() if served.directions else {"directions": [], "hair_colors": []}
        return DirectionsResponse(model=served.name, model_version=served.version, **listing)

    @routes.get(
        prefix + "/variations.png",
        response_class=Response,
        responses={
            200: PNG,
            304: NOT_MODIFIED,
            308: {"description": "a code parent under another release's URL: the URL of the release it names"},
            **RELEASE_ERRORS,
            **ERRORS,
        },
    )
    async def get_variations(
        query: Annotated[VariationsQuery, Query()],
        target: Annotated[Target, Depends(release)],
        request: Request,
        service: ServiceDep,
        settings: SettingsDep,
    ) -> Response:
        """The children of POST /variations as one grid, in the same order. A code parent is drawn by
        the release it names (as /avatars/{code}.png is): under another release's URL, a redirect there."""
        served, pinned = target.served, target.pinned
        if is_code(query.of):
            coded = use_release(request, coded_release(query.of, service.releases, ["query", "of"]))
            if pinned and coded.name != served.name:
                return canonical_redirect(request, under_release(request, coded.name), True, settings)
            served, pinned = coded, True
        check_size(["query", "size"], served, query.size, service.releases)
        work = check_pixels(["query", "n"], served, query.n, query.size, settings.max_request_pixels)
        parent, specs = variation_specs(served, query, "query")
        columns = min(query.columns or grid_columns(query.n), query.n)

        async def draw() -> bytes:
            images = await service.draw(served, specs_latents(served, specs), query.size, request)
            level = settings.png_compress_level
            return await service.encode(encode_grid, images, query.size, columns, level, work=query.n * query.size**2)

        options = {"parent": code_url(parent)[0], "n": query.n, "strength": query.strength, "seed": query.seed,
                   "size": query.size, "columns": columns}  # fmt: skip
        return await image_answer(request, service, settings, served, immutable=pinned, kind="variations",
                                  options=options, media_type="image/png", work=work, draw=draw)  # fmt: skip

    add_head_twins(routes)
    return routes
