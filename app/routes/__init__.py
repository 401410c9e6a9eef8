"""HTTP routes, one module each; image routes are mounted twice: unversioned and per release.

`/avatars/{seed or code}.{png,webp,jpg,avif}`, `/grid`, `/interpolate`, `/latents/{seed}`, `/variations.png`
and `/directions` serve the default release;
the same paths under `/models/{release}/` serve the named one, with immutable caching.
"""

from fastapi import APIRouter

from app.deps import default_release, named_release
from app.routes import avatars, creator, docs, grid, health, interpolate, latents, model, studio

IMAGE_ROUTES = (
    avatars.image_routes,
    grid.image_routes,
    interpolate.image_routes,
    latents.image_routes,
    creator.image_routes,
)
VERSIONED_PREFIX = "/models/{release}"


def _image_router(versioned: bool) -> APIRouter:
    # the prefix goes into each route's own path (not a router prefix), so the route template that
    # the metrics label requests with is the full one
    router = APIRouter()
    for build in IMAGE_ROUTES:
        if versioned:
            router.include_router(build(named_release, VERSIONED_PREFIX))
        else:
            router.include_router(build(default_release))
    return router


ROUTERS = [
    avatars.router,
    interpolate.router,
    creator.router,
    _image_router(versioned=False),
    _image_router(versioned=True),
    model.router,
    health.router,
    studio.router,
    docs.router,
]
