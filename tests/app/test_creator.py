"""The creator's HTTP API: edits, codes, variations and character creation by hair colour."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from gan.codes import AvatarSpec, encode
from gan.imaging import tile_grid
from gan.latents import player_seed
from gan.releases import publish
from tests.app.conftest import decode


def test_directions_list_names_kinds_and_ranges(client: TestClient) -> None:
    body = client.get("/models/v1/directions").json()
    ranges = {d["name"]: d["range"] for d in body["directions"]}
    assert ranges["explore_1"] == [-2.0, 1.0] and ranges["hair_lightness"] == [-2.0, 2.0]
    assert body["hair_colors"] == ["black", "blonde"]
    assert client.get("/directions").json() == body


def test_an_edit_changes_the_avatar_and_the_same_edit_in_get_and_post_is_the_same_image(client: TestClient) -> None:
    plain = client.get("/avatars/5.png").content
    via_get = client.get("/avatars/5.png?edits=explore_0:2.5,hair_lightness:-1").content
    via_post = client.post("/avatars", json={"seeds": [5], "edits": {"hair_lightness": -1, "explore_0": 2.5}})
    assert via_post.content == via_get != plain
    assert client.get("/avatars/5.png?edits=explore_0:0").content == plain  # a zero edit is no edit


def test_a_code_draws_exactly_the_avatar_it_came_with(client: TestClient) -> None:
    answer = client.post(
        "/avatars",
        json={"seeds": [7, 8], "truncation": 0.7, "edits": {"explore_1": -1.25}, "size": 128},
        headers={"Accept": "application/json"},
    ).json()
    for item in answer["avatars"]:
        image = client.get(f"/models/v1/avatars/{item['code']}.png?size=128")
        assert image.status_code == 200
        assert image.content == base64.b64decode(item["png_base64"])
        assert image.headers["cache-control"].endswith("immutable")
        assert image.headers["x-avatar-code"] == item["code"]
        assert client.get(f"/avatars/{item['code']}.png?size=128").content == image.content  # the code names v1


def test_a_seed_and_its_code_are_the_same_image_and_codes_never_share_a_seeds_validator(client: TestClient) -> None:
    r = client.get("/models/v1/avatars/3.png")
    code = r.headers["x-avatar-code"]
    assert client.get(f"/models/v1/avatars/{code}.png").content == r.content
    # a code of the same seed at another truncation is another image: it must not revalidate as seed 3
    tamer = client.post("/codes", json={"seed": 3, "truncation": 0.5}).json()["code"]
    other = client.get(f"/models/v1/avatars/{tamer}.png")
    assert other.content != r.content and other.headers["etag"] != r.headers["etag"]
    assert (
        client.get(f"/models/v1/avatars/{tamer}.png", headers={"If-None-Match": r.headers["etag"]}).status_code == 200
    )


def test_seeds_keep_the_spellings_they_always_had(client: TestClient) -> None:
    assert client.get("/avatars/+42.png").content == client.get("/avatars/42.png").content  # through a redirect
    r = client.get("/variations.png?of=%C2%B2&n=2")  # a digit to str.isdigit, not a seed
    assert r.status_code == 422 and r.json()["message"].startswith("query.of: not a valid avatar code")


def test_latent_codes_round_trip(client: TestClient) -> None:
    latent = [round(0.1 * ((i * 7) % 11) - 0.5, 3) for i in range(16)]
    answer = client.post("/avatars", json={"latents": [latent]}, headers={"Accept": "application/json"}).json()
    item = answer["avatars"][0]
    assert client.get(f"/models/v1/avatars/{item['code']}.png").content == base64.b64decode(item["png_base64"])
    assert client.get(f"/codes/{item['code']}").json()["latent"] == pytest.approx(latent, abs=1e-7)


@pytest.mark.parametrize(
    ("url", "loc", "rule"),
    [
        ("/avatars/1.png?edits=explore_1:1.5", "query.edits.explore_1", "between -2 and 1"),
        ("/avatars/1.png?edits=nope:1", "query.edits.nope", "unknown direction 'nope'"),
        ("/avatars/1.png?edits=explore_1", "query.edits", "must look like"),
        ("/avatars/1.png?edits=explore_1:1,explore_1:0", "query.edits", "given twice"),
        ("/avatars/1.png?edits=explore_1:1.2.3", "query.edits", "must look like"),
        ("/avatars/1.png?edits=explore_1:1e999", "query.edits.explore_1", "between -2 and 1, got inf"),
        ("/grid?n=4&edits=explore_1:9", "query.edits.explore_1", "between -2 and 1"),
        ("/interpolate?start=1&end=2&edits=x:1", "query.edits.x", "unknown direction"),
        ("/avatars/AQACdjEBAAA.png", "path.seed", "check digits"),
        ("/avatars/A" + "b" * 3000 + ".png", "path.seed", "at most"),
    ],
)
def test_bad_edits_and_codes_are_422s_naming_the_problem(client: TestClient, url: str, loc: str, rule: str) -> None:
    r = client.get(url)
    assert r.status_code == 422, r.text
    assert r.json()["message"].startswith(loc + ":") and rule in r.json()["message"], r.json()["message"]


def test_a_code_refuses_options_it_carries_and_names_its_release(client: TestClient) -> None:
    code = client.get("/avatars/3.png").headers["x-avatar-code"]
    r = client.get(f"/avatars/{code}.png?truncation=0.5")
    assert r.status_code == 422 and "carries its own truncation" in r.json()["message"]
    assert r.json()["detail"][0]["type"] == "code_option"
    foreign = encode(AvatarSpec("v7", seed=3))  # a release this server never had: 404 wherever it is used
    for url in (f"/models/v1/avatars/{foreign}.png", f"/avatars/{foreign}.png", f"/codes/{foreign}"):
        r = client.get(url)
        assert r.status_code == 404 and "unknown release 'v7'" in r.json()["detail"], url


def test_only_canonical_codes_are_accepted(client: TestClient) -> None:
    import base64 as b64
    import hashlib

    good = encode(AvatarSpec("v1", seed=3, edits=(("explore_0", 1.0), ("hair_lightness", 0.5))))
    raw = b64.urlsafe_b64decode(good + "=" * (-len(good) % 4))[:-2]
    # the same edits in the other order: a valid code by layout, but not the canonical one
    first, second = raw.index(b"\x09explore_0"), raw.index(b"\x0ehair_lightness")
    swapped = raw[:first] + raw[second:] + raw[first:second]
    bad = b64.urlsafe_b64encode(swapped + hashlib.blake2s(swapped, digest_size=2).digest()).rstrip(b"=").decode()
    r = client.get(f"/models/v1/avatars/{bad}.png")
    assert r.status_code == 422 and "canonical form" in r.json()["message"]


def test_a_code_whose_edit_is_out_of_range_is_refused(client: TestClient) -> None:
    bad = encode(AvatarSpec("v1", seed=3, edits=(("explore_1", 5.0),)))
    r = client.get(f"/models/v1/avatars/{bad}.png")
    assert r.status_code == 422 and "explore_1 must be between -2 and 1" in r.json()["message"]


def test_post_edits_out_of_range_are_422(client: TestClient) -> None:
    r = client.post("/avatars", json={"seeds": [1], "edits": {"hair_lightness": 3}})
    assert r.status_code == 422
    assert r.json()["message"].startswith("body.edits.hair_lightness: hair_lightness must be between -2 and 2")


def test_variations_are_deterministic_and_the_grid_shows_the_listed_codes(client: TestClient) -> None:
    body = {"of": "42", "n": 4, "strength": 0.5, "seed": 9}
    one, two = client.post("/variations", json=body).json(), client.post("/variations", json=body).json()
    assert one == two and len({v["code"] for v in one["variations"]}) == 4
    other = client.post("/variations", json={**body, "seed": 10}).json()
    assert {v["code"] for v in other["variations"]}.isdisjoint(v["code"] for v in one["variations"])
    grid = decode(client.get("/variations.png?of=42&n=4&strength=0.5&seed=9&columns=4").content)
    singles = [decode(client.get(v["url"]).content) for v in one["variations"]]
    assert np.array_equal(grid, tile_grid(np.stack(singles), columns=4))
    # a child's children: the lineage grows by one step and the code still decodes
    child = one["variations"][0]["code"]
    grand = client.post("/variations", json={"of": child, "n": 2, "strength": 0.2}).json()
    assert len(client.get(f"/codes/{grand['variations'][0]['code']}").json()["variations"]) == 2
    assert client.post("/variations", json={**body, "strength": 0.0}).json()["variations"][0]["code"] != child


def test_a_lineage_stops_where_a_code_can_no_longer_hold_it(client: TestClient) -> None:
    from gan.codes import MAX_VARIATIONS

    spec = AvatarSpec("v1", seed=1)
    for i in range(MAX_VARIATIONS):
        spec = spec.child(i, 0.1)
    r = client.post("/variations", json={"of": encode(spec), "n": 2})
    assert r.status_code == 422 and f"keeps at most {MAX_VARIATIONS}" in r.json()["message"]


def test_variations_reject_bad_parents(client: TestClient) -> None:
    r = client.post("/variations", json={"of": "nonsense", "n": 2})
    assert r.status_code == 422 and r.json()["message"].startswith("body.of: not a valid avatar code")
    r = client.get("/variations.png?of=1&strength=1.5")
    assert r.status_code == 422 and "query.strength" in r.json()["message"]


def test_post_codes_from_every_source_and_from_a_base_code(client: TestClient) -> None:
    by_player = client.post("/codes", json={"player_id": "p-1", "edits": {"explore_0": 1}}).json()
    assert (
        client.get(by_player["url"]).content
        == client.post("/avatars", json={"player_ids": ["p-1"], "edits": {"explore_0": 1}}).content
    )
    child = client.post("/variations", json={"of": "5", "n": 1, "strength": 0.4}).json()["variations"][0]["code"]
    edited = client.post("/codes", json={"base": child, "edits": {"hair_lightness": 1.5}}).json()
    assert edited["variations"] == client.get(f"/codes/{child}").json()["variations"]
    assert edited["edits"] == {"hair_lightness": 1.5}
    drawn = client.post("/avatars", json={"latents": [edited["drawn_latent"]]}).content
    assert drawn == client.get(edited["url"]).content  # the drawn latent is the avatar, edits included
    r = client.post("/codes", json={"base": child, "truncation": 0.5})
    assert r.status_code == 422 and "carries its own truncation" in r.json()["message"]


def test_hair_color_gives_each_player_a_stable_avatar_that_its_code_reproduces(client: TestClient) -> None:
    body = {"player_ids": ["ana", "bo", "cy"], "hair_color": "blonde"}
    headers = {"Accept": "application/json"}
    first, again = (client.post("/avatars", json=body, headers=headers).json() for _ in range(2))
    assert first == again
    for item in first["avatars"]:
        assert isinstance(item["hair_color_matched"], bool)
        assert client.get(f"/models/v1/avatars/{item['code']}.png").content == base64.b64decode(item["png_base64"])
    single = client.post("/avatars", json={**body, "player_ids": ["ana"]})
    assert single.headers["x-avatar-code"] == first["avatars"][0]["code"]
    assert single.headers["x-hair-color-matched"] in ("true", "false")
    assert single.headers["x-hair-color-same-face"] == str(first["avatars"][0]["hair_color_same_face"]).lower()


def test_hair_color_answers_say_whether_the_player_kept_their_face(client: TestClient) -> None:
    players = [f"player-{i}" for i in range(24)]
    body = {"player_ids": players, "hair_color": "blonde"}
    items = client.post("/avatars", json=body, headers={"Accept": "application/json"}).json()["avatars"]
    same = [item["hair_color_same_face"] for item in items]
    assert same == [item["seed"] == player_seed(pid) for item, pid in zip(items, players, strict=True)]
    assert False in same  # the tiny random release reaches these players on related faces, if at all
    for item in items:  # with alternates in the recipe, a miss keeps the last alternate's strongest push
        assert item["hair_color_matched"] or not item["hair_color_same_face"]
    latent = client.get("/latents/3").json()["latent"]
    by_latent = client.post("/avatars", json={"latents": [latent], "hair_color": "blonde"},
                            headers={"Accept": "application/json"}).json()["avatars"]  # fmt: skip
    assert by_latent[0]["hair_color_same_face"] is True  # a latent has no related faces to fall back on
    plain = client.post("/avatars", json={"player_ids": players[:1]}, headers={"Accept": "application/json"}).json()
    assert "hair_color_same_face" not in plain["avatars"][0]


def test_hair_color_rules(client: TestClient) -> None:
    r = client.post("/avatars", json={"seeds": [1], "hair_color": "green"})
    assert r.status_code == 422 and "offers the hair colours black, blonde, not 'green'" in r.json()["message"]
    r = client.post("/avatars", json={"seeds": [1], "hair_color": "blonde", "edits": {"hair_blonde": 1}})
    assert r.status_code == 422 and r.json()["message"].startswith("body.edits.hair_blonde")
    r = client.post("/avatars", json={"seeds": [1], "hair_color": "teal"})
    assert r.status_code == 422 and "body.hair_color" in r.json()["message"]


def test_a_release_without_directions_takes_no_edits(tmp_path: Path, tiny_weights: Path) -> None:
    publish(tmp_path, "v1", tiny_weights)
    with TestClient(create_app(Settings(weights_dir=tmp_path, device="cpu"))) as plain:
        assert plain.get("/directions").json()["directions"] == []
        r = plain.get("/avatars/1.png?edits=explore_0:1")
        assert r.status_code == 422 and "has no published directions" in r.json()["message"]
        assert plain.get("/avatars/1.png").status_code == 200


def test_the_cost_cap_counts_every_round_the_hair_colour_search_may_run(client: TestClient) -> None:
    """The tiny release's recipes try 3 strengths on the face and 2 alternates: up to 9 rounds, each
    drawing the request's avatars again at 64 px."""
    per_avatar = 256 * 256 + 9 * 64 * 64
    fits = client.app.state.settings.max_request_pixels // per_avatar  # type: ignore[attr-defined]
    body = {"seeds": list(range(fits + 1)), "size": 256, "hair_color": "blonde"}
    refused = client.post("/avatars", json=body)
    assert refused.status_code == 422
    assert "and up to 9 hair-colour search rounds at 64 px" in refused.json()["message"]
    assert "AVATARS_MAX_REQUEST_PIXELS" in refused.json()["message"]
    assert client.post("/avatars", json={**body, "seeds": list(range(fits))}).status_code == 200
    assert client.post("/avatars", json={"seeds": list(range(fits + 1)), "size": 256}).status_code == 200
