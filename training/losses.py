"""GAN objectives as small pure functions of discriminator logits, named after the papers' terms.

`D` returns raw logits; each function reduces to a scalar mean over the batch. `OBJECTIVES` maps a
config's `loss` to its pair of D and G losses, so the training step has no branch per recipe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from training.config import TrainConfig


def d_bce_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0, fake_label: float = 0.0
) -> torch.Tensor:
    """Original GAN D loss: maximize log(D(x)) + log(1 - D(G(z))) (Goodfellow et al. 2014).

    real_label=0.9 / fake_label=0.1 is the label smoothing of the 32x32 recipe (Salimans et al. 2016).
    """
    real_loss = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.full_like(fake_logits, fake_label))
    return real_loss + fake_loss


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating G loss: maximize log(D(G(z))), which has strong gradients early on."""
    return F.softplus(-fake_logits).mean()


def d_hinge_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge D loss (Lim & Ye 2017; used by SNGAN, SAGAN, BigGAN): only margin violations count."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_hinge_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def d_r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): squared gradient norm of D on real data, E[||grad D(x)||^2].

    `real_images` must have requires_grad set before D saw them. The caller scales by gamma / 2.
    """
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


@dataclass(frozen=True)
class Objective:
    """A recipe's loss pair: D's loss of (real logits, fake logits, config) and G's of fake logits."""

    d_loss: Callable[[torch.Tensor, torch.Tensor, TrainConfig], torch.Tensor]
    g_loss: Callable[[torch.Tensor], torch.Tensor]


OBJECTIVES: dict[str, Objective] = {
    "bce": Objective(lambda r, f, c: d_bce_loss(r, f, c.real_label, c.fake_label), g_nonsaturating_loss),
    "hinge": Objective(lambda r, f, _: d_hinge_loss(r, f), g_hinge_loss),
}
