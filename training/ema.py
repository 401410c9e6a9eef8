"""Helpers on whole networks: gradient switches, the EMA generator and its batch-norm statistics."""

from __future__ import annotations

import torch
from torch import nn

from gan.latents import seeds_latents


def requires_grad(model: nn.Module, flag: bool) -> None:
    """Freeze or unfreeze all parameters; D is frozen during the G step so no D gradients are computed."""
    for p in model.parameters():
        p.requires_grad_(flag)


def ema_decay_at(step: int, decay: float) -> float:
    """Ramp the EMA decay up from 0.1 so the average does not drag early training's random weights along."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def accumulate(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model for parameters; buffers are copied (as in StyleGAN2-ADA)."""
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.lerp_(p.detach(), 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)


@torch.no_grad()
def recalibrate_batchnorm(
    generator: nn.Module, latent_dim: int, batches: int = 16, batch_size: int = 256, seed: int = 2**40
) -> nn.Module:
    """Recompute BN running statistics for the weights the generator has now, then switch to eval.

    The EMA generator's weights never produced the batch statistics it inherited from G, so
    before it draws samples or is published its "standing statistics" (BigGAN, Brock et al. 2019)
    are measured afresh over many latents. Uses its own seeds: the training RNG is untouched.
    """
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if norms:
        device = next(generator.parameters()).device
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over all recalibration batches
        generator.train()
        for b in range(batches):
            seeds = range(seed + b * batch_size, seed + (b + 1) * batch_size)
            generator(seeds_latents(seeds, latent_dim).to(device))
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
    return generator.eval()
