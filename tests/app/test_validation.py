"""Every malformed request is a 422 (413 for a huge body) naming the field and the rule; never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.app.conftest import metric
from tests.conftest import TINY

GOOD = [0.1] * TINY.latent_dim


def bad_post(client: TestClient, path: str, body: object) -> dict:
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    return r.json()


@pytest.mark.parametrize(
    ("body", "loc", "rule"),
    [
        ({"latents": [[0.1] * (TINY.latent_dim - 1)]}, "body.latents.0", f"exactly {TINY.latent_dim} items"),
        ({"latents": [GOOD, [0.1] * 3]}, "body.latents.1", "the model's latent size"),
        ({"latents": [[11.0, *GOOD[1:]]]}, "body.latents.0.0", "less than or equal to 10"),
        ({"latents": [[-10.5, *GOOD[1:]]]}, "body.latents.0.0", "greater than or equal to -10"),
        ({"latents": []}, "body.latents", "at least 1 item"),
        ({"seeds": [-1]}, "body.seeds.0", "greater than or equal to 0"),
        ({"seeds": [2**63]}, "body.seeds.0", "less than or equal to 9223372036854775807"),
        ({"seeds": ["5"]}, "body.seeds.0", "valid integer"),
        ({"seeds": [1.5]}, "body.seeds.0", "valid integer"),
        ({"seeds": [True]}, "body.seeds.0", "valid integer"),
        ({"seeds": list(range(65))}, "body.seeds", "at most 64 items"),
        ({"player_ids": [""]}, "body.player_ids.0", "at least 1 character"),
        ({"player_ids": ["x" * 129]}, "body.player_ids.0", "at most 128 characters"),
        ({"seeds": [1], "player_ids": ["a"]}, "body", "exactly one of seeds, player_ids or latents"),
        ({"seeds": [1], "latents": [GOOD]}, "body", "exactly one of seeds, player_ids or latents"),
        ({}, "body", "exactly one of seeds, player_ids or latents"),
        ({"seeds": [1], "truncation": 0}, "body.truncation", "at least 1e-38"),
        ({"seeds": [1], "truncation": 1e-39}, "body.truncation", "at least 1e-38"),  # 0 in float32
        ({"seeds": [1], "truncation": 1.5}, "body.truncation", "less than or equal to 1"),
        ({"seeds": [1], "size": 100}, "body.size", "size must be one of 64, 128, 256 or 512"),
        ({"seeds": [1], "colour": "red"}, "body.colour", "Extra inputs are not permitted"),
        ([1, 2], "body", "valid dictionary"),
        # strict JSON numbers in every field, not only seeds
        ({"seeds": [1], "size": "128"}, "body.size", "valid integer"),
        ({"seeds": [1], "size": 128.5}, "body.size", "valid integer"),  # 128.0 is 128 (JSON Schema's integer)
        ({"seeds": [1], "truncation": "0.5"}, "body.truncation", "valid number"),
        ({"seeds": [1], "truncation": True}, "body.truncation", "valid number"),
        ({"latents": [["0.1", *GOOD[1:]]]}, "body.latents.0.0", "valid number"),
        ({"player_ids": [5]}, "body.player_ids.0", "valid string"),
        ({"seeds": [1], "model": 1}, "body.model", "valid string"),
    ],
)
def test_post_avatars_rejects(client: TestClient, body: object, loc: str, rule: str) -> None:
    error = bad_post(client, "/avatars", body)
    assert error["message"].startswith(loc + ":"), error["message"]
    assert rule in error["message"]
    assert "input" not in error["detail"][0]  # never echo the payload back


@pytest.mark.parametrize(
    ("change", "loc", "rule"),
    [
        ({"steps": True}, "body.steps", "valid integer"),
        ({"steps": "8"}, "body.steps", "valid integer"),
        ({"frame_ms": 120.5}, "body.frame_ms", "valid integer"),
        ({"size": "64"}, "body.size", "valid integer"),
        ({"truncation": "1"}, "body.truncation", "valid number"),
        ({"mode": 1}, "body.mode", "'slerp' or 'lerp'"),
        ({"colour": "red"}, "body.colour", "Extra inputs are not permitted"),
    ],
)
def test_post_interpolate_is_strict_too(client: TestClient, change: dict, loc: str, rule: str) -> None:
    error = bad_post(client, "/interpolate", {"start": GOOD, "end": GOOD, **change})
    assert error["message"].startswith(loc + ":"), error["message"]
    assert rule in error["message"], error["message"]


def test_whole_json_numbers_are_fine_for_real_fields(client: TestClient) -> None:
    """Strict does not mean pedantic: 1 is a valid truncation and an integer latent value is a number;
    and 128.0 is the integer 128, as JSON Schema's `integer` says (the schema promises it)."""
    assert client.post("/avatars", json={"seeds": [1], "truncation": 1}).status_code == 200
    assert client.post("/avatars", json={"latents": [[1] * TINY.latent_dim]}).status_code == 200
    whole = client.post("/avatars", json={"seeds": [1.0], "size": 128.0})
    assert (
        whole.status_code == 200 and whole.content == client.post("/avatars", json={"seeds": [1], "size": 128}).content
    )
    grid = {"of": "5", "n": 2.0, "seed": 3.0, "size": 64.0}
    assert client.post("/variations", json=grid).json() == client.post("/variations", json={**grid, "n": 2}).json()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_json_numbers_are_rejected(client: TestClient, literal: str) -> None:
    values = ",".join([literal] + ["0.1"] * (TINY.latent_dim - 1))
    r = client.post("/avatars", content=f'{{"latents": [[{values}]]}}', headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["message"].startswith("body.latents.0.0:")
    assert "finite number" in r.json()["message"]


def test_malformed_json(client: TestClient) -> None:
    r = client.post("/avatars", content='{"seeds": [1,', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "JSON decode error" in r.json()["message"]


@pytest.mark.parametrize(
    ("headers", "rule"),
    [
        ({"Content-Type": "text/plain"}, "must be application/json, got 'text/plain'"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "must be application/json"),
        ({}, "Content-Type header is required"),
    ],
)
def test_wrong_content_type(client: TestClient, headers: dict, rule: str) -> None:
    r = client.post("/avatars", content=b'{"seeds": [1]}', headers=headers)
    assert r.status_code == 422
    assert r.json()["message"].startswith("header.content-type:") and rule in r.json()["message"]


def test_json_with_charset_is_fine(client: TestClient) -> None:
    r = client.post("/avatars", content=b'{"seeds": [1]}', headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    huge = b'{"seeds": [' + b"1," * 600_000 + b"1]}"
    r = client.post("/avatars", content=huge, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/json" and "AVATARS_MAX_BODY_BYTES" in r.json()["detail"]


def test_body_over_the_limit_without_content_length_is_413(client: TestClient) -> None:
    def chunks():
        yield b'{"seeds": ['
        for _ in range(300):
            yield b"1," * 2_000
        yield b"1]}"

    r = client.post("/avatars", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/json" and "AVATARS_MAX_BODY_BYTES" in r.json()["detail"]


def test_every_post_documents_its_body_answers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    posts = {path: ops["post"] for path, ops in spec["paths"].items() if "post" in ops}
    assert set(posts) >= {"/avatars", "/interpolate", "/codes", "/variations"}
    for path, operation in posts.items():
        assert {"408", "413", "422"} <= set(operation["responses"]), path


@pytest.mark.parametrize(
    ("url", "loc", "rule"),
    [
        ("/grid?n=0", "query.n", "greater than or equal to 1"),
        ("/grid?n=257", "query.n", "less than or equal to 256"),
        ("/grid?n=abc", "query.n", "valid integer"),
        ("/grid?n=4&size=32", "query.size", "size must be one of"),
        ("/grid?n=4&columns=0", "query.columns", "greater than or equal to 1"),
        ("/grid?n=4&seed=-3", "query.seed", "greater than or equal to 0"),
        ("/grid?n=4&seed=9223372036854775807", "query", "seed + n - 1 must be below 2**63"),
        ("/grid?n=4&trunc=0.5", "query.trunc", "Extra inputs are not permitted"),
        ("/grid?truncation=nan", "query.truncation", "finite number"),
        ("/interpolate?start=1&end=2&steps=1", "query.steps", "greater than or equal to 2"),
        ("/interpolate?start=1&end=2&steps=65", "query.steps", "less than or equal to 64"),
        ("/interpolate?start=1&end=2&mode=cubic", "query.mode", "'slerp' or 'lerp'"),
        ("/interpolate?start=1&end=2&format=webp", "query.format", "'png' or 'gif'"),
        ("/interpolate?start=1", "query.end", "Field required"),
        ("/avatars/-1.png", "path.seed", "greater than or equal to 0"),
        ("/avatars/9223372036854775808.png", "path.seed", "less than or equal to"),
        ("/avatars/abc.png", "path.seed", "not a valid avatar code"),
        ("/avatars/1.png?size=1024", "query.size", "size must be one of"),
        ("/latents/-5", "path.seed", "greater than or equal to 0"),
    ],
)
def test_get_rejects(client: TestClient, url: str, loc: str, rule: str) -> None:
    r = client.get(url)
    assert r.status_code == 422, r.text
    assert r.json()["message"].startswith(loc + ":"), r.json()["message"]
    assert rule in r.json()["message"]


@pytest.mark.parametrize(
    ("body", "loc", "rule"),
    [
        ({"start": GOOD, "end": GOOD[:-1]}, "body.end", f"exactly {TINY.latent_dim} items"),
        ({"start": GOOD, "end": GOOD, "steps": 99}, "body.steps", "less than or equal to 64"),
        ({"start": GOOD}, "body.end", "Field required"),
        ({"start": GOOD, "end": GOOD, "speed": 2}, "body.speed", "Extra inputs are not permitted"),
    ],
)
def test_post_interpolate_rejects(client: TestClient, body: dict, loc: str, rule: str) -> None:
    error = bad_post(client, "/interpolate", body)
    assert error["message"].startswith(loc + ":") and rule in error["message"]


@pytest.mark.parametrize(
    ("method", "url", "body", "loc", "pixels"),
    [
        ("GET", "/interpolate?start=1&end=2&steps=64&size=256&format=gif", None, "query.steps", "4,194,304"),
        ("GET", "/grid?n=64&size=256", None, "query.n", "4,194,304"),
        ("POST", "/interpolate", {"start": GOOD, "end": GOOD, "steps": 64, "size": 256}, "body.steps", "4,194,304"),
        ("POST", "/avatars", {"seeds": list(range(64)), "size": 256}, "body.size", "4,194,304"),
    ],
)
def test_work_per_request_is_capped_in_pixels(
    settings_for, method: str, url: str, body: dict | None, loc: str, pixels: str
) -> None:
    """images x size^2 past AVATARS_MAX_REQUEST_PIXELS is a 422 naming the setting, before any work."""
    with TestClient(create_app(settings_for(max_request_pixels=1_048_576))) as client:
        r = client.request(method, url, json=body)
        assert r.status_code == 422, r.text
        message = r.json()["message"]
        assert message.startswith(loc + ":") and pixels in message and "AVATARS_MAX_REQUEST_PIXELS" in message
        assert metric(client, "avatars_images_generated_total", release="v1") == 0
        # at the limit it is served
        smaller = url.replace("size=256", "size=128")
        fine = client.request(method, smaller, json=body and {**body, "size": 128})
        assert fine.status_code == 200, fine.text


def test_settings_limits_name_their_setting(settings_for) -> None:
    with TestClient(create_app(settings_for(max_grid=10, max_avatars_per_request=3))) as client:
        assert "(AVATARS_MAX_GRID)" in client.get("/grid?n=11").json()["message"]
        r = client.post("/avatars", json={"player_ids": ["a", "b", "c", "d"]})
        assert r.json()["message"].startswith("body.player_ids: List should have at most 3 items")
        assert "(AVATARS_MAX_AVATARS_PER_REQUEST)" in r.json()["message"]


def test_rejections_are_counted(client: TestClient) -> None:
    client.get("/grid?n=0")
    assert metric(client, "avatars_rejected_requests_total", reason="invalid") == 1
