"""Generator and discriminator networks, the one definition training and the service share.

Both are DCGAN-shaped convolutional stacks whose depth follows the resolution: every stride-2 layer
doubles (G) or halves (D) the side, so 32, 64 and 128 px models come from the same code. Widths are
`channels * 2**k`, capped at `max_channels`, which reproduces the classic DCGAN (ngf = ndf = 64)
exactly at 64x64.

This module imports only torch: `training/` must run on GPU hosts that have none of the service's
packages, and the service must not pull in training code.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.utils import parametrizations, parametrize
from torch.nn.utils.fusion import fuse_conv_bn_eval

Norm = Literal["batch", "none"]
ARCHITECTURE = "dcgan"
RESOLUTIONS = (16, 32, 64, 128, 256)


def _check_common(resolution: int, channels: int, max_channels: int) -> None:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution}")
    if channels < 1 or max_channels < channels:
        raise ValueError(f"need 1 <= channels <= max_channels, got {channels} and {max_channels}")


def _widths(resolution: int, channels: int, max_channels: int) -> list[int]:
    """Widths from the 4x4 feature map up to resolution/2, widest first."""
    levels = int(math.log2(resolution)) - 2
    return [min(channels * 2 ** (levels - 1 - i), max_channels) for i in range(levels)]


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything needed to rebuild a generator; stored verbatim in every checkpoint."""

    latent_dim: int = 100
    resolution: int = 64
    channels: int = 64  # width of the last hidden layer (DCGAN's ngf)
    max_channels: int = 512
    norm: Norm = "batch"
    # 0: the last transposed convolution draws RGB straight from the R/2 features, so the image is
    # a linear function of a half-resolution map (DCGAN, v1). N > 0: it draws N channels at full
    # resolution instead, then norm, ReLU and a 3x3 convolution to RGB: one nonlinearity at the
    # image's own resolution, for edges sharper than a linear upsampling can place.
    head_channels: int = 0

    def __post_init__(self) -> None:
        _check_common(self.resolution, self.channels, self.max_channels)
        if not 1 <= self.latent_dim <= 4096:
            raise ValueError(f"latent_dim must be in [1, 4096], got {self.latent_dim}")
        if self.norm not in ("batch", "none"):
            raise ValueError(f"norm must be 'batch' or 'none', got {self.norm!r}")
        if not 0 <= self.head_channels <= self.max_channels:
            raise ValueError(f"head_channels must be in [0, max_channels], got {self.head_channels}")

    def to_dict(self) -> dict[str, Any]:
        """Settings added after v1 are written only where they differ from v1's network, so every
        checkpoint published before them keeps its header and content hash."""
        data = asdict(self)
        if not data["head_channels"]:
            del data["head_channels"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown generator settings: {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class DiscriminatorConfig:
    resolution: int = 64
    channels: int = 64  # width of the first layer (DCGAN's ndf)
    max_channels: int = 512
    norm: Norm = "batch"
    spectral_norm: bool = False
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _check_common(self.resolution, self.channels, self.max_channels)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def _norm_layer(norm: Norm, width: int) -> nn.Module:
    return nn.BatchNorm2d(width) if norm == "batch" else nn.Identity()


class Generator(nn.Module):
    """Maps latents (N, latent_dim) to images (N, 3, R, R) in [-1, 1]."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        widths = _widths(config.resolution, config.channels, config.max_channels)
        bias = config.norm == "none"  # a bias before batch norm is cancelled by its mean
        # state size: (widths[0]) x 4 x 4
        self.stem = nn.Sequential(
            nn.ConvTranspose2d(config.latent_dim, widths[0], 4, 1, 0, bias=bias),
            _norm_layer(config.norm, widths[0]),
            nn.ReLU(inplace=True),
        )
        # each block doubles the side: 4 -> 8 -> ... -> resolution/2
        self.blocks = nn.Sequential(
            *(
                nn.Sequential(
                    nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias),
                    _norm_layer(config.norm, c_out),
                    nn.ReLU(inplace=True),
                )
                for c_in, c_out in itertools.pairwise(widths)
            )
        )
        # state size: 3 x resolution x resolution
        if config.head_channels:
            self.to_rgb = nn.Sequential(
                nn.ConvTranspose2d(widths[-1], config.head_channels, 4, 2, 1, bias=bias),
                _norm_layer(config.norm, config.head_channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(config.head_channels, 3, 3, 1, 1),
                nn.Tanh(),
            )
        else:
            self.to_rgb = nn.Sequential(nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.stem(z.reshape(z.shape[0], -1, 1, 1))
        return self.to_rgb(self.blocks(x))


class Discriminator(nn.Module):
    """Maps images (N, 3, R, R) to one real/fake logit each, shape (N,)."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        widths = _widths(config.resolution, config.channels, config.max_channels)[::-1]
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        if config.dropout:
            layers.append(nn.Dropout2d(config.dropout))
        # state size: (widths[0]) x resolution/2 x resolution/2; each layer halves the side
        bias = config.norm == "none"
        for c_in, c_out in itertools.pairwise(widths):
            layers += [
                nn.Conv2d(c_in, c_out, 4, 2, 1, bias=bias),
                _norm_layer(config.norm, c_out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            if config.dropout:
                layers.append(nn.Dropout2d(config.dropout))
        # state size: (widths[-1]) x 4 x 4 -> 1 x 1 x 1
        layers.append(nn.Conv2d(widths[-1], 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)
        if config.spectral_norm:
            add_spectral_norm(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2015): conv weights N(0, 0.02), norm scales N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def add_spectral_norm(module: nn.Module) -> nn.Module:
    """Constrain every convolution's largest singular value to 1 (Miyato et al. 2018)."""
    for m in list(module.modules()):
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d) and not parametrize.is_parametrized(m):
            parametrizations.spectral_norm(m)
    return module


def bake_parametrizations(module: nn.Module) -> nn.Module:
    """Replace parametrized weights (spectral norm) by their current value, in place.

    A published generator then holds plain tensors: the service never needs to know which
    training-time constraints produced them. Switches to eval mode first so that spectral norm
    uses its stored singular vectors instead of running one more power iteration.
    """
    module.eval()
    for m in list(module.modules()):
        if parametrize.is_parametrized(m):
            for name in list(m.parametrizations.keys()):
                parametrize.remove_parametrizations(m, name, leave_parametrized=True)
    return module


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_flops(generator: nn.Module, latent_dim: int) -> int:
    """Forward FLOPs of one image (a multiply-add counts as two), as torch's FlopCounterMode counts.

    Give it an eval-mode generator: in train mode the counting pass would move batch-norm statistics.
    """
    from torch.utils.flop_counter import FlopCounterMode

    param = next(generator.parameters())
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        generator(torch.zeros(1, latent_dim, device=param.device, dtype=param.dtype))
    return counter.get_total_flops()


def fuse_batchnorm(generator: Generator) -> nn.Module:
    """Fold each eval-mode BatchNorm into the transposed convolution before it.

    Inference only: the same affine map in one layer instead of two passes over the activations.
    The service serves the folded net, and `training/directions.py` factorises its first layer.
    """
    fused = copy.deepcopy(generator)
    for block in [fused.stem, *fused.blocks, fused.to_rgb]:
        conv, norm = block[0], block[1]
        if isinstance(norm, nn.BatchNorm2d):
            block[0] = fuse_conv_bn_eval(conv, norm, transpose=True)
            block[1] = nn.Identity()
    return fused
