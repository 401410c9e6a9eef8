"""Several releases served side by side over HTTP: pinned URLs never change, unversioned ones follow
the default, and names that are unknown, retired or malformed get 404, 410 and 422."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.caching import IMMUTABLE
from app.config import Settings
from app.main import create_app
from gan.checkpoint import save_generator
from gan.releases import publish, set_status
from tests.app.conftest import decode, metric
from tests.conftest import make_generator

# one URL of every image route, as the path under the release prefix
IMAGE_PATHS = [
    "/avatars/5.png?size=128",
    "/grid?n=4&seed=3",
    "/interpolate?start=1&end=2&steps=3",
    "/interpolate?start=1&end=2&steps=3&format=gif",
    "/latents/5",
]


@pytest.fixture
def releases(tmp_path: Path) -> Path:
    """v1 (the default) and v2 (available): two different tiny generators."""
    folder = tmp_path / "weights"
    for seed, name in enumerate(["v1", "v2"]):
        checkpoint = tmp_path / f"{name}-export.safetensors"
        save_generator(make_generator(seed=seed), checkpoint)
        publish(folder, name, checkpoint)
    return folder


Serve = Callable[[Path], AbstractContextManager[TestClient]]


@pytest.fixture
def serve(settings_for: Callable[..., Settings]) -> Serve:
    """Start the app on a weights folder (again after each manifest change, as a deploy would)."""

    @contextmanager
    def start(folder: Path) -> Iterator[TestClient]:
        with TestClient(create_app(settings_for(weights_dir=folder))) as client:
            yield client

    return start


def fetch_all(client: TestClient, prefix: str) -> dict[str, tuple[bytes, str]]:
    out = {}
    for path in IMAGE_PATHS:
        response = client.get(prefix + path)
        assert response.status_code == 200, (prefix + path, response.text)
        out[path] = (response.content, response.headers["etag"])
    return out


def test_a_pinned_url_keeps_its_bytes_when_the_default_changes(releases: Path, serve: Serve) -> None:
    with serve(releases) as client:
        v1_before = fetch_all(client, "/models/v1")
        v2_before = fetch_all(client, "/models/v2")
        assert fetch_all(client, "") == v1_before  # unversioned: the default, v1
        assert v1_before["/avatars/5.png?size=128"][0] != v2_before["/avatars/5.png?size=128"][0]

    set_status(releases, "v2", "default")
    with serve(releases) as client:
        assert fetch_all(client, "/models/v1") == v1_before  # bytes and ETags, exactly
        assert fetch_all(client, "/models/v2") == v2_before
        assert fetch_all(client, "") == v2_before  # unversioned URLs followed the new default
        assert client.get("/avatars/5.png").headers["x-model"] == "v2"


def test_versioned_urls_are_immutable_and_unversioned_ones_short_lived(releases: Path, serve: Serve) -> None:
    with serve(releases) as client:
        for path in IMAGE_PATHS:
            pinned = client.get("/models/v2" + path)
            assert pinned.headers["cache-control"] == IMMUTABLE, path
            etag = pinned.headers["etag"]
            assert etag.startswith('"') and not etag.startswith("W/")  # strong
            again = client.get("/models/v2" + path, headers={"If-None-Match": etag})
            assert again.status_code == 304 and again.content == b"", path
            unversioned = client.get(path)
            assert unversioned.headers["cache-control"] == "public, max-age=300", path


def test_every_answer_names_its_release_and_weights(releases: Path, serve: Serve) -> None:
    with serve(releases) as client:
        versions = {r["name"]: r["model_version"] for r in client.get("/models").json()["releases"]}
        for name in ("v1", "v2"):
            for path in IMAGE_PATHS:
                response = client.get(f"/models/{name}{path}")
                assert response.headers["x-model"] == name, path
                assert response.headers["x-model-version"] == versions[name], path
            one = client.post("/avatars", json={"seeds": [5], "model": name})
            assert one.headers["content-type"] == "image/png"
            assert (one.headers["x-model"], one.headers["x-model-version"]) == (name, versions[name])
            batch = client.post("/avatars", json={"player_ids": ["p-1", "p-2"], "model": name}).json()
            assert (batch["model"], batch["model_version"]) == (name, versions[name])
            strip = client.post("/interpolate", json={"start": [0.1] * 16, "end": [-0.1] * 16, "model": name})
            assert strip.headers["x-model"] == name
        # a body without "model" is the default's, and says so
        default = client.post("/avatars", json={"player_ids": ["p-1", "p-2"]}).json()
        assert default["model"] == "v1"


def test_post_with_a_release_draws_what_its_pinned_url_shows(releases: Path, serve: Serve) -> None:
    with serve(releases) as client:
        for name in ("v1", "v2"):
            posted = client.post("/avatars", json={"seeds": [5], "model": name, "size": 128})
            assert posted.content == client.get(f"/models/{name}/avatars/5.png?size=128").content
            assert decode(posted.content).shape == (128, 128, 3)


def test_models_lists_every_release_and_model_stays_the_default(releases: Path, serve: Serve) -> None:
    publish(releases, "v3", releases / "v1.safetensors")  # v3: same weights as v1 under a new name
    set_status(releases, "v2", "default")
    set_status(releases, "v1", "retired", successor="v2")
    with serve(releases) as client:
        listing = client.get("/models").json()
        assert listing["default"] == "v2"
        by_name = {r["name"]: r for r in listing["releases"]}
        assert [r["name"] for r in listing["releases"]] == ["v1", "v2", "v3"]
        assert (by_name["v1"]["status"], by_name["v1"]["successor"], by_name["v1"]["loaded"]) == (
            "retired",
            "v2",
            False,
        )
        assert by_name["v2"]["status"] == "default" and by_name["v2"]["loaded"]
        assert by_name["v3"]["status"] == "available" and "generator" in by_name["v3"]
        assert client.get("/model").json()["model_version"] == by_name["v2"]["model_version"]
        assert client.get("/models/v3").json()["name"] == "v3"


@pytest.mark.parametrize("path", [*IMAGE_PATHS, ""])
def test_release_errors_on_every_route(releases: Path, serve: Serve, path: str) -> None:
    set_status(releases, "v2", "default")
    set_status(releases, "v1", "retired", successor="v2")
    with serve(releases) as client:
        unknown = client.get("/models/v9" + path)
        assert unknown.status_code == 404
        assert "unknown release 'v9'" in unknown.json()["detail"] and "v1, v2" in unknown.json()["detail"]
        retired = client.get("/models/v1" + path)
        assert retired.status_code == 410
        assert retired.json()["successor"] == "v2" and "successor is 'v2'" in retired.json()["detail"]
        malformed = client.get("/models/V1_beta" + path)
        assert malformed.status_code == 422
        assert malformed.json()["detail"][0]["loc"] == ["path", "release"]


@pytest.mark.parametrize(
    ("route", "body"),
    [("/avatars", {"seeds": [1]}), ("/interpolate", {"start": [0.0] * 16, "end": [1.0] * 16})],
)
def test_release_errors_in_post_bodies(releases: Path, serve: Serve, route: str, body: dict) -> None:
    set_status(releases, "v2", "default")
    set_status(releases, "v1", "retired", successor="v2")
    with serve(releases) as client:
        assert client.post(route, json={**body, "model": "v9"}).status_code == 404
        retired = client.post(route, json={**body, "model": "v1"})
        assert retired.status_code == 410 and retired.json()["successor"] == "v2"
        for bad in ("V1", "", "v" * 40, 2):
            malformed = client.post(route, json={**body, "model": bad})
            assert malformed.status_code == 422, bad
            assert malformed.json()["detail"][0]["loc"] == ["body", "model"], bad


def test_metrics_are_labelled_by_release_with_bounded_values(releases: Path, serve: Serve) -> None:
    with serve(releases) as client:
        for name, count in (("v1", 3), ("v2", 2)):
            for seed in range(count):
                assert client.get(f"/models/{name}/avatars/{seed}.png").status_code == 200
        for name in ("v9", "x" * 20, "bad_name"):
            client.get(f"/models/{name}/avatars/1.png")
        assert metric(client, "avatars_images_generated_total", release="v1") == 3
        assert metric(client, "avatars_images_generated_total", release="v2") == 2
        assert metric(client, "avatars_forward_passes_total", release="v2") == 2
        route = "/models/{release}/avatars/{seed}.{extension}"
        assert metric(client, "avatars_http_requests_total", route=route, status="200", release="v1") == 3
        assert metric(client, "avatars_queue_depth_images", release="v2") == 0
        # refused names never become label values: only loaded releases and "none" appear
        families = text_string_to_metric_families(client.get("/metrics").text)
        labels = {s.labels["release"] for f in families for s in f.samples if "release" in s.labels}
        assert labels == {"v1", "v2", "none"}, labels
        assert metric(client, "avatars_http_requests_total", route=route, status="404", release="none") == 2
