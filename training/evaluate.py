"""Evaluate a published generator: face-detection rate, the offline distribution metric (FD, KID,
precision/recall and copy shares in the data set's own encoder), FID/KID where possible, and
comparison pictures."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan.checkpoint import load_generator
from gan.imaging import tile_grid, to_hwc
from gan.latents import interpolate, seeds_latents
from training.data import load_images
from training.metrics.distribution import build_reference
from training.metrics.encoder import EncoderRecipe
from training.metrics.face_detection import FaceDetector, MetricUnavailable, resolve_cascade
from training.metrics.fid import fid_kid, resolve_inception_weights
from training.sampling import EVAL_SEEDS_START, GRID_SEEDS_START, generate, generate_seeds
from training.visualize import comparison_sheet, interpolation_strips, save_png

logger = logging.getLogger(__name__)


def evaluate(
    weights: Path,
    *,
    data: Path | None = None,
    out_dir: Path | None = None,
    samples: int = 1000,
    truncation: float = 1.0,
    cascade: str | None = None,
    inception_weights: str | None = None,
    allow_download: bool = False,
    fid: bool = False,
    distribution: bool = True,
    encoder_cache: str | None = None,
    encoder_recipe: EncoderRecipe | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Metrics as a dict; pictures and metrics.json into out_dir when given.

    The face metric runs when a cascade is given (argument or $AVATARS_CASCADE). The distribution
    metric runs whenever `data` is given and `distribution` is set; the first time for a data set
    it trains that set's encoder (minutes on a CPU), later it reads it from `encoder_cache`.
    FID/KID run when `fid` is set and fail with a clear message where the Inception weights are
    unavailable. `truncation` scores the generator as the service draws it at that psi: the
    numbers that decide whether a tamer default is worth the variety it costs.
    """
    generator, info = load_generator(weights, device=device)
    dim = info.config.latent_dim
    seeds = range(EVAL_SEEDS_START, EVAL_SEEDS_START + samples)
    generated = generate_seeds(generator, seeds, dim, psi=truncation)
    results: dict[str, Any] = {"model_version": info.model_version, "weights": str(weights), "samples": samples}
    if truncation != 1.0:
        results["truncation"] = truncation

    real = None
    if data is not None:
        image_set = load_images(data, info.config.resolution)
        pick = torch.randperm(len(image_set), generator=torch.Generator().manual_seed(0))[:samples]
        real = image_set.images[pick]
        results["real_samples"] = len(real)
        if distribution:
            recipe = encoder_recipe or EncoderRecipe(resolution=info.config.resolution)
            reference = build_reference(image_set.images, recipe, encoder_cache)
            results |= reference.score(generated)

    try:
        detector = FaceDetector(resolve_cascade(cascade))
    except MetricUnavailable as exc:
        if cascade:
            raise
        logger.warning("face rate skipped: %s", exc)
    else:
        results["face_rate"] = detector.rate(to_hwc(generated))
        if real is not None:
            results["real_face_rate"] = detector.rate(to_hwc(real))
            results["face_rate_ratio"] = results["face_rate"] / max(results["real_face_rate"], 1e-9)

    if fid:
        if real is None:
            raise MetricUnavailable("FID/KID need the training images: pass --data")
        results |= fid_kid(generated, real, resolve_inception_weights(inception_weights, allow_download))

    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_pictures(generator, dim, generated, real, out_dir, truncation)
        (out_dir / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def save_pictures(
    generator: torch.nn.Module,
    dim: int,
    generated: torch.Tensor,
    real: torch.Tensor | None,
    out_dir: Path,
    truncation: float = 1.0,
) -> None:
    grid_seeds = range(GRID_SEEDS_START, GRID_SEEDS_START + 64)
    save_png(
        tile_grid(to_hwc(generate_seeds(generator, grid_seeds, dim, psi=truncation))),
        out_dir / "samples.png",
    )
    if real is not None:
        comparison_sheet(to_hwc(real[:48]), to_hwc(generated[:48]), out_dir / "real-vs-generated.png")
    rows = []
    ends = seeds_latents(range(100, 112), dim)
    for r in range(6):
        rows.append(to_hwc(generate(generator, interpolate(ends[2 * r], ends[2 * r + 1], 10, "slerp"))))
    interpolation_strips(np.stack(rows), out_dir / "interpolation.png")
