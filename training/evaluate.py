"""Evaluate a published generator: face-detection rate, the offline distribution metric (FD, KID,
precision/recall and copy shares in the data set's own encoder), FID/KID where possible, and
comparison pictures."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan.checkpoint import load_generator
from gan.imaging import tile_grid, to_hwc
from gan.latents import interpolate, seeds_latents
from training.data import load_images
from training.metrics.distribution import DistributionReference, build_reference
from training.metrics.encoder import EncoderRecipe
from training.metrics.face_detection import FaceDetector, MetricUnavailable, resolve_cascade
from training.metrics.fid import fid_kid, resolve_inception_weights
from training.metrics.sr_lens import SrLensRecipe, SrReference, build_sr_reference
from training.resources import MetricResources
from training.sampling import GRID_SEEDS_START, generate, generate_eval_samples, generate_seeds, real_eval_samples
from training.visualize import comparison_sheet, interpolation_strips, save_png

logger = logging.getLogger(__name__)


@dataclass
class RealSide:
    """What every generator is compared with: the real picks, the reference, the detector.

    Built once per data set, so scoring several generators (`release check`) decodes the images
    and extracts the reference features once.
    """

    real: torch.Tensor | None = None  # `samples` real images (face rate, FID)
    reference: DistributionReference | None = None
    second: SrReference | None = None  # the second lens (training/metrics/sr_lens.py)
    detector: FaceDetector | None = None
    real_face_rate: float | None = None


def prepare_real(
    data: Path | None,
    resolution: int,
    *,
    samples: int,
    cascade: str | None = None,
    distribution: bool = True,
    encoder_cache: str | None = None,
    encoder_recipe: EncoderRecipe | None = None,
    second_lens: bool = False,
    sr_lens: str | None = None,
    cascade_required: bool = True,
) -> RealSide:
    """`second_lens` adds the second lens (weights `sr_lens`, default release v3's upscaler) beside the
    first; its training-face features are computed once per data set (minutes) and cached. Without a
    usable cascade the face rate is skipped, unless `cascade` names one that is required (a flag)."""
    side = RealSide()
    if data is not None:
        image_set = load_images(data, resolution)
        side.real = real_eval_samples(image_set.images, samples)
        if distribution:
            recipe = encoder_recipe or EncoderRecipe(resolution=resolution)
            side.reference = build_reference(image_set.images, recipe, encoder_cache)
            if second_lens:
                lens_recipe = SrLensRecipe(holdout=recipe.holdout, seed=recipe.seed)
                side.second = build_sr_reference(image_set.images, sr_lens, lens_recipe, encoder_cache)
    try:
        side.detector = FaceDetector(resolve_cascade(cascade))
    except MetricUnavailable as exc:
        if cascade and cascade_required:
            raise
        logger.warning("face rate skipped: %s", exc)
    else:
        if side.real is not None:
            side.real_face_rate = side.detector.rate(to_hwc(side.real))
    return side


def score(generated: torch.Tensor, side: RealSide) -> dict[str, Any]:
    """The distribution metric and face rate of uint8 images against one prepared real side."""
    results: dict[str, Any] = {}
    if side.real is not None:
        results["real_samples"] = len(side.real)
    if side.reference is not None:
        results |= side.reference.score(generated)
    if side.second is not None:
        results |= side.second.score(generated)
    if side.detector is not None:
        results["face_rate"] = side.detector.rate(to_hwc(generated))
        if side.real_face_rate is not None:
            results["real_face_rate"] = side.real_face_rate
            results["face_rate_ratio"] = results["face_rate"] / max(side.real_face_rate, 1e-9)
    return results


@dataclass(frozen=True)
class EvaluateOptions:
    """What `evaluate` measures and against what.

    The face metric runs when `resources` names a cascade. The distribution metric runs whenever
    `data` is given and `distribution` is set; the first time for a data set it trains that set's
    encoder (minutes on a CPU), later it reads it from the resources' encoder cache. FID/KID run when
    `fid` is set and fail with a clear message where the Inception weights are unavailable.
    `truncation` scores the generator as the service draws it at that psi: the numbers that decide
    whether a tamer default is worth the variety it costs.
    """

    data: Path | None = None  # the real images
    out_dir: Path | None = None  # pictures and metrics.json, when given
    samples: int = 1000
    truncation: float = 1.0
    fid: bool = False
    allow_download: bool = False  # let torch-fidelity fetch the Inception weights
    distribution: bool = True
    encoder_recipe: EncoderRecipe | None = None
    second_lens: bool = False  # also the sr_* keys (training/metrics/sr_lens.py)
    device: str = "cpu"
    resources: MetricResources = field(default_factory=MetricResources)  # resolved at the edge


_RESOURCE_FIELDS = ("cascade", "encoder_cache", "inception_weights", "sr_lens")


def evaluate(weights: Path, *, options: EvaluateOptions | None = None, **fields: Any) -> dict[str, Any]:
    """Metrics as a dict (see `EvaluateOptions`); pictures and metrics.json into `out_dir` when given.

    Pass `options`, or name a few of its fields (and of its resources: `cascade`, `encoder_cache`,
    `inception_weights`, `sr_lens`) as keywords.
    """
    if options is None:
        named = {name: fields.pop(name) for name in _RESOURCE_FIELDS if name in fields}
        options = EvaluateOptions(**fields, resources=MetricResources(**named))
    elif fields:
        raise TypeError(f"evaluate takes options or keyword fields, not both: {sorted(fields)}")
    res = options.resources
    generator, info = load_generator(weights, device=options.device)
    dim = info.config.latent_dim
    generated = generate_eval_samples(generator, dim, options.samples, psi=options.truncation)
    results: dict[str, Any] = {
        "model_version": info.model_version, "weights": str(weights), "samples": options.samples
    }  # fmt: skip
    if options.truncation != 1.0:
        results["truncation"] = options.truncation
    side = prepare_real(options.data, info.config.resolution, samples=options.samples, cascade=res.cascade,
                        distribution=options.distribution, encoder_cache=res.encoder_cache,
                        encoder_recipe=options.encoder_recipe, second_lens=options.second_lens, sr_lens=res.sr_lens,
                        cascade_required=res.required("cascade"))  # fmt: skip
    results |= score(generated, side)

    if options.fid:
        if side.real is None:
            raise MetricUnavailable("FID/KID need the training images: pass --data")
        weights_file = resolve_inception_weights(res.inception_weights, options.allow_download)
        results |= fid_kid(generated, side.real, weights_file)

    if options.out_dir is not None:
        options.out_dir.mkdir(parents=True, exist_ok=True)
        save_pictures(generator, dim, generated, side.real, options.out_dir, options.truncation)
        (options.out_dir / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
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
