"""The OpenAPI schema as this instance enforces it: limits that are settings, advertised as set.

The request models carry hard bounds (1,024 items, n or steps) so that nothing larger is ever parsed;
the routes then refuse what exceeds the running settings (`AVATARS_MAX_GRID`, ...). The schema used
to advertise the hard bounds, so a client following it got 422s for values it was promised. Here the
generated schema is rewritten once: every `n` of /grid, every `steps` of /interpolate and the item
lists of POST /avatars say the limits this instance runs with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from app.config import Settings


def _limits(settings: Settings) -> dict[tuple[str, str], int]:
    """(where, name) -> the limit: a query parameter of paths ending in `where`, or a body property."""
    return {
        ("/grid", "n"): settings.max_grid,
        ("/interpolate", "steps"): settings.max_interpolation_steps,
        ("InterpolationRequest", "steps"): settings.max_interpolation_steps,
        ("AvatarRequest", "seeds"): settings.max_avatars_per_request,
        ("AvatarRequest", "player_ids"): settings.max_avatars_per_request,
        ("AvatarRequest", "latents"): settings.max_avatars_per_request,
    }


def _cap(schema: dict[str, Any], limit: int) -> None:
    """Lower a number's maximum or a list's maxItems (also inside anyOf, for optional fields)."""
    for option in [schema, *schema.get("anyOf", [])]:
        if "maximum" in option:
            option["maximum"] = min(option["maximum"], limit)
        if "maxItems" in option:
            option["maxItems"] = min(option["maxItems"], limit)


def apply_limits(spec: dict[str, Any], settings: Settings) -> dict[str, Any]:
    limits = _limits(settings)
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                for (where, name), limit in limits.items():
                    if path.endswith(where) and parameter["name"] == name and parameter["in"] == "query":
                        _cap(parameter["schema"], limit)
    components = spec.get("components", {}).get("schemas", {})
    for (where, name), limit in limits.items():
        field = components.get(where, {}).get("properties", {}).get(name)
        if field is not None:
            _cap(field, limit)
    return spec


def settings_openapi(app: FastAPI, settings: Settings) -> Callable[[], dict[str, Any]]:
    """A replacement for `app.openapi`: FastAPI's schema, built once, with this instance's limits."""

    generate = app.openapi  # FastAPI's own, with every option the app was built with

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = apply_limits(generate(), settings)
        return app.openapi_schema

    return openapi
