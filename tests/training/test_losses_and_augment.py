import math

import pytest
import torch

from training.augment import color, cutout, diff_augment, parse_policy, translation
from training.losses import d_bce_loss, d_hinge_loss, d_r1_penalty, g_hinge_loss, g_nonsaturating_loss


def test_bce_losses_at_known_points() -> None:
    zero = torch.zeros(4)
    assert d_bce_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    # with label smoothing the optimum logit for real images is logit(0.9), not infinity
    best = torch.full((4,), math.log(0.9 / 0.1))
    smoothed = d_bce_loss(best, -best, 0.9, 0.1)
    assert smoothed.item() < d_bce_loss(best + 1, -best - 1, 0.9, 0.1).item()
    assert g_nonsaturating_loss(zero).item() == pytest.approx(math.log(2))


def test_hinge_losses_count_only_margin_violations() -> None:
    confident = d_hinge_loss(torch.full((3,), 2.0), torch.full((3,), -2.0))
    assert confident.item() == 0.0
    assert d_hinge_loss(torch.zeros(3), torch.zeros(3)).item() == 2.0
    assert g_hinge_loss(torch.tensor([1.0, 3.0])).item() == -2.0


def test_r1_penalty_is_the_squared_gradient_norm() -> None:
    w = torch.tensor([1.0, -2.0, 3.0])
    x = torch.randn(5, 3, requires_grad=True)
    logits = x @ w  # D(x) = w.x, so grad = w and R1 = |w|^2 for every sample
    assert d_r1_penalty(logits, x).item() == pytest.approx(14.0)


@pytest.mark.parametrize("transform", [color, translation, cutout])
def test_augmentations_keep_shape_and_pass_gradients(transform) -> None:
    x = torch.rand(6, 3, 16, 16, requires_grad=True)
    y = transform(x)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_shifts_by_whole_pixels_and_fills_with_zero() -> None:
    torch.manual_seed(0)
    x = torch.ones(64, 1, 16, 16)
    y = translation(x)
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    zero_rows = (y == 0).all(dim=3).sum(dim=(1, 2))
    assert zero_rows.max() <= 2  # at most 1/8 of 16 px


def test_cutout_removes_about_a_quarter() -> None:
    torch.manual_seed(0)
    y = cutout(torch.ones(256, 1, 16, 16))
    removed = (y == 0).float().mean().item()
    assert 0.12 < removed <= 0.25  # a half-side square, sometimes clipped by the border


def test_policy_parsing() -> None:
    assert parse_policy("") == []
    assert parse_policy("color, cutout") == [color, cutout]
    with pytest.raises(ValueError, match="unknown transform"):
        parse_policy("translation,rotate")
    x = torch.rand(2, 3, 8, 8)
    assert diff_augment(x, []) is x
