"""Exception -> HTTP response mapping: clear 4xx for bad input, 503 + Retry-After for overload."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path, get_route_path

from app.batching import BatchFailed, JobExpired, QueueClosed, QueueFull
from app.metrics import ServiceMetrics
from app.releases import ReleaseRegistry, RetiredRelease, ServedRelease, UnknownRelease
from app.service import ClientDisconnected

logger = logging.getLogger(__name__)

# The rules a request can break that the OpenAPI schema cannot say, because they depend on the
# loaded releases, on several fields at once or on what a code holds. Each 422 for one of them has
# its own `type`, and the schema's 422 answers list them (app/openapi.py): whatever else the service
# refuses, the schema refuses too (tests/app/test_schema_fuzz.py holds it to that).
UNSAID_RULES: dict[str, str] = {
    "invalid_code": "a code that does not decode (its check digits, its canonical form, a value inside it)",
    "lineage_too_deep": "variations of a code that already holds as many steps as a code keeps",
    "code_option": "truncation or edits beside a code, which carries its own",
    "release_mismatch": "a `model` naming another release than the code's",
    "seed_out_of_range": "a seed given as text (a path, `of`) not below 2**63, or a grid that runs past it",
    "latent_length": "a latent of another size than its release's (GET /models: generator.latent_dim)",
    "size_not_served": "a size the release does not serve (GET /models: sizes)",
    "too_many_pixels": "more work than AVATARS_MAX_REQUEST_PIXELS (images x size^2, search rounds included)",
    "edit_out_of_range": "an edit the release does not offer, or a strength outside its range "
    "(GET /models/{release}/directions)",
    "duplicate_edit": "an edit named twice in a query string",
    "hair_color_not_offered": "a hair colour the release does not offer",
    "hair_color_edit": "an edit of the direction that `hair_color` sets itself",
}
INVALID = (
    "the rule broken, by field: one the schema states, or one of these it cannot state (the error's `type`): "
    + "; ".join(f"`{name}`: {rule}" for name, rule in UNSAID_RULES.items())
)
# FastAPI answers a body it cannot decode as JSON (not UTF-8, nested past Python's recursion limit)
# with a bare 400; every other malformed body is a 422 `json_invalid`. One answer for all of them:
INVALID_BODY = INVALID + "; and `json_invalid`: a body that is not JSON"


def invalid(loc: Sequence[str | int], msg: str, type_: str = "value_error") -> RequestValidationError:
    """A 422 raised by a route, in the same shape as pydantic's own errors."""
    return RequestValidationError([{"loc": tuple(loc), "msg": msg, "type": type_}])


def check_at_most(loc: Sequence[str | int], value: int, limit: int, setting: str, what: str = "") -> None:
    """A bound the settings set (the schema's own caps are static): 422 naming the field and setting."""
    if value > limit:
        if what == "items":
            rule, kind = f"List should have at most {limit} items", "too_long"
        else:
            rule, kind = f"Input should be less than or equal to {limit}", "less_than_equal"
        raise invalid(loc, f"{rule} (AVATARS_{setting.upper()})", kind)


def check_latent_length(loc: Sequence[str | int], latent: Sequence[float], latent_dim: int) -> None:
    if len(latent) != latent_dim:
        raise invalid(
            loc,
            f"List should have exactly {latent_dim} items (the model's latent size), got {len(latent)}",
            "latent_length",
        )


def check_size(loc: Sequence[str | int], served: ServedRelease, size: int, releases: ReleaseRegistry) -> None:
    """A size the release does not serve (512 px without an upscaler) is the request's mistake: say
    which sizes it serves and which releases draw this one."""
    if size not in served.sizes:
        others = [name for name, other in releases.served.items() if size in other.sizes]
        hint = f" ({size} px is drawn by {', '.join(others)})" if others else ""
        raise invalid(loc, f"release {served.name!r} serves {', '.join(map(str, served.sizes))} px, not {size}{hint}",
                      "size_not_served")  # fmt: skip


def check_pixels(
    loc: Sequence[str | int], served: ServedRelease, images: int, size: int, limit: int, search_rounds: int = 0
) -> int:
    """The work of one request grows with images x size^2 (render, resize, encode), with the
    upscaler's work where it draws the size, and with every round a hair-colour search may draw the
    images again at the model's size (each counted in the same unit): cap it, so one request cannot
    take seconds of CPU from everyone else."""
    side = served.model.resolution
    pixels = served.work_pixels(images, size) + images * search_rounds * side * side
    if pixels > limit:
        hd = " with the HD upscaler's work" if served.upscales(size) else ""
        search = f" and up to {search_rounds} hair-colour search rounds at {side} px" if search_rounds else ""
        raise invalid(
            loc,
            f"{images} images of {size}x{size} px{hd}{search} cost {pixels:,} pixels, over the limit of {limit:,} "
            "per request (AVATARS_MAX_REQUEST_PIXELS): ask for fewer images or a smaller size",
            "too_many_pixels",
        )
    return pixels


def _clean(error: dict[str, Any]) -> dict[str, Any]:
    # drop `input` (it can echo a whole latent list back) and `url`/`ctx` noise; a JSON decode error
    # keeps what the decoder said ("Expecting ',' delimiter")
    msg = str(error.get("msg", ""))
    if error.get("type") == "json_invalid" and (ctx := error.get("ctx")) and ctx.get("error"):
        msg = f"{msg}: {ctx['error']}"
    return {"loc": list(error.get("loc", ())), "msg": msg, "type": str(error.get("type", ""))}


def _undecodable(exc: StarletteHTTPException) -> str | None:
    """What made FastAPI's body reader give up with a bare 400 (the JSON decoder's own errors are
    422s already), or None for any other HTTP error."""
    cause = exc.__cause__
    if exc.status_code != 400 or cause is None:
        return None
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not UTF-8 text"
    if isinstance(cause, RecursionError):
        return "the body is nested too deeply"
    return str(cause) or type(cause).__name__


@lru_cache(maxsize=256)
def _path_regex(template: str) -> re.Pattern[str]:
    return compile_path(template)[0]


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at the request's path. The router's 405 names only the first
    route whose path matched (`PUT /interpolate` said `Allow: POST` though GET works)."""
    path = get_route_path(request.scope)
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):  # included routers' routes too
        if route.path and route.methods and _path_regex(route.path).match(path):
            methods |= route.methods
    return sorted(methods)


def _one_line(error: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    return f"{loc}: {error['msg']}" if loc else error["msg"]


def install_error_handlers(app: FastAPI, metrics: ServiceMetrics) -> None:
    def rejected(reason: str) -> None:
        metrics.rejected.labels(reason).inc()

    def invalid_answer(errors: list[dict[str, Any]]) -> JSONResponse:
        rejected("invalid")
        return JSONResponse(status_code=422, content={"detail": errors, "message": _one_line(errors[0])})

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid_answer([_clean(e) for e in exc.errors()])

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if (problem := _undecodable(exc)) is not None:  # one answer for every body that is not JSON
            return invalid_answer([{"loc": ["body"], "msg": f"JSON decode error: {problem}", "type": "json_invalid"}])
        if exc.status_code == 405:
            headers = {**(exc.headers or {}), "Allow": ", ".join(allowed_methods(request))}
            return JSONResponse({"detail": exc.detail}, status_code=405, headers=headers)
        return await http_exception_handler(request, exc)

    @app.exception_handler(QueueFull)
    async def on_full(_: Request, exc: QueueFull) -> JSONResponse:
        rejected("queue_full")
        return JSONResponse(
            status_code=503, content={"detail": str(exc)}, headers={"Retry-After": str(exc.retry_after)}
        )

    @app.exception_handler(QueueClosed)
    async def on_closed(_: Request, exc: QueueClosed) -> JSONResponse:
        rejected("shutting_down")
        return JSONResponse(status_code=503, content={"detail": str(exc)}, headers={"Retry-After": "5"})

    @app.exception_handler(JobExpired)
    async def on_expired(request: Request, exc: JobExpired) -> JSONResponse:
        rejected("timeout")
        retry = request.app.state.service.queue.retry_after()
        return JSONResponse(
            status_code=503,
            content={"detail": f"timed out waiting for the generator: {exc}"},
            headers={"Retry-After": str(retry)},
        )

    @app.exception_handler(BatchFailed)
    async def on_failed(_: Request, exc: BatchFailed) -> JSONResponse:
        rejected("generator_error")  # the failed forward pass itself is counted once, by the queue
        return JSONResponse(status_code=500, content={"detail": str(exc)})

    @app.exception_handler(UnknownRelease)
    async def on_unknown_release(_: Request, exc: UnknownRelease) -> JSONResponse:
        rejected("unknown_release")
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(RetiredRelease)
    async def on_retired_release(_: Request, exc: RetiredRelease) -> JSONResponse:
        rejected("retired_release")
        return JSONResponse(status_code=410, content={"detail": str(exc), "successor": exc.successor})

    @app.exception_handler(ClientDisconnected)
    async def on_disconnect(_: Request, __: ClientDisconnected) -> Response:
        rejected("client_disconnected")
        return Response(status_code=499)  # nginx's "client closed request"; nobody is listening
