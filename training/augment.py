"""Differentiable augmentation (DiffAugment, Zhao et al., NeurIPS 2020).

The same random transforms are applied to every image the discriminator sees, real and generated,
and gradients flow through them to G. D then cannot win by memorising the 19,000 training faces,
which is what makes GANs on small data sets collapse or degrade late in training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Transform = Callable[[torch.Tensor], torch.Tensor]


def color(x: torch.Tensor) -> torch.Tensor:
    """Random brightness, saturation and contrast per image."""
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to `ratio` of its side, filling with zeros (mid-grey in [-1, 1])."""
    n, _, h, w = x.shape
    max_dy, max_dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-max_dx, max_dx + 1, (n, 1, 1), device=x.device)
    # index into a copy padded by one zero pixel; indices past the edge land on the padding
    rows = (torch.arange(h, device=x.device)[None, :, None] + dy + 1).clamp(0, h + 1)
    cols = (torch.arange(w, device=x.device)[None, None, :] + dx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)  # N x H+2 x W+2 x C
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded[batch, rows, cols].permute(0, 3, 1, 2)  # a channels-last view: no copy needed


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of `ratio` times the side per image, centred anywhere (it may be clipped)."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h, (n, 1, 1), device=x.device) - ch // 2
    left = torch.randint(0, w, (n, 1, 1), device=x.device) - cw // 2
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~inside)[:, None].to(x.dtype)


TRANSFORMS: dict[str, Transform] = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(policy: str) -> list[Transform]:
    """'translation,cutout' -> the transforms, in order; '' -> none."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown:
        raise ValueError(f"augment: unknown transform(s) {unknown}; choose from {sorted(TRANSFORMS)}")
    return [TRANSFORMS[n] for n in names]


def diff_augment(x: torch.Tensor, transforms: list[Transform]) -> torch.Tensor:
    for transform in transforms:
        x = transform(x)
    return x
