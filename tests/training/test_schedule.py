"""The loop's pure pieces: learning-rate decay, EMA decay and update, batch-norm recalibration, stop rule."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan.networks import Generator, GeneratorConfig
from training.config import resolve_config
from training.ema import accumulate, ema_decay_at, recalibrate_batchnorm
from training.loop import StatsWindow, lr_scale, stop_reason
from training.snapshot import Position


def test_lr_is_constant_until_the_decay_starts_then_falls_geometrically() -> None:
    config = resolve_config("dcgan-32")  # decay from epoch 50 by 0.95 an epoch
    assert [lr_scale(e, config) for e in (0, 1, 49)] == [1.0, 1.0, 1.0]
    assert lr_scale(50, config) == pytest.approx(0.95)
    assert lr_scale(52, config) == pytest.approx(0.95**3)
    assert lr_scale(1000, resolve_config("sngan-64")) == 1.0  # no decay configured


def test_ema_decay_ramps_up_to_its_target() -> None:
    assert ema_decay_at(0, 0.999) == pytest.approx(0.1)
    values = [ema_decay_at(step, 0.999) for step in range(0, 20_000, 500)]
    assert values == sorted(values) and max(values) == 0.999
    assert ema_decay_at(10**6, 0.999) == 0.999


def test_accumulate_moves_parameters_by_one_minus_decay_and_copies_buffers() -> None:
    ema, model = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    with torch.no_grad():
        ema.weight.fill_(1.0)
        model.weight.fill_(3.0)
        model.running_mean.fill_(7.0)
    accumulate(ema, model, decay=0.75)
    assert torch.allclose(ema.weight, torch.full((3,), 1.5))  # 0.75 * 1 + 0.25 * 3
    assert torch.equal(ema.running_mean, model.running_mean)


def test_recalibration_measures_the_statistics_of_the_current_weights() -> None:
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(latent_dim=8, resolution=32, channels=4, max_channels=16))
    norm = next(m for m in generator.modules() if isinstance(m, nn.BatchNorm2d))
    norm.running_mean.fill_(5.0)  # statistics inherited from other weights
    norm.running_var.fill_(9.0)
    recalibrate_batchnorm(generator, latent_dim=8, batches=4, batch_size=64)
    assert not generator.training
    assert norm.momentum == 0.1  # restored after the cumulative average
    # the statistics are now those of the stem's own output over many latents
    stem_out = generator.stem[0](torch.randn(512, 8, 1, 1))
    assert torch.allclose(norm.running_mean, stem_out.mean((0, 2, 3)), atol=0.05)
    again = recalibrate_batchnorm(generator, latent_dim=8, batches=4, batch_size=64)
    assert torch.equal(again.stem[1].running_mean, norm.running_mean)  # its own seeds: deterministic


def test_stop_rule() -> None:
    config = resolve_config("sngan-64", overrides={"max_steps": "100", "max_minutes": "30"})
    assert stop_reason(config, Position(step=99), 29.0, interrupted=False) == ""
    assert stop_reason(config, Position(step=100), 0.0, interrupted=False) == "max_steps reached"
    assert stop_reason(config, Position(step=5), 30.0, interrupted=False) == "max_minutes reached"
    assert stop_reason(config, Position(step=5), 0.0, interrupted=True) == "interrupted"
    unlimited = resolve_config("sngan-64")
    assert stop_reason(unlimited, Position(step=10**9), 10**6, interrupted=False) == ""


def test_stats_window_averages_and_starts_afresh() -> None:
    window = StatsWindow()
    window.add({"loss_d": torch.tensor(1.0), "loss_g": torch.tensor(2.0)})
    window.add({"loss_g": torch.tensor(4.0)})  # a step without a D update
    row = window.close(Position(step=2, epoch=1), lr_g=2e-4, batch_size=64)
    assert (row["loss_d"], row["loss_g"], row["step"], row["epoch"], row["lr_g"]) == (1.0, 3.0, 2, 1, 2e-4)
    assert row["img_per_s"] > 0
    assert window.steps == 0 and window.values == {}
