"""FID and KID on Inception-v3 features, computed by torch-fidelity.

The Inception weights cannot be downloaded on every machine, so they come from a local file
(`--inception-weights` or $AVATARS_INCEPTION_WEIGHTS); a download is attempted only when the
caller allows it. torch-fidelity reads a local file with a full unpickler, so the file must first
load under `torch.load(weights_only=True)`, which admits tensors and plain containers only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from training.metrics.face_detection import MetricUnavailable
from training.resources import INCEPTION_ENV

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"


def resolve_inception_weights(path: str | os.PathLike[str] | None, allow_download: bool = False) -> Path | None:
    """A verified local weights file, or None when downloading is allowed and no file is given.
    $AVATARS_INCEPTION_WEIGHTS is read at the edge (training/resources.py)."""
    chosen = path
    if not chosen:
        if allow_download:
            return None
        raise MetricUnavailable(
            f"FID/KID: no Inception weights; download {INCEPTION_URL} where the network allows, then pass "
            f"--inception-weights PATH or set {INCEPTION_ENV} (or pass --allow-download)"
        )
    resolved = Path(chosen)
    if not resolved.is_file():
        raise MetricUnavailable(f"FID/KID: Inception weights file {resolved} not found (expected {INCEPTION_FILE})")
    try:
        state = torch.load(resolved, map_location="cpu", weights_only=True)
    except Exception as exc:  # any failure means we must not hand the file to a full unpickler
        raise MetricUnavailable(f"FID/KID: {resolved} is not a plain state dict: {exc}") from exc
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise MetricUnavailable(f"FID/KID: {resolved} does not hold torch-fidelity's Inception-v3 weights")
    return resolved


class _Images(torch.utils.data.Dataset):
    """uint8 N x 3 x H x W tensor as the dataset torch-fidelity expects."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def fid_kid(
    generated: torch.Tensor,
    real: torch.Tensor,
    weights: Path | None,
    batch_size: int = 64,
    cuda: bool | None = None,
) -> dict[str, float]:
    """FID and KID (mean, std) between two uint8 N x 3 x H x W sets; lower is better for both."""
    import torch_fidelity

    n = min(len(generated), len(real))
    if n < 2:
        raise ValueError("FID/KID need at least 2 images per set")
    metrics = torch_fidelity.calculate_metrics(
        input1=_Images(generated.cpu()),
        input2=_Images(real.cpu()),
        fid=True,
        kid=True,
        kid_subset_size=min(1000, n),
        kid_subsets=100,
        batch_size=batch_size,
        cuda=torch.cuda.is_available() if cuda is None else cuda,
        feature_extractor_weights_path=str(weights) if weights else None,
        cache=False,
        save_cpu_ram=True,
        verbose=False,
    )
    return {
        "fid": float(metrics["frechet_inception_distance"]),
        "kid": float(metrics["kernel_inception_distance_mean"]),
        "kid_std": float(metrics["kernel_inception_distance_std"]),
    }


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), as torch-fidelity computes FID."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    stats1 = {"mu": np.asarray(mu1, dtype=np.float64), "sigma": np.asarray(sigma1, dtype=np.float64)}
    stats2 = {"mu": np.asarray(mu2, dtype=np.float64), "sigma": np.asarray(sigma2, dtype=np.float64)}
    return float(fid_statistics_to_metric(stats1, stats2, verbose=False)[KEY_METRIC_FID])
