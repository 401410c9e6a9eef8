"""How image routes answer, in one place: the cacheable sequence every GET image route runs
(validators, then 304 or HEAD without drawing, else draw and encode under the work budget), the
redirect to an avatar's one URL, and POST /avatars' answer (the image itself, or JSON)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from app.answers import StreamedAnswer, avatar_batch_stream
from app.caching import answer_without_rendering, cache_control, cache_headers, etag_key, release_headers
from app.config import Settings
from app.formats import FORMATS
from app.releases import ServedRelease
from app.schemas import AvatarBatch, AvatarItem, AvatarRequest
from app.service import AvatarService
from gan.codes import encode

if TYPE_CHECKING:
    from app.avatar_specs import DrawnBatch


async def image_answer(
    request: Request,
    service: AvatarService,
    settings: Settings,
    served: ServedRelease,
    *,
    immutable: bool,
    kind: str,
    options: Mapping[str, Any],
    media_type: str,
    work: int,
    draw: Callable[[], Awaitable[bytes]],
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A cacheable image route's answer, once its request is checked and its `work` (pixels) known:
    validators and lifetime (the ETag from `kind` and `options`, app/caching.py), then 304 or HEAD
    without drawing; else `draw()` (render and encode), admitted against the work budget
    (app/work_admission.py)."""
    answer_headers = cache_headers(served, immutable, settings, etag_key(kind, options))
    answer_headers.update(headers or {})
    if (early := answer_without_rendering(request, answer_headers, media_type)) is not None:
        return early
    with service.work.admitted(work):
        data = await draw()
    return Response(data, media_type=media_type, headers=answer_headers)


def canonical_redirect(
    request: Request, path: str, immutable: bool, settings: Settings, drop_quality: bool = False
) -> RedirectResponse:
    """308 to the avatar's one URL (`path`), the rest of the query kept: old links keep working and
    caches hold one copy. The redirect is as cacheable as the avatar it leads to."""
    url = request.url.replace(path=path)
    if drop_quality:
        url = url.remove_query_params("quality")
    return RedirectResponse(str(url), status_code=308, headers={"Cache-Control": cache_control(immutable, settings)})


def under_release(request: Request, release: str) -> str:
    """The request's path with its `/models/{release}/` replaced by another release's."""
    pinned = f"/models/{request.path_params['release']}/"
    path = request.url.path
    at = path.index(pinned, len(request.scope.get("root_path", "")))
    return path[:at] + f"/models/{release}/" + path[at + len(pinned) :]


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "image/png" not in accept


async def avatar_batch_answer(
    body: AvatarRequest, request: Request, service: AvatarService, served: ServedRelease, drawn: DrawnBatch
) -> Response:
    """POST /avatars' answer: one avatar is the image itself with its code and seed in headers (unless
    Accept asks for JSON); several are JSON, without the fields the request could not fill."""
    codes = [encode(spec) for spec in drawn.specs]
    fmt = FORMATS[body.format]
    files = await service.encode_each(drawn.images, body.size, fmt, body.quality)
    seeds, matched, same_face = drawn.seeds, drawn.matched, drawn.same_face
    if len(files) == 1 and not wants_json(request):
        headers = release_headers(served)
        headers["X-Avatar-Code"] = codes[0]
        if seeds[0] is not None:
            headers["X-Avatar-Seed"] = str(seeds[0])
        if matched[0] is not None:
            headers["X-Hair-Color-Matched"] = "true" if matched[0] else "false"
            headers["X-Hair-Color-Same-Face"] = "true" if same_face[0] else "false"
        return Response(files[0], media_type=fmt.media_type, headers=headers)
    field = "png_base64" if fmt.name == "png" else "image_base64"  # PNG keeps its original field name
    # the JSON's fields in AvatarBatch's order; each file is base64-encoded only as it is sent (app/answers.py)
    unused = {"png_base64", "image_base64"} | (
        {"hair_color_matched", "hair_color_same_face"} if body.hair_color is None else set()
    )
    items = [
        AvatarItem(
            index=i,
            seed=seeds[i],
            player_id=body.player_ids[i] if body.player_ids else None,
            code=codes[i],
            hair_color_matched=matched[i],
            hair_color_same_face=same_face[i],
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
