"""The releases in weights/ are what `make serve` starts on: a broken export must not land, and a
published name must never point at other weights.

Every other test builds its own tiny checkpoints; these alone read the shipped files.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.config import DEFAULT_WEIGHTS_DIR
from app.inference import AvatarModel
from gan.checkpoint import read_checkpoint
from gan.latents import seeds_latents
from gan.releases import read_manifest, verify_files
from tests.golden.goldens import load_goldens
from training.goldens import published_files

# Every release ever published, with the files it was published with: recorded once, beside its
# golden avatars, by `python -m training release publish` (never edited). A name that points at other
# weights changes every player's avatar; directions and an HD upscaler (and the sizes it draws) are
# as fixed as the weights (docs/creator.md, docs/hd.md).
PUBLISHED = {name: entry["published"] for name, entry in load_goldens().items()}
MANIFEST = read_manifest(DEFAULT_WEIGHTS_DIR)
DEFAULT_WEIGHTS = MANIFEST.file_of(MANIFEST.default)

MAX_BYTES = 8 * 1024 * 1024  # the repository must stay small enough to travel with a training job


def test_published_names_never_point_at_other_weights() -> None:
    listed = {r.name: published_files(r) for r in MANIFEST.releases}
    assert listed.keys() >= PUBLISHED.keys(), "a published release disappeared from weights/releases.json"
    for name, published in PUBLISHED.items():
        assert listed[name] == published, f"release {name} now points at other weights"
    assert listed.keys() == PUBLISHED.keys(), "a release was listed by hand: use `python -m training release publish`"


def test_every_served_release_is_intact_and_small() -> None:
    verify_files(MANIFEST)  # files exactly as published
    for release in MANIFEST.served:
        path = MANIFEST.file_of(release)
        assert path.stat().st_size < MAX_BYTES
        if release.upscaler:
            assert (MANIFEST.folder / release.upscaler.file).stat().st_size < MAX_BYTES
        info, _ = read_checkpoint(path)
        assert info.model_version == release.model_version


@pytest.fixture(scope="module")
def model() -> AvatarModel:
    return AvatarModel.load(DEFAULT_WEIGHTS, device="cpu")


def test_the_default_checkpoint_is_small_and_carries_an_honest_card() -> None:
    assert DEFAULT_WEIGHTS.stat().st_size < MAX_BYTES
    info, _ = read_checkpoint(DEFAULT_WEIGHTS)
    card = info.card
    assert info.config.resolution == 64
    assert card["recipe"]["preset"] in ("sngan-64", "dcgan-64", "dcgan-32")
    training = card["training"]
    assert training["steps"] > 1000 and training["images_seen"] == training["steps"] * card["recipe"]["batch_size"]
    assert training["wall_time_s"] > 0
    assert "face_rate" in card["metrics"] and "real_face_rate" in card["metrics"]
    assert 0.0 <= card["metrics"]["face_rate"] <= 1.0
    assert card["data"]["images"] > 1000


def test_the_default_checkpoint_draws_varied_images(model: AvatarModel) -> None:
    images = model.render(seeds_latents(range(16), model.latent_dim))
    assert images.shape == (16, 64, 64, 3) and images.dtype == np.uint8
    # a trained generator uses the whole range and gives different seeds different faces
    assert images.min() < 30 and images.max() > 225
    per_image = images.reshape(16, -1).astype(np.float32)
    distances = np.abs(per_image[:, None] - per_image[None]).mean(axis=2)
    assert distances[~np.eye(16, dtype=bool)].min() > 5.0


def test_the_default_checkpoint_is_deterministic(model: AvatarModel) -> None:
    latents = seeds_latents([7, 8], model.latent_dim)
    assert np.array_equal(model.render(latents), model.render(latents))


def test_the_served_path_draws_what_the_plain_generator_draws() -> None:
    """Batch-norm folding on the trained weights (real running statistics): within 1 level."""
    from tests.app.test_inference import assert_served_path_draws_the_plain_images

    assert_served_path_draws_the_plain_images(DEFAULT_WEIGHTS, count=64)


def test_the_shipped_service_draws_512_px_only_for_releases_with_an_upscaler() -> None:
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    with TestClient(create_app(Settings(_env_file=None, warmup=False, device="cpu"))) as client:
        for name in ("v1", "v2"):
            answer = client.get(f"/models/{name}/avatars/7.png?size=512")
            assert answer.status_code == 422
            assert f"release '{name}' serves 64, 128, 256 px, not 512 (512 px is drawn by v3)" in answer.text
        hd = client.get("/models/v3/avatars/7.png?size=512")
        assert hd.status_code == 200 and hd.headers["x-model"] == "v3"
        assert client.get("/avatars/7.png").headers["x-model"] == "v3"  # the default


def test_every_published_request_example_is_accepted_by_the_shipped_service() -> None:
    """/docs shows these bodies as examples: each must work as shown against the releases we ship."""
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    with TestClient(create_app(Settings(_env_file=None, warmup=False, device="cpu"))) as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        for name, path in (("AvatarRequest", "/avatars"), ("InterpolationRequest", "/interpolate")):
            examples = schemas[name].get("examples", [])
            assert examples, name
            for example in examples:
                answer = client.post(path, json=example, headers={"Accept": "application/json"})
                assert answer.status_code == 200, (name, example, answer.text[:300])
