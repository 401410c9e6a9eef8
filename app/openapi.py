"""The OpenAPI schema as this instance enforces it: limits that are settings, advertised as set.

The request models carry hard bounds (1,024 items, n or steps) so that nothing larger is ever parsed;
the routes then refuse what exceeds the running settings (`AVATARS_MAX_GRID`, ...). The schema used
to advertise the hard bounds, so a client following it got 422s for values it was promised. Here the
generated schema is rewritten once: every `n` of /grid, every `steps` of /interpolate and the item
lists of POST /avatars say the limits this instance runs with; where every loaded release takes
latents of one size, every latent says that size (and the examples have it); integer bounds are
integers again (FastAPI's models turn them into floats, and 2**63 - 1 into 2**63); and links say
where a code an answer holds can be used next, for clients and for schemathesis' stateful phase.
The rules it still cannot state are listed in each 422 answer (app/errors.py UNSAID_RULES).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from app.config import Settings
from gan.latents import MAX_SEED


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


# where latents are in the request bodies: (schema, property) -> how deep the latent lies (0: the
# property is one latent, 1: a list of them)
LATENTS = {("AvatarRequest", "latents"): 1, ("InterpolationRequest", "start"): 0, ("InterpolationRequest", "end"): 0,
           ("CodeRequest", "latent"): 0}  # fmt: skip


def _arrays(schema: dict[str, Any], depth: int) -> list[dict[str, Any]]:
    """The array schemas `depth` levels into `schema` (through anyOf, for optional fields)."""
    options = [option for option in [schema, *schema.get("anyOf", [])] if option.get("type") == "array"]
    if depth == 0:
        return options
    return [inner for option in options for inner in _arrays(option.get("items", {}), depth - 1)]


def _resized(value: Any, depth: int, size: int) -> Any:
    if not isinstance(value, list):
        return value
    if depth > 0:
        return [_resized(item, depth - 1, size) for item in value]
    return [value[i % len(value)] for i in range(size)] if value else value


def apply_latent_size(spec: dict[str, Any], latent_dim: int) -> None:
    """Every latent is exactly `latent_dim` values (when all loaded releases agree), examples too."""
    components = spec.get("components", {}).get("schemas", {})
    for (name, field), depth in LATENTS.items():
        model = components.get(name, {})
        if field in model.get("properties", {}):
            for latent in _arrays(model["properties"][field], depth):
                latent["minItems"] = latent["maxItems"] = latent_dim
        for example in model.get("examples", []):
            if field in example:
                example[field] = _resized(example[field], depth, latent_dim)


def integer_bounds(node: Any) -> None:
    """Integers' bounds as integers: FastAPI's OpenAPI models hold them as floats, in which
    MAX_SEED (2**63 - 1) becomes 2**63, a seed the service refuses."""
    if isinstance(node, list):
        for item in node:
            integer_bounds(item)
    if not isinstance(node, dict):
        return
    if node.get("type") == "integer":
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            value = node.get(key)
            if isinstance(value, float):
                node[key] = MAX_SEED if value == float(MAX_SEED) else int(value)
    for child in node.values():
        integer_bounds(child)


def _operation_id(spec: dict[str, Any], path: str, method: str) -> str | None:
    return spec.get("paths", {}).get(path, {}).get(method, {}).get("operationId")


def add_links(spec: dict[str, Any]) -> None:
    """OpenAPI links from the answers that hold codes to the operations that take them: read a code
    back, draw it under the release it names."""
    read = _operation_id(spec, "/codes/{code}", "get")
    draw = _operation_id(spec, "/models/{release}/avatars/{seed}.{extension}", "get")
    vary = _operation_id(spec, "/variations", "post")
    if not (read and draw and vary):
        return

    def links(code: str) -> dict[str, Any]:
        return {
            "ReadCode": {"operationId": read, "parameters": {"code": code}},
            "DrawCode": {
                "operationId": draw,
                "parameters": {"release": "$response.body#/model", "seed": code, "extension": "png"},
            },
            "VaryCode": {"operationId": vary, "requestBody": {"of": code, "n": 2}},
        }

    for path, method, code in (
        ("/codes", "post", "$response.body#/code"),
        ("/codes/{code}", "get", "$response.body#/code"),
        ("/variations", "post", "$response.body#/variations/0/code"),
    ):
        answer = spec["paths"][path][method]["responses"].get("200")
        if answer is not None:
            answer["links"] = links(code)


def apply_limits(spec: dict[str, Any], settings: Settings, latent_dim: int | None = None) -> dict[str, Any]:
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
    if latent_dim is not None:
        apply_latent_size(spec, latent_dim)
    integer_bounds(spec)
    add_links(spec)
    return spec


def served_latent_dim(app: FastAPI) -> int | None:
    """The latent size every loaded release takes; None before start-up or where releases differ
    (then a latent of the wrong size stays a 422 the schema cannot state)."""
    service = getattr(app.state, "service", None)
    if service is None:
        return None
    sizes = {served.model.latent_dim for served in service.releases.served.values()}
    return sizes.pop() if len(sizes) == 1 else None


def settings_openapi(app: FastAPI, settings: Settings) -> Callable[[], dict[str, Any]]:
    """A replacement for `app.openapi`: FastAPI's schema with this instance's limits, built once the
    releases are loaded (before, built afresh on each call)."""

    generate = app.openapi  # FastAPI's own, with every option the app was built with

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = apply_limits(generate(), settings, served_latent_dim(app))  # `generate` caches it here too:
        app.openapi_schema = spec if getattr(app.state, "service", None) is not None else None  # keep or forget
        return spec

    return openapi
