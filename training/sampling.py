"""Drawing images from a generator by seed, in batches, for grids and metrics."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gan.imaging import to_uint8
from gan.latents import seeds_latents, truncate

GRID_SEEDS_START = 0  # fixed-noise grids show seeds 0..63: the service's /grid?seed=0 of the same model
EVAL_SEEDS_START = 1_000_000  # metric samples, disjoint from the grid seeds


@torch.no_grad()
def generate(generator: nn.Module, latents: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """uint8 N x 3 x R x R on the CPU; the generator must already be in eval mode."""
    device = next(generator.parameters()).device
    out = [to_uint8(generator(chunk.to(device))).cpu() for chunk in latents.split(batch_size)]
    return torch.cat(out)


def generate_seeds(
    generator: nn.Module, seeds: Sequence[int], latent_dim: int, psi: float = 1.0, batch_size: int = 256
) -> torch.Tensor:
    """The images the service would draw for these seeds (same latent mapping)."""
    return generate(generator, truncate(seeds_latents(seeds, latent_dim), psi), batch_size)


def generate_eval_samples(generator: nn.Module, latent_dim: int, samples: int, psi: float = 1.0) -> torch.Tensor:
    """The metric samples: the first `samples` evaluation seeds, the same in training and `evaluate`."""
    return generate_seeds(generator, range(EVAL_SEEDS_START, EVAL_SEEDS_START + samples), latent_dim, psi)


def real_eval_samples(images: torch.Tensor, samples: int) -> torch.Tensor:
    """The real side of the metric: the same `samples` training images in training and `evaluate`,
    so a real face rate logged during training and one reported for an export are of the same faces."""
    return images[torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:samples]]
