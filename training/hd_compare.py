"""`python -m training hd-compare`: Lanczos against each upscaler on the same avatars, measured and shown.

Scores a release's (or a checkpoint's) avatars at each HD size with training/metrics/hd.py, times
each upscaler alone, and writes the table (hd-compare.md / .json) and side-by-side pictures (seeds in
rows of triples: Lanczos | upscaler | upscaler ...) into --out, for docs/hd.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from gan.devices import pick_device
from gan.imaging import tile_grid
from gan.releases import read_manifest
from gan.upscaler import Upscaler, pick_upscaler_dtype
from training.config import ConfigError
from training.resources import MetricResources, metric_flags
from training.sampling import generate_seeds

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hd-compare",
        help="Lanczos against upscalers on the same avatars: consistency, sharpness, face rate, speed, pictures",
        description="Example: python -m training hd-compare --release v2 "
        "--upscaler compact=runs/hd/compact.safetensors --cascade ../shared/models/lbpcascade_animeface.xml "
        "--out runs/hd/compare",
        parents=[metric_flags("cascade")],
    )
    p.add_argument("--release", help="a release of --weights-dir whose generator draws the avatars (default: default)")
    p.add_argument("--weights-dir", type=Path, default=Path("weights"))
    p.add_argument("--upscaler", action="append", default=[], metavar="NAME=FILE", help="an upscaler to compare")
    p.add_argument("--seeds", type=int, default=1000, help="avatars scored (seeds 0..N-1)")
    p.add_argument("--sizes", default="128,256,512")
    p.add_argument("--dtype", default="auto", help="upscaler dtype: auto (as the service), float32, bfloat16")
    p.add_argument("--picture-seeds", type=int, default=32, help="seeds in the side-by-side picture at 256 px")
    p.add_argument("--out", type=Path, required=True)


def _upscalers(specs: list[str], dtype: str) -> dict[str, Upscaler]:
    device = pick_device("cpu")
    out = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep or not name or not file:
            raise ConfigError(f"--upscaler {spec!r}: expected NAME=FILE")
        out[name] = Upscaler.load(file, device, pick_upscaler_dtype(dtype, device))
    return out


def _speed(upscaler: Upscaler, avatars: np.ndarray, batch: int = 16, seconds: float = 3.0) -> float:
    rows = torch.from_numpy(avatars[:batch])
    upscaler.render(rows)  # kernel selection, not measured
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        upscaler.render(rows)
        n += len(rows)
    return n / (time.perf_counter() - started)


def side_by_side(methods: dict[str, np.ndarray], size: int, per_row: int) -> Image.Image:
    """Each seed as a group of its methods' images, `per_row` groups a row, a wider gap between groups."""
    from training.metrics.hd import at_size

    groups = np.stack([at_size(images, size) for images in methods.values()], axis=1)  # N x M x s x s x 3
    n, m = groups.shape[:2]
    strips = [tile_grid(group, columns=m, padding=0) for group in groups]
    return Image.fromarray(tile_grid(np.stack(strips), columns=min(per_row, n), padding=8, fill=255))


def run(args: argparse.Namespace) -> None:
    from gan.checkpoint import load_generator
    from gan.imaging import to_hwc
    from training.metrics.face_detection import FaceDetector, resolve_cascade
    from training.metrics.hd import LANCZOS, compare, markdown, upscaling

    manifest = read_manifest(args.weights_dir)
    release = manifest.get(args.release) if args.release else manifest.default
    if release is None:
        raise ConfigError(f"no release {args.release!r} in {manifest.path}")
    sizes = [int(s) for s in args.sizes.split(",")]
    detector = FaceDetector(resolve_cascade(MetricResources.from_args(args).cascade))
    upscalers = _upscalers(args.upscaler, args.dtype)
    generator, info = load_generator(manifest.file_of(release))
    avatars = to_hwc(generate_seeds(generator, range(args.seeds), info.config.latent_dim))  # seeds 0.., as served
    logger.info("scoring %d avatars of %s with %s", len(avatars), release.name, ", ".join(upscalers) or "Lanczos")
    rows = compare(avatars, {name: upscaling(up) for name, up in upscalers.items()}, sizes, detector.detect)
    speed = {name: _speed(up, avatars) for name, up in upscalers.items()}
    report: dict[str, Any] = {
        "release": release.name,
        "seeds": args.seeds,
        "rows": rows,
        "upscalers": {
            name: {
                **up.info.as_dict(),
                "dtype": str(up.dtype),
                "avatars_per_s_alone": speed[name],
                "gflop_per_avatar": up.flop_per_image / 1e9,
                "cost_pixels": up.cost_pixels,
            }
            for name, up in upscalers.items()
        },
        "torch_threads": torch.get_num_threads(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hd-compare.json").write_text(json.dumps(report, indent=2) + "\n")
    speeds = "".join(f"- {n}: {s:.1f} avatars/s alone ({torch.get_num_threads()} threads)\n" for n, s in speed.items())
    (args.out / "hd-compare.md").write_text(markdown(rows) + "\n" + speeds)
    print(markdown(rows) + "\n" + speeds)  # noqa: T201 (the command's output)

    shown = avatars[: args.picture_seeds]
    methods = {LANCZOS: shown, **{name: upscaling(up)(shown) for name, up in upscalers.items()}}
    side_by_side(methods, 256, 4).convert("RGB").save(args.out / "side-by-side-256.jpg", quality=88)
    few = {name: images[:3] for name, images in methods.items()}
    side_by_side(few, 512, 1).convert("RGB").save(args.out / "side-by-side-512.jpg", quality=88)
