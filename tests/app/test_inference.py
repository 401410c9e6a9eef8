"""The service's inference path (batch norm folded into the convolutions, channels-last) draws what
the plain generator draws."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from app.inference import AvatarModel, fuse_batchnorm
from gan.checkpoint import load_generator, save_generator
from gan.imaging import to_uint8
from gan.latents import seeds_latents
from tests.conftest import TINY, make_generator


def assert_served_path_draws_the_plain_images(weights: Path, count: int = 32) -> None:
    """The service's render (folded, channels-last) against the checkpoint's generator run as is."""
    generator, info = load_generator(weights, device="cpu", dtype=torch.float32)
    latents = seeds_latents(range(count), info.config.latent_dim)
    with torch.inference_mode():
        plain = to_uint8(generator.eval()(latents)).permute(0, 2, 3, 1).numpy()
    served = AvatarModel.load(weights, device="cpu").render(latents)
    difference = np.abs(plain.astype(int) - served.astype(int))
    assert difference.max() <= 1, difference.max()  # rounding of a re-associated sum, never more
    assert (difference > 0).mean() < 0.01


def test_folded_batch_norm_draws_the_plain_generators_images(tiny_weights: Path) -> None:
    assert_served_path_draws_the_plain_images(tiny_weights)


@pytest.mark.parametrize("head_channels", [0, 6])
def test_folding_removes_every_batch_norm_and_keeps_the_original(head_channels: int) -> None:
    generator = make_generator(replace(TINY, head_channels=head_channels))
    fused = fuse_batchnorm(generator)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in generator.modules())  # a copy was folded
    latents = torch.randn(8, TINY.latent_dim)
    with torch.inference_mode():
        torch.testing.assert_close(fused(latents), generator(latents), atol=1e-5, rtol=1e-4)


def test_a_headed_checkpoint_is_served_as_drawn(tmp_path: Path) -> None:
    weights = save_generator(make_generator(replace(TINY, head_channels=6)), tmp_path / "headed.safetensors").path
    assert_served_path_draws_the_plain_images(weights)
