"""Published avatars never change: every shipped release's golden seeds render to the recorded
pixels and PNG bytes on the CPU (see tests/golden/goldens.py for what is recorded and how).

A failure here means players' faces would change. If the pixels differ, the change (a refactor of
the generator, batch-norm folding, a torch upgrade) must not ship as it is. If only the PNG bytes
differ, an encoder setting changed: do that on purpose, with `python -m tests.golden.goldens
rewrite-png NAME`, in the same commit.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.config import DEFAULT_WEIGHTS_DIR, Settings
from app.inference import AvatarModel
from gan.latents import seeds_latents
from gan.releases import read_manifest
from tests.golden.goldens import CASES, PNG_LEVEL, code_pixels, load_goldens, release_directions, render_case

MANIFEST = read_manifest(DEFAULT_WEIGHTS_DIR)
GOLDENS = load_goldens()


def test_every_published_release_has_goldens() -> None:
    assert {r.name for r in MANIFEST.releases} == set(GOLDENS), "record goldens when you publish a release"


def test_goldens_use_the_service_encoder_setting() -> None:
    assert Settings.model_fields["png_compress_level"].default == PNG_LEVEL
    for name, entry in GOLDENS.items():
        assert entry["png_compress_level"] == PNG_LEVEL, name
        assert [{k: c[k] for k in ("seed", "truncation", "size")} for c in entry["cases"]] == CASES, name


@pytest.mark.parametrize("release", [r for r in MANIFEST.served], ids=lambda r: r.name)
def test_published_avatars_are_unchanged(release) -> None:
    entry = GOLDENS[release.name]
    assert entry["model_version"] == release.model_version
    model = AvatarModel.load(MANIFEST.file_of(release), device="cpu")
    assert model.device_kind == entry["device"]
    for case in entry["cases"]:
        pixels, png = render_case(model, case)
        assert pixels == case["pixels_sha256"], f"{release.name} seed {case['seed']}: the pixels changed"
        assert png == case["png_sha256"], f"{release.name} seed {case['seed']}: same pixels, other PNG bytes"


@pytest.mark.parametrize("release", [r for r in MANIFEST.served if r.directions], ids=lambda r: r.name)
def test_published_codes_are_unchanged(release) -> None:
    """Edited, varied and hair-coloured avatars depend on the published directions too."""
    codes = GOLDENS[release.name].get("codes")
    assert codes, f"record code goldens for {release.name}: python -m tests.golden.goldens add-codes"
    model = AvatarModel.load(MANIFEST.file_of(release), device="cpu")
    directions = release_directions(release.name)
    assert directions is not None
    for case in codes:
        assert code_pixels(model, directions, case["code"])[0] == case["pixels_sha256"], case["code"]


@pytest.mark.parametrize("release", [r for r in MANIFEST.served], ids=lambda r: r.name)
def test_an_avatar_does_not_depend_on_the_batch_it_shares(release) -> None:
    """The batching queue puts a request's rows anywhere in a batch of any size up to the maximum:
    every size and position must draw exactly what the row alone draws (the goldens' renders)."""
    model = AvatarModel.load(MANIFEST.file_of(release), device="cpu")
    largest = Settings.model_fields["max_batch_size"].default
    latents = seeds_latents(range(500, 500 + largest + 7), model.latent_dim)
    alone = np.stack([model.render(latents[i : i + 1])[0] for i in range(len(latents))])
    for size in range(2, largest + 1):
        offset = size % 7  # the rows land at different positions in different sizes
        batch = model.render(latents[offset : offset + size])
        differ = [i for i in range(size) if not np.array_equal(batch[i], alone[offset + i])]
        assert not differ, f"{release.name}: rows {differ} of a batch of {size} differ from the row alone"
