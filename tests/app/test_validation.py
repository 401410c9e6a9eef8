"""Every malformed request is a 422 (413 for a huge body) naming the field and the rule; never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

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
        ({"seeds": [1], "truncation": 0}, "body.truncation", "greater than 0"),
        ({"seeds": [1], "truncation": 1.5}, "body.truncation", "less than or equal to 1"),
        ({"seeds": [1], "size": 100}, "body.size", "size must be one of 64, 128 or 256"),
        ({"seeds": [1], "colour": "red"}, "body.colour", "Extra inputs are not permitted"),
        ([1, 2], "body", "valid dictionary"),
    ],
)
def test_post_avatars_rejects(client: TestClient, body: object, loc: str, rule: str) -> None:
    error = bad_post(client, "/avatars", body)
    assert error["message"].startswith(loc + ":"), error["message"]
    assert rule in error["message"]
    assert "input" not in error["detail"][0]  # never echo the payload back


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


def test_body_over_the_limit_without_content_length_is_413(client: TestClient) -> None:
    def chunks():
        yield b'{"seeds": ['
        for _ in range(300):
            yield b"1," * 2_000
        yield b"1]}"

    r = client.post("/avatars", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


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
        ("/avatars/abc.png", "path.seed", "valid integer"),
        ("/avatars/1.png?size=512", "query.size", "size must be one of"),
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


def test_rejections_are_counted(client: TestClient) -> None:
    client.get("/grid?n=0")
    assert 'avatars_rejected_requests_total{reason="invalid"} 1.0' in client.get("/metrics").text
