"""The second lens: frozen features of an anime restoration network someone else trained.

A quality claim made in one feature space can be an artefact of that space. The first lens
(`encoder`) is ours: a small strided encoder trained contrastively on the very faces the
generators learnt from. This lens shares as little with it as we can arrange:

- **Other people, other data, other pretext**: the layers are Real-ESRGAN's compact anime video
  model (`realesr-animevideov3`, Xintao Wang et al., BSD-3-Clause), trained to restore degraded
  anime frames. It never saw our faces, and nothing in it is fitted to them: only the scale of
  each feature family is measured on the training split.
- **Other architecture**: a VGG-style stack of 3x3 convolutions with PReLU at full resolution, no
  strides, no normalisation; the first lens downsamples at every layer.
- **Other features**: restoration layers respond to edges, line work, flat fills and compression
  or blur artefacts; the contrastive encoder keys on what tells one face from another. Each tapped
  layer is pooled twice: means over a 2 x 2 grid of the image (coarse layout: hair above, face
  below) and each channel's standard deviation over the whole image (texture energy, which blur
  lowers and noise raises).

The weights are the published upscaler file of release v3 (`weights/v3.upscaler.safetensors`),
read through `gan.upscaler` and pinned here by SHA-256: a lens whose weights move would silently
change every number, so a different file is refused rather than used.

Numbers carry `sr_lens_id` (version, recipe hash, weights hash): compare only equal ids.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn
from tqdm import tqdm

from gan.releases import file_sha256
from training.metrics.encoder import data_hash, resolve_cache_dir, split_real
from training.metrics.face_detection import MetricUnavailable
from training.resources import LENS_WEIGHTS_ENV

logger = logging.getLogger(__name__)

# Bump when the taps, pooling or scaling change: numbers of different versions do not compare.
LENS_VERSION = "anime-sr-v1"
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "v3.upscaler.safetensors"
# the default file is release v3's published upscaler (weights/releases.json pins the same hash)
WEIGHTS_SHA256 = "3b908c4144c6a30192b1740f129e0800d4302006a529f0e6c514a3d1147e0e56"
FEATURES_FORMAT = "anime-avatars/sr-lens-features"

# metric keys, as in metrics.json and release-check.json: `sr_fd`, `sr_precision`, `sr_recall`, ...
PREFIX = "sr_"
KEY_FD = "sr_fd"
KEY_KID = "sr_kid"
KEY_PRECISION = "sr_precision"
KEY_RECALL = "sr_recall"
KEY_COPIES_P1 = "sr_copies_p1"
KEY_SAMPLES = "sr_samples"
KEY_VERSION = "sr_lens_version"
KEY_ID = "sr_lens_id"


class LensError(MetricUnavailable):
    """The second lens cannot be built; the message names the file and the problem."""


@dataclass(frozen=True)
class SrLensRecipe:
    """What decides the features besides the weights; its hash is part of the lens id."""

    taps: tuple[int, ...] = (2, 4, 8)  # after the PReLU of these 3x3 convolutions (1-based)
    grid: int = 2  # spatial means over grid x grid cells
    holdout: int = 2000  # must match the first lens's split, so both score the same faces
    seed: int = 0

    def key(self) -> str:
        text = json.dumps({**dataclasses.asdict(self), "version": LENS_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def resolve_weights(path: str | os.PathLike[str] | None = None) -> Path:
    """The argument, else $AVATARS_SR_LENS, else release v3's upscaler in weights/."""
    chosen = Path(path or os.environ.get(LENS_WEIGHTS_ENV) or DEFAULT_WEIGHTS).expanduser()
    if not chosen.is_file():
        raise LensError(
            f"{chosen}: second-lens weights not found (release v3's upscaler file; pass --sr-lens PATH "
            f"or set ${LENS_WEIGHTS_ENV})"
        )
    return chosen


class SrFeatures(nn.Module):
    """uint8 images -> per-tap pooled activations of the restoration network's body (float64)."""

    def __init__(self, body: nn.Module, recipe: SrLensRecipe) -> None:
        super().__init__()
        layers = list(body)
        convs = [i for i, layer in enumerate(layers) if isinstance(layer, nn.Conv2d)]
        if max(recipe.taps) > len(convs) - 1:  # the last conv maps to pixels, not features
            raise LensError(f"lens taps {recipe.taps} go past the network's {len(convs) - 1} feature layers")
        # the activation after conv k (1-based) is layer index convs[k-1] + 1
        self.tap_ends = [convs[t - 1] + 2 for t in recipe.taps]
        self.body = nn.Sequential(*layers[: self.tap_ends[-1]])
        self.grid = recipe.grid
        self.channels = [layers[convs[t - 1]].out_channels for t in recipe.taps]
        self.families = {f"conv{t}": c * (recipe.grid**2 + 1) for t, c in zip(recipe.taps, self.channels, strict=True)}
        self.register_buffer("scales", torch.ones(len(recipe.taps), dtype=torch.float64))

    @property
    def feature_dim(self) -> int:
        return sum(self.families.values())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().div(255.0)  # the restoration net reads RGB in [0, 1]
        out, start = [], 0
        for end in self.tap_ends:
            x = self.body[start:end](x)
            start = end
            cells = nn.functional.adaptive_avg_pool2d(x, self.grid).flatten(1)
            out.append(torch.cat([cells, x.flatten(2).std(dim=2)], dim=1).double())
        return torch.cat([family * scale for family, scale in zip(out, self.scales, strict=True)], dim=1)


@torch.inference_mode()
def extract(lens: SrFeatures, images: torch.Tensor, batch_size: int = 100, progress: bool = False) -> np.ndarray:
    """uint8 N x 3 x R x R -> float64 N x D features, in batches (CPU, float32 convolutions)."""
    lens.eval()
    chunks = images.split(batch_size)
    if progress:
        chunks = tqdm(chunks, desc="second lens", unit="batch")
    parts = [lens(chunk.contiguous(memory_format=torch.channels_last)) for chunk in chunks]
    return torch.cat(parts).numpy() if parts else np.zeros((0, lens.feature_dim))


def family_slices(lens: SrFeatures) -> dict[str, slice]:
    slices, start = {}, 0
    for name, width in lens.families.items():
        slices[name] = slice(start, start + width)
        start += width
    return slices


def fit_scales(lens: SrFeatures, features: np.ndarray) -> None:
    """Scale each tap's family to unit total variance on `features` (computed with scales of 1)."""
    for i, block in enumerate(family_slices(lens).values()):
        variance = float(np.var(features[:, block], axis=0, ddof=1).sum()) if len(features) > 1 else 0.0
        lens.scales[i] = variance**-0.5 if variance > 0 else 1.0


def load_lens(
    weights: str | os.PathLike[str] | None = None, recipe: SrLensRecipe | None = None
) -> tuple[SrFeatures, str]:
    """The lens network with unit scales, and the SHA-256 of its weights file."""
    from gan.upscaler import UpscalerError, read_upscaler

    path = resolve_weights(weights)
    try:
        _, net = read_upscaler(path)
    except UpscalerError as exc:
        raise LensError(str(exc)) from exc
    body = getattr(net, "body", None)
    if not isinstance(body, nn.ModuleList):
        raise LensError(f"{path}: not a compact (SRVGG) network; the second lens reads its body layers")
    sha = file_sha256(path)
    if path.resolve() == DEFAULT_WEIGHTS and sha != WEIGHTS_SHA256:
        raise LensError(f"{path}: SHA-256 {sha[:12]}... is not the pinned {WEIGHTS_SHA256[:12]}...; the lens moved")
    return SrFeatures(body, recipe or SrLensRecipe()).eval().requires_grad_(False), sha


def lens_id(recipe: SrLensRecipe, weights_sha: str, images_hash: str) -> str:
    return f"{LENS_VERSION}-{recipe.key()}-{weights_sha[:12]}-{images_hash}"


# ------------------------------------------------------------------------ training-face cache
def _save_features(path: Path, features: np.ndarray, scales: torch.Tensor, ident: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tensors = {"features": torch.from_numpy(features.astype(np.float32)), "scales": scales.clone()}
    save_file(tensors, str(tmp), metadata={"format": FEATURES_FORMAT, "lens_id": ident})
    tmp.replace(path)


def _load_features(path: Path, ident: str) -> tuple[np.ndarray, torch.Tensor]:
    hint = "delete it to recompute"
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            features, scales = f.get_tensor("features"), f.get_tensor("scales")
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise LensError(f"{path}: cached lens features are not readable ({exc}); {hint}") from exc
    if metadata.get("format") != FEATURES_FORMAT or metadata.get("lens_id") != ident:
        raise LensError(f"{path}: not the features of lens {ident}; {hint}")
    return features.double().numpy(), scales


@dataclass
class SrReference:
    """The second lens for one data set: the network with its scales, and the real features."""

    lens: SrFeatures
    lens_id: str
    reference: np.ndarray
    train: np.ndarray
    reference_nn: np.ndarray

    def features(self, images: torch.Tensor) -> np.ndarray:
        return extract(self.lens, images)

    def score(self, images: torch.Tensor, k: int | None = None, kid_subsets: int | None = None) -> dict[str, Any]:
        """The lens's FD, KID, precision/recall and copy shares of uint8 images, under `sr_` keys."""
        from training.metrics.distribution import KID_SUBSETS, NEAREST_K, lens_scores

        features = self.features(images)
        # one joint FD: unlike the first lens's content and palette, no tap is worth reading alone
        scores = lens_scores(
            features, self.reference, self.train, self.reference_nn, {}, k or NEAREST_K, kid_subsets or KID_SUBSETS
        )
        return {PREFIX + key: value for key, value in scores.items()} | {
            KEY_SAMPLES: len(features),
            KEY_VERSION: LENS_VERSION,
            KEY_ID: self.lens_id,
        }


def build_sr_reference(
    images: torch.Tensor,
    weights: str | os.PathLike[str] | None = None,
    recipe: SrLensRecipe | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> SrReference:
    """Features of the held-out reference faces and of the training faces (cached: minutes on a CPU)."""
    from training.metrics.distribution import nearest_distances

    recipe = recipe or SrLensRecipe()
    lens, weights_sha = load_lens(weights, recipe)
    ident = lens_id(recipe, weights_sha, data_hash(images))
    split = split_real(len(images), recipe.holdout, recipe.seed)
    path = resolve_cache_dir(cache_dir) / f"{ident}.safetensors"
    start = time.monotonic()
    if path.exists():
        train, scales = _load_features(path, ident)
        lens.scales.copy_(scales)
        logger.info("second-lens training features read from %s", path)
    else:
        logger.info("second lens: features of %d training faces (once per data set)", len(split.train))
        raw = extract(lens, images[split.train], progress=True)
        fit_scales(lens, raw)
        blocks = zip(family_slices(lens).values(), lens.scales.tolist(), strict=True)
        scaled = raw * np.concatenate([np.full(block.stop - block.start, scale) for block, scale in blocks])
        # the cache keeps float32: score with what it will hold, so a first run and a cached one agree exactly
        train = scaled.astype(np.float32).astype(np.float64)
        try:
            _save_features(path, train, lens.scales, ident)
        except OSError as exc:
            raise LensError(f"{path}: cannot write the lens features: {exc}") from exc
    reference = extract(lens, images[split.reference])
    logger.info("second lens %s ready in %.0f s", ident, time.monotonic() - start)
    return SrReference(lens, ident, reference, train, nearest_distances(reference, train))
