"""One rule for codes on every route: a code names its release, and that release draws it.

Served: unversioned URLs and bodies without `model` follow the code; a URL under another release
redirects (308) to the code's own; a body whose `model` names another release is a 422. Retired:
410 with the successor, the same body on every route (and for a `?v=` of the retired release).
Unknown: 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.caching import IMMUTABLE
from app.config import Settings
from app.main import create_app
from gan.checkpoint import save_generator
from gan.codes import AvatarSpec, encode
from gan.releases import set_status
from tests.conftest import make_generator, publish_with_directions

V1_CODE = encode(AvatarSpec("v1", seed=3, edits=(("explore_0", 1.0),)))


@pytest.fixture
def releases(tmp_path: Path) -> Path:
    """v1 (available) and v2 (the default): two different tiny generators, both with directions."""
    folder = tmp_path / "weights"
    for seed, name in enumerate(["v1", "v2"]):
        checkpoint = tmp_path / f"{name}-export.safetensors"
        save_generator(make_generator(seed=seed), checkpoint)
        publish_with_directions(folder, name, checkpoint, make_default=name == "v2")
    return folder


@pytest.fixture
def serve(settings_for: Callable[..., Settings]) -> Callable[[Path], Iterator[TestClient]]:
    def start(folder: Path) -> Iterator[TestClient]:
        with TestClient(create_app(settings_for(weights_dir=folder)), follow_redirects=False) as client:
            yield client

    return start


@pytest.fixture
def client(releases: Path, serve: Callable[[Path], Iterator[TestClient]]) -> Iterator[TestClient]:
    yield from serve(releases)


def test_every_route_follows_the_release_a_served_code_names(client: TestClient) -> None:
    own = client.get(f"/models/v1/avatars/{V1_CODE}.png?size=128")
    assert own.status_code == 200 and own.headers["x-model"] == "v1"
    # unversioned: the code's release, not the default (v2), and as immutable as the pinned URL
    unversioned = client.get(f"/avatars/{V1_CODE}.png?size=128")
    assert unversioned.content == own.content and unversioned.headers["cache-control"] == IMMUTABLE
    # under another release's URL: a redirect to the code's own URL, query kept
    moved = client.get(f"/models/v2/avatars/{V1_CODE}.png?size=128")
    assert moved.status_code == 308 and moved.headers["cache-control"] == IMMUTABLE
    assert moved.headers["location"].endswith(f"/models/v1/avatars/{V1_CODE}.png?size=128")
    assert client.get(f"/codes/{V1_CODE}").json()["model"] == "v1"
    # a base code in POST /codes is drawn by its own release too (it was a 422 foreign_code)
    for body in ({"base": V1_CODE}, {"base": V1_CODE, "model": "v1"}, {"base": V1_CODE, "edits": {"explore_1": -1}}):
        made = client.post("/codes", json=body)
        assert made.status_code == 200 and made.json()["model"] == "v1", (body, made.text)
        assert made.json()["url"].startswith("/models/v1/")
    # variations of a code: the code's release, in JSON and as a grid, pinned or not
    children = client.post("/variations", json={"of": V1_CODE, "n": 2})
    assert children.status_code == 200 and children.json()["model"] == "v1"
    grid = client.get(f"/variations.png?of={V1_CODE}&n=2")
    assert grid.status_code == 200 and grid.headers["x-model"] == "v1"
    moved = client.get(f"/models/v2/variations.png?of={V1_CODE}&n=2")
    assert moved.status_code == 308
    assert moved.headers["location"].endswith(f"/models/v1/variations.png?of={V1_CODE}&n=2")
    assert client.get(moved.headers["location"]).content == grid.content


@pytest.mark.parametrize(("route", "field"), [("/codes", "base"), ("/variations", "of")])
def test_a_body_naming_another_release_than_its_code_is_refused(client: TestClient, route: str, field: str) -> None:
    r = client.post(route, json={field: V1_CODE, "model": "v2"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0] == {
        "loc": ["body", "model"],
        "msg": "the code names release 'v1', not 'v2': leave `model` out or name 'v1'",
        "type": "release_mismatch",
    }


def test_a_retired_release_code_is_410_with_its_successor_on_every_route(
    releases: Path, serve: Callable[[Path], Iterator[TestClient]]
) -> None:
    for client in serve(releases):
        v1_version = client.get("/models/v1").json()["model_version"]
    set_status(releases, "v1", "retired", successor="v2")
    for client in serve(releases):
        answers = {
            "GET /avatars/{code}": client.get(f"/avatars/{V1_CODE}.png"),
            "GET /models/v2/avatars/{code}": client.get(f"/models/v2/avatars/{V1_CODE}.webp"),
            "GET /codes/{code}": client.get(f"/codes/{V1_CODE}"),
            "POST /codes": client.post("/codes", json={"base": V1_CODE, "edits": {"explore_1": 1}}),
            "POST /variations": client.post("/variations", json={"of": V1_CODE, "n": 2}),
            "GET /variations.png": client.get(f"/variations.png?of={V1_CODE}&n=2"),
            "GET /models/v2/variations.png": client.get(f"/models/v2/variations.png?of={V1_CODE}"),
            "GET ?v=<v1's version>": client.get(f"/avatars/5.png?v={v1_version}"),
            "GET /models/v1/...": client.get("/models/v1/avatars/5.png"),  # as it always was
        }
        for where, answer in answers.items():
            assert answer.status_code == 410, (where, answer.status_code, answer.text)
            assert answer.json() == {"detail": "release 'v1' is retired; its successor is 'v2'", "successor": "v2"}
        # the schema says so: every route that takes a code documents the 410 and its body
        spec = client.get("/openapi.json").json()
        for path, method in [("/avatars/{seed}.{extension}", "get"), ("/codes/{code}", "get"),
                             ("/codes", "post"), ("/variations", "post"), ("/variations.png", "get")]:  # fmt: skip
            gone = spec["paths"][path][method]["responses"]["410"]
            assert gone["content"]["application/json"]["schema"]["$ref"].endswith("/RetiredErrorBody"), path


def test_a_version_no_release_ever_had_stays_404(client: TestClient) -> None:
    r = client.get("/avatars/5.png?v=0123456789abcdef")
    assert r.status_code == 404 and "is not served here" in r.json()["detail"]
    # a code's URL takes only its release's version
    v2_version = client.get("/models/v2").json()["model_version"]
    assert client.get(f"/avatars/{V1_CODE}.png?v={v2_version}").status_code == 404
    v1_version = client.get("/models/v1").json()["model_version"]
    assert client.get(f"/avatars/{V1_CODE}.png?v={v1_version}").status_code == 200
