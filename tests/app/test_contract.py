"""The HTTP contract beyond single routes: one answer for a body that is not JSON on every POST, 405s
that list every method a path takes, and a schema whose patterns are what the service accepts."""

from __future__ import annotations

import re
from urllib.parse import unquote

import jsonschema
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from app.errors import UNSAID_RULES
from app.schemas import AVATAR_PATTERN, EDITS_PATTERN
from tests.conftest import TINY

NOT_JSON = {
    "a syntax error": b'{"seeds": [1,}',
    "not UTF-8": b'{"seeds": [1], "player_ids": ["\xff\xfe"]}',
    "a byte-order mark then odd bytes": b"\xff\xfe\xfa",
    "nested past the decoder's recursion limit": b"[" * 100_000,
}


def route_methods(client: TestClient) -> dict[str, set[str]]:
    """Path template -> the methods its routes take (included routers' routes too)."""
    methods: dict[str, set[str]] = {}
    for route in iter_route_contexts(client.app.router.routes):  # type: ignore[attr-defined]
        if route.path and route.methods:
            methods.setdefault(route.path, set()).update(route.methods)
    return methods


def post_paths(client: TestClient) -> list[str]:
    paths = [path for path, methods in route_methods(client).items() if "POST" in methods]
    assert {"/avatars", "/interpolate", "/codes", "/variations"} <= set(paths), paths
    return paths


@pytest.mark.parametrize("problem", list(NOT_JSON))
def test_a_body_that_is_not_json_gets_one_answer_on_every_post(client: TestClient, problem: str) -> None:
    for path in post_paths(client):
        r = client.post(path, content=NOT_JSON[problem], headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (path, problem, r.status_code, r.text[:200])
        error = r.json()["detail"][0]
        assert error["type"] == "json_invalid" and error["loc"][0] == "body", (path, error)
        assert error["msg"].startswith("JSON decode error: ") and r.json()["message"].startswith("body"), error


def test_the_schema_documents_that_answer_on_every_post(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in post_paths(client):
        invalid = spec["paths"][path]["post"]["responses"]["422"]
        assert "`json_invalid`: a body that is not JSON" in invalid["description"], path
        assert invalid["content"]["application/json"]["schema"]["$ref"].endswith("/ValidationErrorBody"), path
    # every 422 names the rules the schema cannot state, by the `type` its errors carry
    grid = spec["paths"]["/grid"]["get"]["responses"]["422"]["description"]
    assert all(f"`{name}`" in grid for name in UNSAID_RULES)


def concrete(path: str) -> str:
    values = {"release": "v1", "seed": "5", "extension": "png", "code": "AQACdjEBAAA", "name": "swagger-ui.css"}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_405_lists_every_method_the_path_takes(client: TestClient) -> None:
    """Starlette named only the first route that matched (`PUT /interpolate` said `Allow: POST`)."""
    methods = route_methods(client)
    assert methods["/interpolate"] == {"GET", "HEAD", "POST"}
    for path, allowed in methods.items():
        for method in ("PUT", "DELETE", "PATCH"):
            r = client.request(method, concrete(path))
            assert r.status_code == 405, (method, path, r.status_code)
            assert r.headers["allow"] == ", ".join(sorted(allowed)), (method, path)
            assert r.json() == {"detail": "Method Not Allowed"}
    assert client.request("PUT", "/models/v1/interpolate").headers["allow"] == "GET, HEAD"
    assert client.request("DELETE", "/codes").headers["allow"] == "POST"


@pytest.mark.parametrize(
    "spelling",
    ["42", "+42", "042", "4_2", "42.0", " 42 ", "0_0.00", "%0942", "-0", "4__2", "42_", "42.", "+-1", "0x10"],
)
def test_the_avatar_path_pattern_is_the_seed_spellings_served(client: TestClient, spelling: str) -> None:
    """Matching the schema's pattern: served (200, or 308 to the canonical URL); not matching: 422."""
    r = client.get(f"/avatars/{spelling}.png", follow_redirects=False)
    matches = re.fullmatch(AVATAR_PATTERN, unquote(spelling)) is not None
    assert (r.status_code in (200, 308)) == matches, (spelling, r.status_code, r.text[:200])


@pytest.mark.parametrize(
    "edits",
    ["", "explore_0:1", " explore_0 : 1.5 ,hair_lightness:-1", "explore_0:.5", "explore_0:1e0",
     "explore_0", "explore_0:1,", "Explore_0:1", "explore_0:1.2.3", "explore_0:\t1", "explore_0:+-1"],
)  # fmt: skip
def test_the_edits_pattern_is_the_edits_format_served(client: TestClient, edits: str) -> None:
    r = client.get("/avatars/5.png", params={"edits": edits})
    matches = re.fullmatch(EDITS_PATTERN, edits) is not None
    assert (r.status_code == 200) == matches, (edits, r.status_code, r.text[:200])


def test_quality_on_a_lossless_url_redirects_to_the_url_without_it(client: TestClient) -> None:
    moved = client.get("/models/v1/avatars/5.png?size=128&quality=50", follow_redirects=False)
    assert moved.status_code == 308 and moved.headers["location"].endswith("/models/v1/avatars/5.png?size=128")
    code = client.get("/avatars/5.png").headers["x-avatar-code"]
    moved = client.get(f"/avatars/{code}.png?quality=9", follow_redirects=False)
    assert moved.status_code == 308 and moved.headers["location"].endswith(f"/avatars/{code}.png")
    assert client.get("/avatars/5.webp?quality=50").status_code == 200  # lossy WebP: quality matters


def test_the_schema_states_the_rules_the_service_enforces(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    # a latent is the loaded releases' size, in the schema and in its examples
    start = schemas["InterpolationRequest"]["properties"]["start"]
    assert start["minItems"] == start["maxItems"] == TINY.latent_dim
    assert all(len(e["start"]) == TINY.latent_dim for e in schemas["InterpolationRequest"]["examples"])
    latents = schemas["AvatarRequest"]["properties"]["latents"]["anyOf"][0]["items"]
    assert latents["minItems"] == latents["maxItems"] == TINY.latent_dim
    # integer bounds stay integers: 2**63 - 1, not the float 2**63
    seed = next(p for p in spec["paths"]["/grid"]["get"]["parameters"] if p["name"] == "seed")["schema"]
    assert seed["maximum"] == 2**63 - 1 and isinstance(seed["minimum"], int)
    truncation = schemas["VariationsRequest"]["properties"]["truncation"]
    assert truncation["minimum"] == 1e-38 and "exclusiveMinimum" not in truncation
    # exactly one source, in the schema as in the validators
    assert [branch["required"] for branch in schemas["CodeRequest"]["oneOf"]] == [
        ["seed"],
        ["player_id"],
        ["latent"],
        ["base"],
    ]
    assert (
        client.post("/codes", json={"seed": None, "player_id": None, "latent": None, "base": None}).status_code == 422
    )
    # the schema refuses what the validator refuses, and accepts what it serves (found by the fuzzer: a seed
    # beside a base with a truncation passed the seed branch while the base branch failed on truncation)
    one_of = {"oneOf": schemas["CodeRequest"]["oneOf"]}
    for body in (
        {"seed": 8, "base": "m", "truncation": 0.7},
        {"seed": 8, "player_id": "p"},
        {"base": "m", "truncation": 1},
    ):
        assert not jsonschema.Draft202012Validator(one_of).is_valid(body), body
        assert client.post("/codes", json=body).status_code == 422
    for body in ({"seed": 8, "base": None, "truncation": 0.7}, {"player_id": "p", "seed": None}):
        assert jsonschema.Draft202012Validator(one_of).is_valid(body), body
        assert client.post("/codes", json=body).status_code == 200
    # the links schemathesis' stateful phase (and a client) can follow from an answer holding a code
    links = spec["paths"]["/codes"]["post"]["responses"]["200"]["links"]
    assert links["DrawCode"]["parameters"] == {
        "release": "$response.body#/model",
        "seed": "$response.body#/code",
        "extension": "png",
    }
