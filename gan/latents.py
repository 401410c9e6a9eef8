"""Latent vectors: where seeds and player ids land in latent space, and how to walk it.

Latents are always drawn on the CPU from a seeded `torch.Generator`, never on the accelerator, so a
seed names the same vector on every machine; the images then depend only on the model and the
device type that runs it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Literal

import torch

# MAX_SEED is defined with the torch-free code format; callers import it from here as before
from gan.codes import MAX_SEED, AvatarSpec

InterpolationMode = Literal["slerp", "lerp"]


def player_seed(player_id: str) -> int:
    """Stable seed of a player id: the first 8 bytes of SHA-256(UTF-8 id), big-endian, top bit cleared.

    Stable across processes, machines and Python versions (unlike `hash()`), and inside the seed
    range 0 <= seed < 2**63 accepted everywhere else.
    """
    digest = hashlib.sha256(player_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & MAX_SEED


def derived_seed(seed: int, k: int) -> int:
    """The k-th seed derived from `seed` (variation noise, alternate faces): stable like `player_seed`."""
    digest = hashlib.sha256(f"{seed}/{k}".encode("ascii")).digest()
    return int.from_bytes(digest[:8], "big") & MAX_SEED


def seed_latent(seed: int, latent_dim: int) -> torch.Tensor:
    """The latent of one seed: `latent_dim` standard normal floats (float32, CPU)."""
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must satisfy 0 <= seed < 2**63, got {seed}")
    rng = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(latent_dim, generator=rng, dtype=torch.float32)


def seeds_latents(seeds: Sequence[int], latent_dim: int) -> torch.Tensor:
    """Latents of several seeds, shape (len(seeds), latent_dim); row i depends on seeds[i] alone."""
    if not seeds:
        return torch.empty(0, latent_dim)
    return torch.stack([seed_latent(s, latent_dim) for s in seeds])


def truncate(latents: torch.Tensor, psi: float) -> torch.Tensor:
    """Truncation trick: pull latents toward the mean of the prior (zero) by psi in (0, 1].

    Smaller psi trades variety for fidelity, as in BigGAN and StyleGAN.
    """
    if not 0.0 < psi <= 1.0:
        raise ValueError(f"truncation psi must satisfy 0 < psi <= 1, got {psi}")
    return latents if psi == 1.0 else latents * psi


def lerp(start: torch.Tensor, end: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return start + (end - start) * t[:, None]


def slerp(start: torch.Tensor, end: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (White 2016): keeps the norm typical of Gaussian latents along the path,
    where a straight line passes through low-norm latents that the generator rarely saw."""
    a, b = start.double(), end.double()
    cos = torch.dot(a / a.norm(), b / b.norm()).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6:  # (nearly) parallel: slerp degenerates to lerp
        return lerp(start, end, t)
    td = t.double()[:, None]
    path = (torch.sin((1 - td) * omega) * a + torch.sin(td * omega) * b) / torch.sin(omega)
    return path.to(start.dtype)


def interpolate(start: torch.Tensor, end: torch.Tensor, steps: int, mode: InterpolationMode = "slerp") -> torch.Tensor:
    """`steps` latents from `start` to `end`, both ends included, shape (steps, latent_dim)."""
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    if start.shape != end.shape or start.ndim != 1:
        raise ValueError(f"start and end must be vectors of one shape, got {tuple(start.shape)} and {tuple(end.shape)}")
    t = torch.linspace(0.0, 1.0, steps)
    if mode == "slerp":
        return slerp(start, end, t)
    if mode == "lerp":
        return lerp(start, end, t)
    raise ValueError(f"mode must be 'slerp' or 'lerp', got {mode!r}")


# ------------------------------------------------------------------- the latent of an avatar spec
def base_latent(spec: AvatarSpec, latent_dim: int) -> torch.Tensor:
    """The spec's latent before truncation and edits: its source, then each variation step in order."""
    if spec.latent is not None:
        if len(spec.latent) != latent_dim:
            raise ValueError(f"the latent has {len(spec.latent)} values; this release takes {latent_dim}")
        z = torch.tensor(spec.latent, dtype=torch.float32)
    else:
        assert spec.seed is not None
        z = seed_latent(spec.seed, latent_dim)
    for step in spec.variations:
        keep = math.sqrt(max(0.0, 1.0 - step.strength**2))
        z = keep * z + step.strength * seed_latent(step.seed, latent_dim)
    return z


def apply_edits(
    latents: torch.Tensor, edits: tuple[tuple[str, float], ...], directions: dict[str, torch.Tensor]
) -> torch.Tensor:
    """(N, dim) truncated latents plus each edit's unit direction times its strength, in the given
    (sorted) order. Element-wise only, so a row of a batch is bit-identical to the row alone."""
    for name, strength in edits:
        latents = latents + strength * directions[name]
    return latents


def spec_latent(spec: AvatarSpec, directions: dict[str, torch.Tensor], latent_dim: int) -> torch.Tensor:
    """The latent the generator draws: the truncated base latent, then the edits.

    Edits come after truncation so a strength means the same move at every truncation.
    """
    z = truncate(base_latent(spec, latent_dim)[None], spec.truncation)
    return apply_edits(z, spec.edits, directions)[0]
