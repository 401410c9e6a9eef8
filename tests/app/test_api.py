"""Every endpoint, with the images decoded and checked."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from gan.latents import player_seed, seed_latent
from tests.app.conftest import decode, metric, sample_total, sample_value
from tests.conftest import TINY


def test_get_avatar_png_sizes_and_headers(client: TestClient) -> None:
    for size in (64, 128, 256):
        r = client.get(f"/avatars/7.png?size={size}")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        image = decode(r.content)
        assert image.shape == (size, size, 3)
        assert image.std() > 5  # a picture, not a flat fill
    assert r.headers["x-avatar-seed"] == "7"
    assert r.headers["x-model-version"] == client.get("/model").json()["model_version"]


def test_avatar_urls_are_cacheable(client: TestClient) -> None:
    r = client.get("/avatars/7.png")
    etag = r.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert r.headers["cache-control"] == "public, max-age=300"  # unversioned: follows the default release
    again = client.get("/avatars/7.png", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get("/avatars/7.png", headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get("/avatars/8.png", headers={"If-None-Match": etag}).status_code == 200
    assert client.get("/avatars/7.png?size=128").headers["etag"] != etag
    assert client.get("/avatars/7.png?truncation=0.5").headers["etag"] != etag


def test_pinned_model_version_is_immutable_and_a_wrong_pin_is_404(client: TestClient) -> None:
    version = client.get("/model").json()["model_version"]
    r = client.get(f"/avatars/7.png?v={version}")
    assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    wrong = client.get("/avatars/7.png?v=0000")
    assert wrong.status_code == 404 and version in wrong.json()["detail"]


def test_same_request_same_bytes_and_different_seeds_differ(client: TestClient) -> None:
    a = client.get("/avatars/11.png?truncation=0.8&size=128").content
    b = client.get("/avatars/11.png?truncation=0.8&size=128").content
    c = client.get("/avatars/12.png?truncation=0.8&size=128").content
    assert a == b
    assert not np.array_equal(decode(a), decode(c))


def test_truncation_changes_the_image(client: TestClient) -> None:
    plain = decode(client.get("/avatars/3.png").content)
    tame = decode(client.get("/avatars/3.png?truncation=0.3").content)
    assert not np.array_equal(plain, tame)


def test_post_single_seed_answers_png(client: TestClient) -> None:
    r = client.post("/avatars", json={"seeds": [7]})
    assert r.headers["content-type"] == "image/png" and r.headers["x-avatar-seed"] == "7"
    assert r.content == client.get("/avatars/7.png").content


def test_post_single_can_ask_for_json(client: TestClient) -> None:
    r = client.post("/avatars", json={"seeds": [7]}, headers={"Accept": "application/json"})
    assert r.headers["content-type"] == "application/json"
    assert len(r.json()["avatars"]) == 1


def test_post_player_id_maps_to_the_documented_seed(client: TestClient) -> None:
    r = client.post("/avatars", json={"player_ids": ["player-8d2f1c"], "size": 128})
    seed = player_seed("player-8d2f1c")
    assert r.headers["x-avatar-seed"] == str(seed)
    assert decode(r.content).shape == (128, 128, 3)
    assert r.content == client.get(f"/avatars/{seed}.png?size=128").content


def test_post_many_answers_json_in_request_order(client: TestClient) -> None:
    r = client.post("/avatars", json={"player_ids": ["ann", "bob", "ann"], "truncation": 0.7})
    body = r.json()
    assert r.status_code == 200 and body["truncation"] == 0.7 and body["size"] == 64
    items = body["avatars"]
    assert [i["index"] for i in items] == [0, 1, 2]
    assert [i["player_id"] for i in items] == ["ann", "bob", "ann"]
    assert [i["seed"] for i in items] == [player_seed(p) for p in ("ann", "bob", "ann")]
    images = [decode(base64.b64decode(i["png_base64"])) for i in items]
    assert all(im.shape == (64, 64, 3) for im in images)
    assert np.array_equal(images[0], images[2]) and not np.array_equal(images[0], images[1])


def test_latent_round_trip_gives_the_seed_s_avatar(client: TestClient) -> None:
    latent = client.get("/latents/42").json()
    assert latent["seed"] == 42 and latent["latent_dim"] == TINY.latent_dim
    assert latent["latent"] == seed_latent(42, TINY.latent_dim).tolist()
    r = client.post("/avatars", json={"latents": [latent["latent"]]})
    assert r.status_code == 200 and "x-avatar-seed" not in r.headers
    assert r.content == client.get("/avatars/42.png").content


def test_latent_arithmetic_is_accepted(client: TestClient) -> None:
    a, b, c = (np.array(client.get(f"/latents/{s}").json()["latent"]) for s in (1, 2, 3))
    mixed = np.clip(a - b + c, -10, 10).tolist()
    r = client.post("/avatars", json={"latents": [mixed, a.tolist()], "truncation": 0.9})
    assert r.status_code == 200
    assert [i["seed"] for i in r.json()["avatars"]] == [None, None]


def test_grid_layout_and_tiles(client: TestClient) -> None:
    r = client.get("/grid?n=25")
    grid = decode(r.content)
    pitch = 64 + 2
    assert grid.shape == (5 * pitch + 2, 5 * pitch + 2, 3)  # near-square, 2 px borders
    assert r.headers["x-first-seed"] == "0" and r.headers["x-grid-columns"] == "5"
    # tile 7 (row 1, column 2) is seed 7's avatar; batch composition may move a value by 1 at most
    tile = grid[2 + pitch : 2 + pitch + 64, 2 + 2 * pitch : 2 + 2 * pitch + 64].astype(int)
    single = decode(client.get("/avatars/7.png").content).astype(int)
    assert np.abs(tile - single).max() <= 1


def test_grid_options(client: TestClient) -> None:
    grid = decode(client.get("/grid?n=6&seed=100&columns=3&size=128").content)
    assert grid.shape == (2 * 130 + 2, 3 * 130 + 2, 3)
    grid = decode(client.get("/grid?n=3&columns=10").content)  # never wider than n
    assert grid.shape == (66 + 2, 3 * 66 + 2, 3)
    etag = client.get("/grid?n=4").headers["etag"]
    assert client.get("/grid?n=4", headers={"If-None-Match": etag}).status_code == 304


def test_interpolation_strip_runs_from_start_to_end(client: TestClient) -> None:
    r = client.get("/interpolate?start=1&end=2&steps=8")
    strip = decode(r.content)
    assert strip.shape == (64, 8 * 64, 3) and r.headers["x-frames"] == "8"
    first, last = strip[:, :64].astype(int), strip[:, -64:].astype(int)
    assert np.abs(first - decode(client.get("/avatars/1.png").content)).max() <= 1
    assert np.abs(last - decode(client.get("/avatars/2.png").content)).max() <= 1
    lerp = decode(client.get("/interpolate?start=1&end=2&steps=8&mode=lerp").content)
    assert not np.array_equal(strip, lerp)  # the middle frames differ between the two paths


def test_interpolation_gif_loops_back(client: TestClient) -> None:
    r = client.get("/interpolate?start=1&end=2&steps=5&format=gif&size=128&frame_ms=80")
    assert r.headers["content-type"] == "image/gif"
    gif = Image.open(io.BytesIO(r.content))
    assert gif.size == (128, 128) and gif.n_frames == 8  # 5 forward + 3 back
    assert gif.info["loop"] == 0 and gif.info["duration"] == 80


def test_post_interpolate_between_latents_matches_seeds(client: TestClient) -> None:
    start = client.get("/latents/1").json()["latent"]
    end = client.get("/latents/2").json()["latent"]
    r = client.post("/interpolate", json={"start": start, "end": end, "steps": 4})
    assert r.content == client.get("/interpolate?start=1&end=2&steps=4").content


def test_model_card_and_runtime(client: TestClient) -> None:
    body = client.get("/model").json()
    assert body["format"] == "anime-avatars/generator" and body["architecture"] == "dcgan"
    assert body["generator"]["latent_dim"] == TINY.latent_dim
    assert body["card"]["name"] == "test-tiny"
    assert body["runtime"] == {"device": "cpu", "dtype": "float32", "max_batch_size": 16, "max_wait_ms": 2.0}


def test_probes_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    client.get("/avatars/1.png")
    client.get("/grid?n=4")
    text = client.get("/metrics").text
    labels = {"method": "GET", "release": "v1"}
    assert (
        sample_value(text, "avatars_http_requests_total", route="/avatars/{seed}.{extension}", status="200", **labels)
        == 1
    )
    assert sample_value(text, "avatars_http_request_duration_seconds_count", route="/grid", **labels) == 1
    assert sample_value(text, "avatars_http_requests_total", route="/healthz", release="none") == 1
    assert metric(client, "avatars_images_generated_total", release="v1") == 5.0
    assert metric(client, "avatars_queue_depth_images", release="v1") == 0.0
    assert "avatars_batch_size_bucket" in text
    assert sample_value(text, "avatars_queue_wait_seconds_count", release="v1") == 2  # one per request


def test_openapi_documents_models_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in ("AvatarRequest", "AvatarBatch", "InterpolationRequest", "LatentResponse", "ModelResponse"):
        assert schemas[name].get("examples"), name
    assert {"/avatars", "/avatars/{seed}.{extension}", "/grid", "/interpolate", "/latents/{seed}", "/model"} <= set(
        spec["paths"]
    )
    assert client.get("/docs").status_code == 200


def test_docs_pages_need_no_internet(client: TestClient) -> None:
    """/docs and /redoc load their scripts from this service, never from a CDN."""
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html"), page
        sources = re.findall(r'(?:src|href)="([^"]+)"', html.text)
        assert sources, page
        for source in sources:
            assert source.startswith("/"), f"{page} loads {source} from elsewhere"
            asset = client.get(source)
            assert asset.status_code == 200 and len(asset.content) > 0, source
    assert client.get("/docs-assets/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/docs-assets/../config.py").status_code == 404
    redoc = client.get("/docs-assets/redoc.standalone.js").content
    assert b"cdn.redoc.ly" not in redoc and b"data:image/svg+xml" in redoc  # its menu logo, made local


def test_favicon_is_served(client: TestClient) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # the ICO signature


@pytest.mark.parametrize("spelling", ["+42", "042", "4_2", "42.0", "%2042", "0042"])
def test_one_avatar_has_one_url_other_spellings_redirect_to_it(client: TestClient, spelling: str) -> None:
    for prefix, lifetime in (("/models/v1", "immutable"), ("", "max-age=300")):
        answer = client.get(f"{prefix}/avatars/{spelling}.webp?size=128", follow_redirects=False)
        assert answer.status_code == 308, answer.text
        assert answer.headers["location"].endswith(f"{prefix}/avatars/42.webp?size=128")
        assert lifetime in answer.headers["cache-control"]
    canonical = client.get("/models/v1/avatars/42.png", follow_redirects=False)
    assert canonical.status_code == 200
    assert client.get("/models/v1/avatars/4x2.png").status_code == 422  # not a seed at all: as before


HEAD_URLS = [
    "/models/v1/avatars/5.png?size=128",
    "/avatars/5.webp",
    "/models/v1/grid?n=4",
    "/interpolate?start=1&end=2&steps=3",
    "/models/v1/interpolate?start=1&end=2&steps=3&format=gif",
    "/models/v1/variations.png?of=5&n=4",
]


@pytest.mark.parametrize("url", HEAD_URLS)
def test_head_answers_the_gets_headers_without_a_body_or_any_work(client: TestClient, url: str) -> None:
    before = sample_total(client.get("/metrics").text, "avatars_images_generated_total")
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert sample_total(client.get("/metrics").text, "avatars_images_generated_total") == before  # nothing was drawn
    assert "content-length" not in head.headers  # unknown without drawing: none rather than a wrong 0
    get = client.get(url)
    for name in ("etag", "cache-control", "content-type", "x-model", "x-model-version"):
        assert head.headers[name] == get.headers[name], name
    assert client.head(url, headers={"If-None-Match": get.headers["etag"]}).status_code == 304
    assert client.head(f"{url}&truncation=0").status_code == 422  # bad input: as for GET


def test_the_schema_advertises_the_limits_the_instance_enforces(settings_for) -> None:
    from app.main import create_app

    settings = settings_for(max_grid=40, max_interpolation_steps=12, max_avatars_per_request=9)
    with TestClient(create_app(settings)) as client:
        spec = client.get("/openapi.json").json()
        grid_n = [p["schema"]["maximum"] for p in spec["paths"]["/grid"]["get"]["parameters"] if p["name"] == "n"]
        steps = [
            p["schema"]["maximum"] for p in spec["paths"]["/interpolate"]["get"]["parameters"] if p["name"] == "steps"
        ]
        assert grid_n == [40] and steps == [12]
        assert spec["components"]["schemas"]["InterpolationRequest"]["properties"]["steps"]["maximum"] == 12
        seeds = spec["components"]["schemas"]["AvatarRequest"]["properties"]["seeds"]["anyOf"][0]
        assert seeds["maxItems"] == 9
        # and the advertised limit is exactly where refusal starts
        assert client.get("/grid?n=40").status_code == 200 and client.get("/grid?n=41").status_code == 422
