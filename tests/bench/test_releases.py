"""`python -m bench.releases`: the FLOP count against a hand count, the ratio table, the command's
outputs and errors on tiny releases. Nothing here asserts a speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from app.inference import AvatarModel
from bench.releases import ReleaseCost, gflop_per_image, main, markdown
from gan.checkpoint import save_generator
from gan.networks import GeneratorConfig
from gan.releases import publish
from tests.conftest import make_generator


def test_flops_are_the_transposed_convolutions_multiply_adds(tiny_weights: Path) -> None:
    model = AvatarModel.load(tiny_weights, device="cpu")
    by_hand = 0
    hooks = []

    def count(module: nn.ConvTranspose2d, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal by_hand
        k = module.kernel_size[0] * module.kernel_size[1]
        by_hand += 2 * module.in_channels * module.out_channels * k * inputs[0].shape[2] * inputs[0].shape[3]

    for m in model.net.modules():
        if isinstance(m, nn.ConvTranspose2d):
            hooks.append(m.register_forward_hook(count))
    with torch.inference_mode():
        model.net(torch.zeros(1, model.latent_dim))
    for h in hooks:
        h.remove()
    assert by_hand > 0 and gflop_per_image(model) == pytest.approx(by_hand / 1e9)


def _cost(name: str, rate: float) -> ReleaseCost:
    return ReleaseCost(name, f"{name}-version", 1_200_000, 2_400_000, 0.5, {"1x32": rate, "2x32": 2 * rate})


def test_the_table_gives_each_release_as_a_ratio_to_the_first() -> None:
    table = markdown([_cost("v1", 400.0), _cost("v2", 200.0)])
    lines = table.splitlines()
    assert "images/s (1 thr, batch 32)" in lines[0] and "images/s (2 thr, batch 32)" in lines[0]
    assert "| `v1` |" in lines[2] and "400 (1.00x)" in lines[2] and "800 (1.00x)" in lines[2]
    assert "| `v2` |" in lines[3] and "200 (0.50x)" in lines[3] and "400 (0.50x)" in lines[3]
    assert "1.20 M" in lines[3] and "2.4 MB" in lines[3] and "0.500" in lines[3]


def test_command_measures_two_releases_and_names_an_unknown_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "weights"
    for name, channels in (("v1", 8), ("v2", 16)):
        config = GeneratorConfig(latent_dim=16, resolution=32, channels=channels)
        save_generator(make_generator(config), tmp_path / f"{name}.safetensors")
        publish(folder, name, tmp_path / f"{name}.safetensors")
    out = tmp_path / "out"
    argv = ["v1", "v2", "--weights-dir", str(folder), "--seconds", "0.01", "--rounds", "2", "--batch-sizes", "2",
            "--threads", "1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((out / "releases-cost.json").read_text())
    v1, v2 = record["releases"]
    assert (v1["name"], v2["name"]) == ("v1", "v2") and set(v1["images_per_s"]) == {"1x2"}
    assert v2["parameters"] > v1["parameters"] and v2["gflop_per_image"] > 3 * v1["gflop_per_image"]
    assert "(1.00x)" in (out / "releases-cost.md").read_text().splitlines()[2]
    assert main(["v1", "v9", "--weights-dir", str(folder), "--seconds", "0.01"]) == 2
    assert "no release 'v9' (releases: v1, v2)" in capsys.readouterr().err
    assert main(["v1", "v1", "--weights-dir", str(folder)]) == 2
    assert "a release is named twice" in capsys.readouterr().err
