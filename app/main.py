"""Wiring only: settings, lifespan (load -> warm up -> serve -> drain), middleware, routers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from app import __version__
from app.admission import AdmissionMiddleware
from app.answers import AnswerBytes
from app.config import Settings, get_settings
from app.errors import install_error_handlers
from app.memory import Trimmer, libc_malloc_trim
from app.metrics import MetricsMiddleware, ServiceMetrics
from app.openapi import settings_openapi
from app.releases import ReleaseRegistry
from app.routes import ROUTERS
from app.routes.studio import STATIC_DIR
from app.service import AvatarService

DESCRIPTION = """
Anime-face avatars from a GAN generator. Generators are published as named, immutable releases
(`GET /models`): the same release, seed (or player id) and options always give the same image on the
same device kind, and URLs under `/models/{release}/` are cached forever. Unversioned URLs serve the
default release. Single avatars come as PNG (the default), WebP, JPEG or AVIF, chosen by the URL's
extension or a POST body's `format`. All generation goes through one micro-batching queue; when it,
or the instance's in-flight limit, is full the service answers **503 with Retry-After** instead of
queueing without bound.
"""


def create_app(settings: Settings | None = None, releases: ReleaseRegistry | None = None) -> FastAPI:
    """Build the app; `releases` lets `python -m app` (and tests) hand over already loaded releases."""
    settings = settings or get_settings()
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = releases or await asyncio.to_thread(
            ReleaseRegistry.load,
            settings.weights_dir,
            settings.device,
            settings.dtype,
            settings.torch_thread_count,
            settings.upscaler_dtype,
        )
        service = AvatarService(settings, loaded, metrics)
        await service.start()
        app.state.service = service
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="Anime avatar service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc: app/routes/docs.py, without a CDN
        redoc_url=None,
    )
    app.openapi = settings_openapi(app, settings)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.answers = AnswerBytes(settings.max_answer_bytes, Trimmer(libc_malloc_trim()).drained)
    app.add_middleware(  # inside the metrics
        AdmissionMiddleware,
        limit=settings.max_inflight_requests,
        body_timeout_s=settings.body_timeout_s,
        max_body_bytes=settings.max_body_bytes,  # a JSON 413 either way (FastAPI's own answered text/plain)
        answers=app.state.answers,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "If-None-Match"],
            expose_headers=[
                "ETag",
                "Retry-After",
                "X-Avatar-Seed",
                "X-Avatar-Code",
                "X-Hair-Color-Matched",
                "X-Hair-Color-Same-Face",
                "X-Model",
                "X-Model-Version",
                "X-Frames",
            ],
        )
    install_error_handlers(app, metrics)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
