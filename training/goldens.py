"""Golden avatars: what a published release draws, pinned by hash when it is published.

An entry holds a few seeds' pixel hashes (SHA-256 of the uint8 H x W x 3 image the service's CPU
path renders) and PNG hashes (the exact bytes served), a few avatar codes that use the release's
directions (edits, a variation, a hair colour from character creation), and the hashes of the
files the release was published with. `tests/test_golden_images.py` and
`tests/test_shipped_weights.py` compare them, so a change that alters a published avatar (a refactor
of the generator, batch-norm folding, a torch upgrade) or a published file fails there instead of
silently changing players' faces.

A release with an HD upscaler has more cases (a 512 px one) and, for each case and code it draws in
HD, the hash of the upscaler's output too (`hd_pixels_sha256`, at the upscaler's own size, before
the encoder resizes it), recorded with the dtype the upscaler ran in (`upscaler_dtype`).

Everything renders through the service's own inference, upscaler and encoder (`app/`), which is
the point: goldens pin what players receive.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.encoding import encode_png
from app.inference import AvatarModel
from gan.codes import AvatarSpec, decode, encode
from gan.creation import choose_hair
from gan.directions import DirectionSet, load_directions
from gan.latents import derived_seed, player_seed, seeds_latents, spec_latent, truncate
from gan.releases import Release, read_manifest
from gan.upscaler import Upscaler, pick_upscaler_dtype

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
PNG_LEVEL = 1  # the service's default AVATARS_PNG_COMPRESS_LEVEL
# seeds at both ends of the range, a player id's seed, and the options a game uses
CASES: list[dict[str, Any]] = [
    {"seed": 0, "truncation": 1.0, "size": 64},
    {"seed": 42, "truncation": 1.0, "size": 64},
    {"seed": 2**63 - 1, "truncation": 1.0, "size": 64},
    {"seed": player_seed("player-8d2f1c"), "truncation": 0.7, "size": 128},
    {"seed": 7, "truncation": 0.5, "size": 256},
]
HD_CASES: list[dict[str, Any]] = [  # releases with an upscaler: the new size and a full-strength face
    {"seed": 12, "truncation": 1.0, "size": 512},
    {"seed": 3, "truncation": 1.0, "size": 256},
]
HD_CODE_SIZE = 256


def cases_for(release: Release) -> list[dict[str, Any]]:
    return CASES + (HD_CASES if release.upscaler else [])


def digest(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def upscales(release: Release, size: int) -> bool:
    return release.upscaler is not None and size in release.upscaler.sizes


def render_case(
    model: AvatarModel, case: dict[str, Any], upscaler: Upscaler | None = None
) -> tuple[str, str, str | None]:
    """(pixel hash, PNG hash, HD pixel hash or None) of one case, through the service's own inference,
    upscaler (where given: the release draws this size in HD) and encoder."""
    latents = truncate(seeds_latents([case["seed"]], model.latent_dim), case["truncation"])
    image = model.render(latents)[0]
    hd = upscaler.render(torch.from_numpy(image[None]))[0] if upscaler is not None else None
    png = encode_png(image if hd is None else hd, case["size"], PNG_LEVEL)
    # pixels at the model's resolution: what the generator decided, before any resampling
    return digest(image), hashlib.sha256(png).hexdigest(), None if hd is None else digest(hd)


def code_pixels(model: AvatarModel, directions: DirectionSet, code: str) -> tuple[str, np.ndarray]:
    """Pixel hash of a code's avatar, through the service's inference."""
    image = model.render(spec_latent(decode(code), directions.vectors, model.latent_dim)[None])[0]
    return digest(image), image


def release_upscaler(name: str, dtype: str = "auto", folder: Path = WEIGHTS) -> Upscaler | None:
    """The release's upscaler on the CPU, as the service loads it (or None)."""
    manifest = read_manifest(folder)
    release = manifest.get(name)
    if release is None or release.upscaler is None:
        return None
    cpu = torch.device("cpu")
    return Upscaler.load(manifest.folder / release.upscaler.file, cpu, pick_upscaler_dtype(dtype, cpu))


def release_directions(name: str, folder: Path = WEIGHTS) -> DirectionSet | None:
    manifest = read_manifest(folder)
    release = manifest.get(name)
    if release is None or not release.directions:
        return None
    return load_directions(manifest.folder / release.directions, release.model_version)


def golden_codes(name: str, model: AvatarModel, directions: DirectionSet) -> list[str]:
    """Codes that exercise each kind of published direction, a variation and character creation."""
    by_kind: dict[str, Any] = {}
    for direction in directions.directions.values():
        by_kind.setdefault(direction.kind, direction)
    codes = [
        encode(AvatarSpec(name, seed=42, edits=((d.name, d.high / 2 if d.high else d.low / 2),)))
        for d in by_kind.values()
    ]
    codes.append(encode(AvatarSpec(name, seed=42, truncation=0.8).child(derived_seed(0, 0), 0.3)))

    def render(batch: list[AvatarSpec]) -> np.ndarray:
        return np.stack([code_pixels(model, directions, encode(spec))[1] for spec in batch])

    for _, recipe in sorted(directions.hair.items())[:2]:
        search = choose_hair([AvatarSpec(name, seed=player_seed("player-8d2f1c"))], recipe, render)
        codes.append(encode(search.chosen[0]))
    return codes


def published_files(release: Release) -> dict[str, Any]:
    """The hashes a release was published with: what its name must point at forever."""
    return (
        {"sha256": release.sha256, "model_version": release.model_version}
        | ({"directions_sha256": release.directions_sha256} if release.directions else {})
        | ({"upscaler": release.upscaler.to_dict()} if release.upscaler else {})
    )


def record(name: str, folder: Path = WEIGHTS) -> dict[str, Any]:
    """A release's whole golden entry, drawn from the files in `folder` on this CPU."""
    manifest = read_manifest(folder)
    release = manifest.get(name)
    if release is None:
        raise KeyError(f"no release {name!r} in {manifest.path}")
    model = AvatarModel.load(manifest.file_of(release), device="cpu")
    upscaler = release_upscaler(name, folder=folder)
    cases = cases_for(release)
    rendered = [render_case(model, case, upscaler if upscales(release, case["size"]) else None) for case in cases]
    entry: dict[str, Any] = {
        "published": published_files(release),
        "model_version": release.model_version,
        "device": model.device_kind,
        **({"upscaler_dtype": str(upscaler.dtype).removeprefix("torch.")} if upscaler else {}),
        "png_compress_level": PNG_LEVEL,
        "cases": [
            {**case, "pixels_sha256": px, "png_sha256": png, **({"hd_pixels_sha256": hd} if hd else {})}
            for case, (px, png, hd) in zip(cases, rendered, strict=True)
        ],
    }
    directions = release_directions(name, folder)
    if directions is not None:
        entry["codes"] = []
        for code in golden_codes(name, model, directions):
            pixels, image = code_pixels(model, directions, code)
            entry["codes"].append({"code": code, "pixels_sha256": pixels})
            if upscaler is not None and upscales(release, HD_CODE_SIZE):
                entry["codes"][-1]["hd_pixels_sha256"] = digest(upscaler.render(torch.from_numpy(image[None]))[0])
    return entry
