"""A small self-supervised feature encoder, trained once per data set, for the offline FD/KID.

Inception FID needs weights we cannot download here, and a network trained on ImageNet photos is a
poor judge of 64x64 drawings anyway. So the features come from a small convolutional encoder
trained on the training images themselves, with a SimCLR-style contrastive task (Chen et al.
2020, arXiv:2002.05709; NT-Xent loss): two augmented views of one face must map close together
and away from every other face in the batch.

Why contrastive and not rotation prediction: telling an upright face from a rotated one needs
only its coarse layout (eyes above mouth), which a blurred or JPEG-wrecked face keeps, so those
features barely move under the degradations the metric must see. Telling one face from 255
others needs colour, hair texture and line detail, the very things that degrade. For the same
reason the augmentations are only those that keep an image's quality: integer shifts (no
resampling, hence no blur), mirroring and a cut-out square. There is no colour jitter, blur or
noise augmentation, which would teach the encoder to ignore exactly what the metric measures.

The palette (v2): telling faces apart needs *which* colours a face has, not how faithfully they
are reproduced, so v1 barely saw colour damage: JPEG at quality 8 kept the line work the encoder
keys on and scored better than a 32 px blur. The metric's features are therefore two families side
by side: the encoder's 128 content features, and each image's colour palette, its histogram over
8 levels per RGB channel (512 bins) square-rooted so that Euclidean distance is the Hellinger
distance between histograms. The palette is invariant to the encoder's shifts and mirroring and
sees colour fidelity directly. Each family is scaled to unit total variance on the training
faces (the scales are buffers saved with the encoder), so neither dominates by its units.

Determinism and versioning: the encoder is a pure function of (recipe, data). The recipe is
`EncoderRecipe` plus `ENCODER_VERSION`; the data enters by the hash of its decoded pixels. Training
runs on one CPU thread from fixed seeds, so the same data gives the same encoder bytes on the
same machine. The file is cached under that key (safetensors, never a pickle) and every number
computed with it carries `encoder_version` and `encoder_id`: compare numbers only when the
encoder id matches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from training.metrics.face_detection import MetricUnavailable

logger = logging.getLogger(__name__)

# Bump whenever the architecture, augmentations, loss, split, training schedule or the feature families
# change: numbers of different encoder versions are not comparable. v2: the colour-palette family.
ENCODER_VERSION = "ssl-contrastive-v2"
DEFAULT_CACHE = Path("~/.cache/anime-avatars/encoders")
FORMAT = "anime-avatars/feature-encoder"


class EncoderError(MetricUnavailable):
    """A cached encoder that cannot be used or made; the message names the file."""


@dataclass(frozen=True)
class EncoderRecipe:
    """Everything that decides the encoder besides the data. Its hash is part of the cache key."""

    resolution: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 128)  # stride-2 4x4 convs: 64 -> 32 -> 16 -> 8 -> 4 px
    projection_dim: int = 64  # SimCLR's projection head output; the metric uses the features before it
    steps: int = 400  # about 0.9 s a step on one CPU thread: some 6 minutes
    batch_size: int = 128  # faces per step (2 views each)
    lr: float = 1e-3
    temperature: float = 0.2
    max_shift: int = 6  # pixels of integer translation per view
    cutout: int = 20  # side of the square cut out of each view (0: none)
    palette_levels: int = 8  # colour-palette features: levels per RGB channel (levels³ bins; 0: none)
    holdout: int = 2000  # real faces held back per held-out set (reference and check), see `split_real`
    seed: int = 0

    def to_dict(self) -> dict[str, object]:
        return {**dataclasses.asdict(self), "channels": list(self.channels), "version": ENCODER_VERSION}

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


# ------------------------------------------------------------------------------------ data split
@dataclass(frozen=True)
class RealSplit:
    """Three disjoint index sets into the data set, a pure function of (n, holdout, seed).

    `reference`: the real set generated images are compared with (FD, KID, precision/recall).
    `check`: a second held-out real set, for "real against real" and the degraded variants.
    `train`: everything else; the encoder trains on it, and copies are looked for in it.
    """

    reference: torch.Tensor
    check: torch.Tensor
    train: torch.Tensor


def split_real(n: int, holdout: int, seed: int = 0) -> RealSplit:
    """Hold back min(holdout, n // 5) images twice; at least 4 per held-out set (k-NN with k=3)."""
    size = min(holdout, n // 5)
    if size < 4:
        raise MetricUnavailable(f"distribution metric: {n} images are too few (need at least 20)")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return RealSplit(reference=order[:size], check=order[size : 2 * size], train=order[2 * size :])


def data_hash(images: torch.Tensor) -> str:
    """Hash of the decoded uint8 pixels and their shape: the encoder's identity of a data set."""
    digest = hashlib.sha256(json.dumps(list(images.shape)).encode())
    flat = images.contiguous().reshape(-1)
    for chunk in flat.split(1 << 24):
        digest.update(chunk.numpy().tobytes())
    return digest.hexdigest()[:16]


# -------------------------------------------------------------------------------------- network
def colour_palette(images: torch.Tensor, levels: int) -> torch.Tensor:
    """uint8 N x 3 x R x R -> N x levels³: the square root of each image's colour histogram.

    sqrt turns histograms into unit vectors whose Euclidean distances are Hellinger distances, so a
    colour that fills a tenth of a face counts for more than its share of pixels against a big one.
    """
    n = len(images)
    q = images.long().mul(levels).div(256, rounding_mode="floor")
    bins = ((q[:, 0] * levels + q[:, 1]) * levels + q[:, 2]).reshape(n, -1)
    counts = torch.zeros(n, levels**3, dtype=torch.float64).scatter_add_(
        1, bins, torch.ones(bins.shape, dtype=torch.float64)
    )
    return counts.div(max(bins.shape[1], 1)).sqrt()


class FeatureEncoder(nn.Module):
    """uint8-range images -> features: the global average of the last 4x4 map (`forward`, what the
    contrastive loss trains), beside the colour palette (`metric_features`, what the metric reads)."""

    def __init__(self, recipe: EncoderRecipe) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = 3
        for out in recipe.channels:
            layers += [nn.Conv2d(width, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
            width = out
        self.body = nn.Sequential(*layers)  # state size. channels[-1] x R/16 x R/16
        self.head = nn.Sequential(  # SimCLR projection head: trained with the loss, not used by the metric
            nn.Linear(width, width), nn.ReLU(), nn.Linear(width, recipe.projection_dim)
        )
        self.content_dim = width
        self.palette_levels = recipe.palette_levels
        self.feature_dim = width + recipe.palette_levels**3
        # each family's scale: 1 / sqrt(total variance on the training faces), set by `calibrate`
        self.register_buffer("content_scale", torch.ones((), dtype=torch.float64))
        self.register_buffer("palette_scale", torch.ones((), dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))

    def metric_features(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 N x 3 x R x R -> float64 N x feature_dim: scaled content features, then the scaled palette."""
        content = self(_to_input(images)).double() * self.content_scale
        if not self.palette_levels:
            return content
        return torch.cat([content, colour_palette(images, self.palette_levels) * self.palette_scale], dim=1)


def _to_input(images: torch.Tensor) -> torch.Tensor:
    return images.float().div(127.5).sub(1.0)


@torch.no_grad()
def extract_features(encoder: FeatureEncoder, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """uint8 N x 3 x R x R -> float64 N x D metric features (encoder in eval mode, CPU)."""
    encoder.eval()
    out = [encoder.metric_features(chunk) for chunk in images.split(batch_size)]
    return torch.cat(out) if out else torch.zeros(0, encoder.feature_dim, dtype=torch.float64)


def _total_variance(features: torch.Tensor) -> float:
    return float(features.var(dim=0).sum()) if len(features) > 1 else 0.0


@torch.no_grad()
def calibrate(encoder: FeatureEncoder, images: torch.Tensor) -> FeatureEncoder:
    """Scale each feature family to unit total variance (trace of its covariance) on `images`."""
    encoder.content_scale.fill_(1.0)
    encoder.palette_scale.fill_(1.0)
    features = extract_features(encoder, images)
    content, palette = features[:, : encoder.content_dim], features[:, encoder.content_dim :]
    for buffer, family in ((encoder.content_scale, content), (encoder.palette_scale, palette)):
        variance = _total_variance(family) if family.shape[1] else 0.0
        buffer.fill_(variance**-0.5 if variance > 0 else 1.0)
    return encoder


# --------------------------------------------------------------------------------- augmentation
def augment_views(images: torch.Tensor, recipe: EncoderRecipe, generator: torch.Generator) -> torch.Tensor:
    """One random view per image: integer shift (reflect-padded), mirror, cut-out. No resampling."""
    n, _, side, _ = images.shape
    pad = recipe.max_shift
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(side)[None, :])[:, None, :, None].expand(n, 3, side, side + 2 * pad)
    shifted = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(side)[None, :])[:, None, None, :].expand(n, 3, side, side)
    views = shifted.gather(3, cols)
    flip = torch.rand(n, generator=generator) < 0.5
    views = torch.where(flip[:, None, None, None], views.flip(3), views)
    if recipe.cutout:
        cy = torch.randint(0, side - recipe.cutout + 1, (n,), generator=generator)
        cx = torch.randint(0, side - recipe.cutout + 1, (n,), generator=generator)
        grid = torch.arange(side)
        inside_y = (grid[None, :] >= cy[:, None]) & (grid[None, :] < cy[:, None] + recipe.cutout)
        inside_x = (grid[None, :] >= cx[:, None]) & (grid[None, :] < cx[:, None] + recipe.cutout)
        mask = inside_y[:, :, None] & inside_x[:, None, :]
        views = views.masked_fill(mask[:, None], 0.0)
    return views


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss: each view must pick its partner out of the 2N - 1 other views."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    n = z1.shape[0]
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, targets)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Reductions on one thread happen in one order: the condition for identical bytes."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_encoder(images: torch.Tensor, recipe: EncoderRecipe) -> FeatureEncoder:
    """Train on uint8 N x 3 x R x R images (the `train` part of the split); deterministic."""
    if images.shape[-1] != recipe.resolution:
        raise MetricUnavailable(f"encoder recipe is for {recipe.resolution} px images, got {images.shape[-1]} px")
    batch = min(recipe.batch_size, len(images))
    with _one_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        encoder = FeatureEncoder(recipe)
        optimizer = torch.optim.Adam(encoder.parameters(), lr=recipe.lr)
        data_rng = torch.Generator().manual_seed(recipe.seed + 1)
        floats = _to_input(images)
        encoder.train()
        start = time.monotonic()
        order = torch.randperm(len(images), generator=data_rng)
        cursor = 0
        for step in range(recipe.steps):
            if cursor + batch > len(order):
                order, cursor = torch.randperm(len(images), generator=data_rng), 0
            faces = floats[order[cursor : cursor + batch]]
            cursor += batch
            v1, v2 = augment_views(faces, recipe, data_rng), augment_views(faces, recipe, data_rng)
            loss = nt_xent(encoder.head(encoder(v1)), encoder.head(encoder(v2)), recipe.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % 100 == 0 or step == recipe.steps - 1:
                logger.info(
                    "encoder step %d/%d: loss %.3f (%.0f s)",
                    step + 1,
                    recipe.steps,
                    loss.item(),
                    time.monotonic() - start,
                )
        encoder = encoder.eval().requires_grad_(False)
        calibrate(encoder, images)
    return encoder


# ----------------------------------------------------------------------------------- the cache
def resolve_cache_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The argument, else ~/.cache/anime-avatars/encoders. $AVATARS_ENCODER_CACHE is read at the edge
    (training/resources.py)."""
    return Path(path or DEFAULT_CACHE).expanduser()


def encoder_id(recipe: EncoderRecipe, images_hash: str) -> str:
    """The cache key and the label numbers carry: recipe version, recipe hash, data hash."""
    return f"{ENCODER_VERSION}-{recipe.key()}-{images_hash}"


def _tensor_hash(tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_encoder(encoder: FeatureEncoder, path: Path, recipe: EncoderRecipe, ident: str) -> None:
    """safetensors with the recipe, id and a hash of the tensors in the header; written atomically.

    The header is one metadata key holding sorted JSON: safetensors writes several keys in a
    hash-map order that changes between processes, and the file's bytes must not.
    """
    tensors = {k: v.detach().contiguous() for k, v in encoder.state_dict().items()}
    header = {
        "format": FORMAT,
        "encoder_version": ENCODER_VERSION,
        "encoder_id": ident,
        "recipe": recipe.to_dict(),
        "tensor_sha256": _tensor_hash(tensors),
    }
    metadata = {"encoder": json.dumps(header, sort_keys=True)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)


def load_encoder(path: Path, recipe: EncoderRecipe, ident: str) -> FeatureEncoder:
    """Read and verify a cached encoder; any problem raises EncoderError naming the file."""
    hint = "delete it to retrain"
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = json.loads((f.metadata() or {}).get("encoder", "{}"))
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise EncoderError(f"{path}: cached encoder is not a readable safetensors file ({exc}); {hint}") from exc
    if metadata.get("format") != FORMAT or metadata.get("encoder_id") != ident:
        raise EncoderError(f"{path}: not the encoder {ident} (header says {metadata.get('encoder_id')!r}); {hint}")
    if metadata.get("tensor_sha256") != _tensor_hash(tensors):
        raise EncoderError(f"{path}: cached encoder's tensors do not match their hash (corrupted); {hint}")
    encoder = FeatureEncoder(recipe)
    try:
        encoder.load_state_dict(tensors)
    except RuntimeError as exc:
        raise EncoderError(f"{path}: cached encoder does not fit the recipe: {exc}; {hint}") from exc
    return encoder.eval().requires_grad_(False)


@dataclass
class CachedEncoder:
    encoder: FeatureEncoder
    encoder_id: str
    path: Path
    trained: bool  # False: read from the cache
    seconds: float  # training (or loading) wall time


def get_encoder(
    images: torch.Tensor,
    recipe: EncoderRecipe | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    allow_training: bool = True,
) -> CachedEncoder:
    """The encoder for this data set: from the cache, else trained on the split's `train` part and cached.

    `images` is the whole data set (uint8 N x 3 x R x R); the split is derived from it here, so
    every caller trains on, and holds out, the same faces.
    """
    recipe = recipe or EncoderRecipe()
    ident = encoder_id(recipe, data_hash(images))
    path = resolve_cache_dir(cache_dir) / f"{ident}.safetensors"
    start = time.monotonic()
    if path.exists():
        encoder = load_encoder(path, recipe, ident)
        logger.info("feature encoder %s read from %s", ident, path)
        return CachedEncoder(encoder, ident, path, trained=False, seconds=time.monotonic() - start)
    if not allow_training:
        raise EncoderError(f"{path}: no cached encoder {ident}, and training one is not allowed here")
    split = split_real(len(images), recipe.holdout, recipe.seed)
    logger.info("training feature encoder %s on %d images (%d steps)", ident, len(split.train), recipe.steps)
    encoder = train_encoder(images[split.train], recipe)
    try:
        save_encoder(encoder, path, recipe, ident)
    except OSError as exc:
        raise EncoderError(f"{path}: cannot write the trained encoder: {exc}") from exc
    seconds = time.monotonic() - start
    logger.info("feature encoder trained in %.0f s, cached at %s", seconds, path)
    return CachedEncoder(encoder, ident, path, trained=True, seconds=seconds)
