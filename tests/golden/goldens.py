"""Golden avatars of the shipped releases: what players see, pinned by hash.

`releases.json` in this folder holds, for each published release, a few seeds' expected pixel hashes
(SHA-256 of the uint8 H x W x 3 image the service's CPU path renders) and PNG hashes (the exact
bytes served). `tests/test_golden_images.py` compares them. A change that alters a published
avatar (a refactor of the generator, batch-norm folding, a torch upgrade) fails there instead of
silently changing players' faces.

Writing goldens is deliberate and rare:

    python -m tests.golden.goldens add v2          # a newly published release
    python -m tests.golden.goldens add-codes v1    # a release's directions were just published
    python -m tests.golden.goldens rewrite-png v1  # the encoder changed on purpose: pixels must not

`add-codes` pins a few avatar codes that use the release's directions (edits, a variation, a
hair colour from character creation), so published directions cannot drift either.

A release with an HD upscaler has more cases (a 512 px one) and, for each case and code it draws in
HD, the hash of the upscaler's output too (`hd_pixels_sha256`, at the upscaler's own size, before
the encoder resizes it), recorded with the dtype the upscaler ran in (`upscaler_dtype`).

`rewrite-png` refuses to run if any pixel hash differs, so only the bytes of an encoding change can
be re-recorded, in the same commit as that change.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
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

GOLDEN_FILE = Path(__file__).with_name("releases.json")
WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
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


def release_upscaler(name: str, dtype: str = "auto") -> Upscaler | None:
    """The release's upscaler on the CPU, as the service loads it (or None)."""
    manifest = read_manifest(WEIGHTS)
    release = manifest.get(name)
    if release is None or release.upscaler is None:
        return None
    cpu = torch.device("cpu")
    return Upscaler.load(manifest.folder / release.upscaler.file, cpu, pick_upscaler_dtype(dtype, cpu))


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
    for _, recipe in sorted(directions.hair.items())[:2]:

        def render(batch: list[AvatarSpec]) -> np.ndarray:
            return np.stack([code_pixels(model, directions, encode(spec))[1] for spec in batch])

        search = choose_hair([AvatarSpec(name, seed=player_seed("player-8d2f1c"))], recipe, render)
        codes.append(encode(search.chosen[0]))
    return codes


def release_directions(name: str) -> DirectionSet | None:
    manifest = read_manifest(WEIGHTS)
    release = manifest.get(name)
    if release is None or not release.directions:
        return None
    return load_directions(manifest.folder / release.directions, release.model_version)


def load_goldens() -> dict[str, Any]:
    return json.loads(GOLDEN_FILE.read_text()) if GOLDEN_FILE.exists() else {}


def _model(name: str) -> tuple[AvatarModel, Release]:
    manifest = read_manifest(WEIGHTS)
    release = manifest.get(name)
    if release is None:
        raise SystemExit(f"no release {name!r} in {manifest.path}")
    return AvatarModel.load(manifest.file_of(release), device="cpu"), release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden.goldens", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["add", "add-codes", "rewrite-png"])
    parser.add_argument("release")
    args = parser.parse_args(argv)
    goldens = load_goldens()
    model, release = _model(args.release)
    upscaler = release_upscaler(args.release)
    if args.action == "add-codes":
        directions = release_directions(args.release)
        if directions is None or args.release not in goldens or "codes" in goldens[args.release]:
            print(f"{args.release} needs published directions and goldens, and no code goldens yet", file=sys.stderr)
            return 1
        codes = []
        for code in golden_codes(args.release, model, directions):
            pixels, image = code_pixels(model, directions, code)
            codes.append({"code": code, "pixels_sha256": pixels})
            if upscaler is not None and upscales(release, HD_CODE_SIZE):
                codes[-1]["hd_pixels_sha256"] = digest(upscaler.render(torch.from_numpy(image[None]))[0])
        goldens[args.release]["codes"] = codes
        GOLDEN_FILE.write_text(json.dumps(goldens, indent=2) + "\n")
        return 0
    cases = cases_for(release)
    rendered = [render_case(model, case, upscaler if upscales(release, case["size"]) else None) for case in cases]
    if args.action == "add":
        if args.release in goldens:
            print(f"{args.release} already has goldens; they never change", file=sys.stderr)
            return 1
        goldens[args.release] = {
            "model_version": release.model_version,
            "device": model.device_kind,
            **({"upscaler_dtype": str(upscaler.dtype).removeprefix("torch.")} if upscaler else {}),
            "png_compress_level": PNG_LEVEL,
            "cases": [
                {**case, "pixels_sha256": px, "png_sha256": png, **({"hd_pixels_sha256": hd} if hd else {})}
                for case, (px, png, hd) in zip(cases, rendered, strict=True)
            ],
        }
    else:
        entry = goldens[args.release]
        for case, (px, png, hd) in zip(entry["cases"], rendered, strict=True):
            if case["pixels_sha256"] != px or case.get("hd_pixels_sha256") != hd:
                print(f"pixels of seed {case['seed']} changed: refusing to re-record", file=sys.stderr)
                return 1
            case["png_sha256"] = png
        entry["png_compress_level"] = PNG_LEVEL
    GOLDEN_FILE.write_text(json.dumps(goldens, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
