"""FD, KID, precision/recall and a copy check in the features of the data set's own encoder.

Pure stages, each checked against a reference in tests: features (`encoder.extract_features`) ->
statistics (`feature_statistics`, `nearest_distances`, `knn_radii`) -> metric (`frechet_distance`,
`kernel_distance`, `precision_recall`, `copy_shares`). `DistributionReference` wires them for one
data set: it holds the real reference features once, and scores any set of generated images.

- The features are two families side by side (see `encoder`): the encoder's content features and
  each image's colour palette, each scaled to unit total variance on the training faces. `ssl_fd`
  is the Fréchet distance of the joint features; `ssl_fd_content` and `ssl_fd_palette` are the FDs
  of each family alone, reported so that a change can be traced to what moved (they do not sum to
  `ssl_fd` exactly: the joint FD also compares the covariance between the families).
- FD (Heusel et al. 2017) and KID (Binkowski et al. 2018, cubic polynomial kernel, unbiased MMD²
  averaged over subsets) read fidelity and variety together as one distance; lower is better.
- Precision and recall (Kynkäänniemi et al. 2019, arXiv:1904.06991) read them apart: precision is
  the share of generated samples inside the real manifold (the union of balls reaching each real
  sample's k-th nearest real neighbour), recall the share of real samples inside the generated one.
  Blurry samples lose precision; a collapsed generator keeps precision and loses recall.
- Copy shares: for each generated sample, the distance to its nearest training image, against the
  same distance for held-out real images (which the encoder never saw either). `copies_p1` is the
  share of generated samples nearer to a training image than the closest 1% of held-out real images
  are (`copies_p5`: 5%). A generator that does not copy scores about 0.01 and 0.05, like real
  images; a memorising one approaches 1.
- `colours_per_image` beside `real_colours_per_image`: how many palette bins an image uses on
  average, the plain-number reading of what the palette term compares.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from training.metrics.encoder import (
    ENCODER_VERSION,
    CachedEncoder,
    EncoderRecipe,
    extract_features,
    get_encoder,
    split_real,
)

logger = logging.getLogger(__name__)

# metric keys, as they appear in metrics.json, metrics.jsonl and model cards
KEY_FD = "ssl_fd"
KEY_FD_CONTENT = "ssl_fd_content"
KEY_FD_PALETTE = "ssl_fd_palette"
KEY_KID = "ssl_kid"
KEY_KID_STD = "ssl_kid_std"
KEY_PRECISION = "precision"
KEY_RECALL = "recall"
KEY_COPIES_P1 = "copies_p1"
KEY_COPIES_P5 = "copies_p5"
KEY_COLOURS = "colours_per_image"  # mean palette bins an image uses; `real_` for the reference set
KEY_ENCODER_VERSION = "encoder_version"
KEY_ENCODER_ID = "encoder_id"

NEAREST_K = 3  # Kynkäänniemi et al.'s default neighbourhood size
KID_SUBSET = 1000
KID_SUBSETS = 100


# ---------------------------------------------------------------------------------- statistics
def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of N x D features, in float64."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError("feature statistics need an N x D array with N >= 2")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _pairwise(a: torch.Tensor, b: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """Euclidean distances, in row chunks so 2,000 x 15,000 never needs one huge temporary."""
    return torch.cat([torch.cdist(part, b) for part in a.split(chunk)]) if len(a) else a.new_zeros(0, len(b))


def nearest_distances(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """For each query row, the distance to its nearest reference row."""
    q, r = torch.as_tensor(np.asarray(query, dtype=np.float64)), torch.as_tensor(np.asarray(reference, np.float64))
    return torch.cat([_pairwise(part, r).min(dim=1).values for part in q.split(1024)]).numpy()


def knn_radii(features: np.ndarray, k: int = NEAREST_K) -> np.ndarray:
    """Distance from each row to its k-th nearest other row (the radius of its manifold ball)."""
    x = torch.as_tensor(np.asarray(features, dtype=np.float64))
    if len(x) <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} samples, got {len(x)}")
    # the k+1 smallest include the row itself at distance 0
    return torch.cat(
        [_pairwise(part, x).topk(k + 1, dim=1, largest=False).values[:, k] for part in x.split(1024)]
    ).numpy()


# -------------------------------------------------------------------------------------- metrics
def _sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||² + tr(S1 + S2 - 2 (S1 S2)^½), for covariance (PSD) matrices.

    tr (S1 S2)^½ = tr (S1^½ S2 S1^½)^½, and the right-hand matrix is symmetric PSD, so two
    symmetric eigendecompositions replace scipy's general `sqrtm` and its complex round-off.
    """
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    sigma1, sigma2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    root1 = _sqrtm_psd(sigma1)
    inner = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    trace_sqrt = float(np.sqrt(np.clip(inner, 0.0, None)).sum())
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def _polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1) ** 3


def _mmd_from_kernels(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    m, n = len(kxx), len(kyy)
    if m < 2 or n < 2:
        raise ValueError("the unbiased MMD needs at least 2 samples per set")
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * kxy.mean())


def polynomial_mmd(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with KID's kernel k(a, b) = (a·b / d + 1)³."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return _mmd_from_kernels(_polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y))


def kernel_distance(
    x: np.ndarray, y: np.ndarray, subset_size: int = KID_SUBSET, subsets: int = KID_SUBSETS, seed: int = 0
) -> tuple[float, float]:
    """KID: mean and std of the unbiased MMD² over random equal-size subsets (all samples if fewer).

    The kernel matrices of the full sets are computed once and each subset reads its block, which
    is the same number as `polynomial_mmd` of the subset at a hundredth of the matrix products.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    size = min(subset_size, len(x), len(y))
    kxx, kyy, kxy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        i, j = rng.choice(len(x), size, replace=False), rng.choice(len(y), size, replace=False)
        values.append(_mmd_from_kernels(kxx[np.ix_(i, i)], kyy[np.ix_(j, j)], kxy[np.ix_(i, j)]))
    return float(np.mean(values)), float(np.std(values))


def manifold_coverage(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """Share of `points` inside at least one ball (centre, radius) — Kynkäänniemi's f(phi, Phi)."""
    p, c = torch.as_tensor(np.asarray(points, np.float64)), torch.as_tensor(np.asarray(centres, np.float64))
    r = torch.as_tensor(np.asarray(radii, np.float64))
    inside = torch.cat([(_pairwise(part, c) <= r[None, :]).any(dim=1) for part in p.split(1024)])
    return float(inside.double().mean()) if len(inside) else 0.0


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = NEAREST_K) -> tuple[float, float]:
    """Improved precision (generated inside the real manifold) and recall (real inside the generated one)."""
    precision = manifold_coverage(generated, real, knn_radii(real, k))
    recall = manifold_coverage(real, generated, knn_radii(generated, k))
    return precision, recall


def copy_shares(generated_nn: np.ndarray, held_out_nn: np.ndarray, percentiles: tuple[float, ...] = (1, 5)) -> dict:
    """Share of generated samples whose nearest-training-image distance is below the p-th
    percentile of held-out real images' nearest-training-image distances, per p."""
    generated_nn = np.asarray(generated_nn, dtype=np.float64)
    return {p: float((generated_nn < np.percentile(held_out_nn, p)).mean()) for p in percentiles}


# ----------------------------------------------------------------------------------- the wiring
@dataclass
class DistributionReference:
    """A data set's encoder and the real features every score is taken against.

    `reference`: held-out real faces (the comparison set); `train`: the faces the encoder learnt
    from, where copies are looked for; `reference_nn`: each reference face's distance to its
    nearest training face (the copy check's null distribution).
    """

    cached: CachedEncoder
    reference: np.ndarray
    train: np.ndarray
    reference_nn: np.ndarray
    reference_images: torch.Tensor
    check_images: torch.Tensor

    @property
    def encoder_id(self) -> str:
        return self.cached.encoder_id

    def features(self, images: torch.Tensor) -> np.ndarray:
        return extract_features(self.cached.encoder, images).numpy()

    def score(self, images: torch.Tensor, k: int = NEAREST_K, kid_subsets: int = KID_SUBSETS) -> dict[str, Any]:
        """All distribution metrics of uint8 N x 3 x R x R images against the reference set."""
        return score_features(self, self.features(images), k=k, kid_subsets=kid_subsets)


def colours_per_image(palette: np.ndarray) -> float:
    """Mean count of colour bins holding at least one pixel, per image, from palette features.

    One stray pixel counts as a colour, so it reads noise as well as blending; the FD weighs both.

    Why the palette term is high, read directly: cartoon faces paint with few flat colours, and a
    generator that blends between them uses more bins per face than the real ones do.
    """
    return float((np.asarray(palette) > 0).sum(axis=1).mean()) if np.size(palette) else 0.0


def _block_fd(mu_g: np.ndarray, sigma_g: np.ndarray, mu_r: np.ndarray, sigma_r: np.ndarray, block: slice) -> float:
    return frechet_distance(mu_g[block], sigma_g[block, block], mu_r[block], sigma_r[block, block])


def lens_scores(
    features: np.ndarray,
    reference: np.ndarray,
    train: np.ndarray,
    reference_nn: np.ndarray,
    families: dict[str, slice],
    k: int = NEAREST_K,
    kid_subsets: int = KID_SUBSETS,
) -> dict[str, float]:
    """FD (joint and per feature family), KID, precision/recall and copy shares of generated
    features in one lens, under plain keys; each lens names them in its own namespace."""
    mu_g, sigma_g = feature_statistics(features)
    mu_r, sigma_r = feature_statistics(reference)
    kid, kid_std = kernel_distance(features, reference, subsets=kid_subsets)
    precision, recall = precision_recall(reference, features, k)
    copies = copy_shares(nearest_distances(features, train), reference_nn)
    return {
        "fd": frechet_distance(mu_g, sigma_g, mu_r, sigma_r),
        **{f"fd_{name}": _block_fd(mu_g, sigma_g, mu_r, sigma_r, block) for name, block in families.items()},
        "kid": kid,
        "kid_std": kid_std,
        "precision": precision,
        "recall": recall,
        "copies_p1": copies[1],
        "copies_p5": copies[5],
    }


def score_features(
    ref: DistributionReference, features: np.ndarray, k: int = NEAREST_K, kid_subsets: int = KID_SUBSETS
) -> dict[str, Any]:
    split = ref.cached.encoder.content_dim
    families = {"content": slice(0, split)}
    if split < ref.reference.shape[1]:
        families["palette"] = slice(split, None)
    s = lens_scores(features, ref.reference, ref.train, ref.reference_nn, families, k, kid_subsets)
    return {
        KEY_FD: s["fd"],
        KEY_FD_CONTENT: s["fd_content"],
        KEY_FD_PALETTE: s.get("fd_palette", 0.0),
        KEY_KID: s["kid"],
        KEY_KID_STD: s["kid_std"],
        KEY_PRECISION: s["precision"],
        KEY_RECALL: s["recall"],
        KEY_COPIES_P1: s["copies_p1"],
        KEY_COPIES_P5: s["copies_p5"],
        KEY_COLOURS: colours_per_image(features[:, split:]),
        "real_" + KEY_COLOURS: colours_per_image(ref.reference[:, split:]),
        "ssl_samples": len(features),
        "ssl_real_samples": len(ref.reference),
        KEY_ENCODER_VERSION: ENCODER_VERSION,
        KEY_ENCODER_ID: ref.encoder_id,
    }


def build_reference(
    images: torch.Tensor,
    recipe: EncoderRecipe | None = None,
    cache_dir: str | None = None,
    allow_training: bool = True,
) -> DistributionReference:
    """Encoder (cached or trained) plus the features of the held-out reference and training faces."""
    recipe = recipe or EncoderRecipe()
    cached = get_encoder(images, recipe, cache_dir, allow_training)
    split = split_real(len(images), recipe.holdout, recipe.seed)
    start = time.monotonic()
    reference = extract_features(cached.encoder, images[split.reference]).numpy()
    train = extract_features(cached.encoder, images[split.train]).numpy()
    reference_nn = nearest_distances(reference, train)
    logger.info(
        "distribution reference: %d held-out and %d training faces in %.0f s (encoder %s)",
        len(reference),
        len(train),
        time.monotonic() - start,
        cached.encoder_id,
    )
    return DistributionReference(cached, reference, train, reference_nn, images[split.reference], images[split.check])
