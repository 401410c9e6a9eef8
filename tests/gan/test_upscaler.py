"""The upscaler file format and how the service runs it (tiny random weights; no shipped file needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from gan.devices import cpu_has_amx
from gan.upscaler import FLOP_PER_PIXEL, Upscaler, UpscalerError, cpu_has_bf16, pick_upscaler_dtype, read_upscaler

CPU = torch.device("cpu")


def avatars(n: int, seed: int = 0) -> torch.Tensor:
    """Smooth random 64 px 'avatars' (an upscaler's input is never white noise)."""
    rng = torch.Generator().manual_seed(seed)
    small = torch.rand(n, 3, 8, 8, generator=rng)
    big = torch.nn.functional.interpolate(small, size=64, mode="bilinear", align_corners=False)
    return (big * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def test_the_header_says_what_and_where_from(tiny_upscaler: Path) -> None:
    info, net = read_upscaler(tiny_upscaler)
    assert (info.architecture, info.scale) == ("RealESRGAN Compact", 4)
    assert info.provenance == {"source": "random weights for tests"}
    assert not any(p.requires_grad for p in net.parameters())


def test_a_file_whose_header_lies_is_refused(tiny_upscaler: Path, tmp_path: Path) -> None:
    with safe_open(str(tiny_upscaler), framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    lying = tmp_path / "lying.safetensors"
    save_file(tensors, str(lying), metadata={**metadata, "scale": "2"})
    with pytest.raises(UpscalerError, match="the tensors build RealESRGAN Compact x4, the header says"):
        read_upscaler(lying)
    foreign = tmp_path / "foreign.safetensors"
    save_file(tensors, str(foreign), metadata={"format": "anime-avatars/generator"})
    with pytest.raises(UpscalerError, match="not an upscaler file"):
        read_upscaler(foreign)
    broken = tmp_path / "broken.safetensors"
    save_file({"body.0.weight": torch.zeros(3, 3)}, str(broken), metadata=metadata)
    with pytest.raises(UpscalerError, match="not an architecture spandrel knows"):
        read_upscaler(broken)
    with pytest.raises(UpscalerError, match="upscaler file not found"):
        read_upscaler(tmp_path / "missing.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(tiny_upscaler.read_bytes()[:-100])
    with pytest.raises(UpscalerError, match="truncated or corrupted"):
        read_upscaler(truncated)


def test_render_maps_uint8_avatars_to_uint8_images_four_times_larger(tiny_upscaler: Path) -> None:
    upscaler = Upscaler.load(tiny_upscaler, CPU, torch.float32)
    out = upscaler.render(avatars(3))
    assert out.shape == (3, 256, 256, 3) and out.dtype == np.uint8
    assert upscaler.output_size == 256
    assert out.std() > 1  # not a flat image


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_row_does_not_depend_on_its_batch(tiny_upscaler: Path, dtype: torch.dtype) -> None:
    if dtype == torch.bfloat16 and not cpu_has_bf16():
        pytest.skip("no native bfloat16 on this CPU")
    upscaler = Upscaler.load(tiny_upscaler, CPU, dtype)
    rows = avatars(20, seed=1)
    alone = np.stack([upscaler.render(rows[i : i + 1])[0] for i in range(len(rows))])
    for size in range(2, 17):
        offset = size % 4
        batch = upscaler.render(rows[offset : offset + size])
        assert np.array_equal(batch, alone[offset : offset + size]), size


def test_bfloat16_stays_within_a_few_levels_of_float32(tiny_upscaler: Path) -> None:
    if not cpu_has_bf16():
        pytest.skip("no native bfloat16 on this CPU")
    rows = avatars(4, seed=2)
    exact = Upscaler.load(tiny_upscaler, CPU, torch.float32).render(rows).astype(int)
    fast = Upscaler.load(tiny_upscaler, CPU, torch.bfloat16).render(rows).astype(int)
    assert np.abs(exact - fast).mean() < 1.0


def test_the_cost_is_its_counted_work_in_pixels(tiny_upscaler: Path) -> None:
    upscaler = Upscaler.load(tiny_upscaler, CPU, torch.float32)
    # 3x3 convolutions 3 -> 8 -> 8 -> 8 -> 48 channels at 64 x 64, two FLOP per multiply-add (torch
    # counts convolutions; activations, the shuffle and the residual add are a rounding error beside them)
    macs = 64 * 64 * 9 * (3 * 8 + 8 * 8 + 8 * 8 + 8 * 48)
    assert upscaler.flop_per_image == 2 * macs
    assert upscaler.cost_pixels == round(upscaler.flop_per_image / FLOP_PER_PIXEL)


def test_dtype_choice() -> None:
    assert pick_upscaler_dtype("float32", CPU) == torch.float32
    assert pick_upscaler_dtype("auto", torch.device("cuda")) == torch.float16
    # bfloat16 only where it is faster than float32: on AMX (emulated or AVX512-BF16 alone, it is slower)
    assert pick_upscaler_dtype("auto", CPU) == (torch.bfloat16 if cpu_has_amx() else torch.float32)
