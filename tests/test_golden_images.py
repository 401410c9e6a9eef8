"""Published avatars never change: every shipped release's golden seeds render to the recorded
pixels and PNG bytes on the CPU (see training/goldens.py for what is recorded and how).

A failure here means players' faces would change. If the pixels differ, the change (a refactor of
the generator, batch-norm folding, a torch upgrade) must not ship as it is. If only the PNG bytes
differ, an encoder setting changed: do that on purpose, with `python -m tests.golden.goldens
rewrite-png NAME`, in the same commit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.config import DEFAULT_WEIGHTS_DIR, Settings
from app.inference import AvatarModel
from gan.latents import seeds_latents
from gan.releases import Release, read_manifest
from gan.upscaler import Upscaler, cpu_has_bf16
from tests.golden.goldens import (
    HD_CODE_SIZE,
    PNG_LEVEL,
    cases_for,
    code_pixels,
    digest,
    load_goldens,
    release_directions,
    release_upscaler,
    render_case,
    upscales,
)

MANIFEST = read_manifest(DEFAULT_WEIGHTS_DIR)
GOLDENS = load_goldens()
HD = [r for r in MANIFEST.served if r.upscaler]


def on_recorded_path(model: AvatarModel, entry: dict) -> None:
    """Skip where this CPU runs another path than the goldens' (device kinds say so, and their ETags
    differ): no older x86 or ARM node can draw the recorded bytes. tests/test_cpu_paths.py checks
    that each path this CPU can emulate keeps to its own kind."""
    if model.device_kind != entry["device"]:
        pytest.skip(f"goldens recorded on {entry['device']}; this CPU draws {model.device_kind}")


def recorded_upscaler(release: Release) -> Upscaler | None:
    """The release's upscaler in the dtype its goldens were recorded with, where this CPU runs that
    dtype as the goldens' CPU did (bfloat16: on AMX; AVX512-BF16 or emulated is other arithmetic)."""
    if release.upscaler is None:
        return None
    dtype = GOLDENS[release.name]["upscaler_dtype"]
    if dtype == "bfloat16" and not cpu_has_bf16():
        pytest.skip(f"{release.name}'s HD goldens were recorded in bfloat16; this CPU has no bfloat16 kernels")
    upscaler = release_upscaler(release.name, dtype)
    assert upscaler is not None
    if upscaler.device_kind != f"upscaler-{dtype}":
        pytest.skip(f"{release.name}'s HD goldens were recorded as upscaler-{dtype}; here {upscaler.device_kind}")
    return upscaler


def test_every_published_release_has_goldens() -> None:
    assert {r.name for r in MANIFEST.releases} == set(GOLDENS), "record goldens when you publish a release"


def test_goldens_use_the_service_encoder_setting() -> None:
    assert Settings.model_fields["png_compress_level"].default == PNG_LEVEL
    for name, entry in GOLDENS.items():
        assert entry["png_compress_level"] == PNG_LEVEL, name
        release = MANIFEST.get(name)
        assert release is not None
        assert [{k: c[k] for k in ("seed", "truncation", "size")} for c in entry["cases"]] == cases_for(release), name


@pytest.mark.parametrize("release", [r for r in MANIFEST.served], ids=lambda r: r.name)
def test_published_avatars_are_unchanged(release) -> None:
    entry = GOLDENS[release.name]
    assert entry["model_version"] == release.model_version
    model = AvatarModel.load(MANIFEST.file_of(release), device="cpu")
    on_recorded_path(model, entry)
    upscaler = recorded_upscaler(release)
    for case in entry["cases"]:
        hd = upscaler if upscales(release, case["size"]) else None
        pixels, png, hd_pixels = render_case(model, case, hd)
        assert pixels == case["pixels_sha256"], f"{release.name} seed {case['seed']}: the pixels changed"
        assert hd_pixels == case.get("hd_pixels_sha256"), f"{release.name} seed {case['seed']}: the HD pixels changed"
        assert png == case["png_sha256"], f"{release.name} seed {case['seed']}: same pixels, other PNG bytes"


@pytest.mark.parametrize("release", HD, ids=lambda r: r.name)
def test_an_hd_release_draws_its_generators_avatars_at_64_px(release) -> None:
    """An upscaler adds sizes; at 64 px the release draws exactly what its generator's other
    releases draw (v3 at 64 px is v2)."""
    twins = [r for r in MANIFEST.served if r.model_version == release.model_version and r.upscaler is None]
    for twin in twins:
        mine = {c["seed"]: c["pixels_sha256"] for c in GOLDENS[release.name]["cases"]}
        for case in GOLDENS[twin.name]["cases"]:
            assert mine[case["seed"]] == case["pixels_sha256"], f"{release.name} and {twin.name}, seed {case['seed']}"
            if case["size"] == 64:  # the same bytes too
                same = next(c for c in GOLDENS[release.name]["cases"] if c["seed"] == case["seed"])
                assert same["png_sha256"] == case["png_sha256"], f"{release.name} and {twin.name}, seed {case['seed']}"


@pytest.mark.parametrize("release", [r for r in MANIFEST.served if r.directions], ids=lambda r: r.name)
def test_published_codes_are_unchanged(release) -> None:
    """Edited, varied and hair-coloured avatars depend on the published directions too."""
    codes = GOLDENS[release.name].get("codes")
    assert codes, f"{release.name} has directions but no code goldens: publish with `training release publish`"
    model = AvatarModel.load(MANIFEST.file_of(release), device="cpu")
    on_recorded_path(model, GOLDENS[release.name])
    directions = release_directions(release.name)
    assert directions is not None
    upscaler = recorded_upscaler(release)
    for case in codes:
        pixels, image = code_pixels(model, directions, case["code"])
        assert pixels == case["pixels_sha256"], case["code"]
        if upscaler is not None and upscales(release, HD_CODE_SIZE):
            hd = upscaler.render(torch.from_numpy(image[None]))[0]
            assert digest(hd) == case["hd_pixels_sha256"], f"{case['code']}: the HD pixels changed"


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


@pytest.mark.parametrize("release", HD, ids=lambda r: r.name)
def test_an_hd_avatar_does_not_depend_on_the_upscaler_batch_it_shares(release) -> None:
    """The HD lane batches rows of many requests too: every batch size up to the service's default
    and every position must give the row's own pixels."""
    upscaler = recorded_upscaler(release)
    assert upscaler is not None
    model = AvatarModel.load(MANIFEST.file_of(release), device="cpu")
    largest = Settings.model_fields["upscale_batch_size"].default
    avatars = torch.from_numpy(model.render(seeds_latents(range(900, 900 + largest + 5), model.latent_dim)))
    alone = np.stack([upscaler.render(avatars[i : i + 1])[0] for i in range(len(avatars))])
    for size in range(2, largest + 1):
        offset = size % 5
        batch = upscaler.render(avatars[offset : offset + size])
        differ = [i for i in range(size) if not np.array_equal(batch[i], alone[offset + i])]
        assert not differ, f"{release.name}: HD rows {differ} of a batch of {size} differ from the row alone"
