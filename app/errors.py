"""Exception -> HTTP response mapping: clear 4xx for bad input, 503 + Retry-After for overload."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from app.batching import BatchFailed, JobExpired, QueueClosed, QueueFull
from app.metrics import ServiceMetrics
from app.releases import ReleaseRegistry, RetiredRelease, ServedRelease, UnknownRelease
from app.service import ClientDisconnected

logger = logging.getLogger(__name__)


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
    # drop `input` (it can echo a whole latent list back) and `url`/`ctx` noise
    return {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))}


def _one_line(error: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    return f"{loc}: {error['msg']}" if loc else error["msg"]


def install_error_handlers(app: FastAPI, metrics: ServiceMetrics) -> None:
    def rejected(reason: str) -> None:
        metrics.rejected.labels(reason).inc()

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        rejected("invalid")
        errors = [_clean(e) for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": errors, "message": _one_line(errors[0])})

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
