"""The HD upscaler: a learned anime super-resolution network in its own safetensors file.

Every avatar is drawn at 64 px; games show 128-512 px. A release may name an upscaler (in the
manifest, pinned by SHA-256 like its weights) that turns the 64 px avatar into a `scale`x larger
image, which the encoder then resizes to the size asked for. The file holds plain tensors in the
original Real-ESRGAN state-dict naming and, as header metadata, the architecture, the scale and
where the weights came from (package, version, source files and their SHA-256, licence), so a
reader can always trace them back. The architecture itself is never written here: `spandrel`
builds it from the state dict, and loading checks that what it built is what the header says.

Only the service and the release check run it; `training/ncnn_convert.py` made the file once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from gan.devices import bfloat16_kind, cpu_has_amx
from gan.errors import FileError

FORMAT = "anime-avatars/upscaler"
FORMAT_VERSION = 1
INPUT_SIZE = 64  # what every release draws
# The per-request cap counts work in pixels encoded (app/errors.py). Measured on the 2-core machine
# (docs/hd.md): a 256 px PNG (65,536 px) takes 4.7 ms of one core, the compact model's 5.07 GFLOP
# per 64 -> 256 px avatar 8.7 ms in bfloat16, so one pixel of encoding is worth about 46,000 FLOP.
FLOP_PER_PIXEL = 46_000
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class UpscalerError(FileError):
    """An upscaler file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class UpscalerInfo:
    """What an upscaler file says about itself; `/models/{release}` serves `as_dict()`."""

    path: Path
    architecture: str
    scale: int
    provenance: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.path.name, "architecture": self.architecture, "scale": self.scale,
                "provenance": self.provenance}  # fmt: skip


def save_upscaler(
    path: str | os.PathLike[str], tensors: dict[str, torch.Tensor], provenance: dict[str, Any]
) -> UpscalerInfo:
    """Check that spandrel builds a super-resolution network from `tensors`, then write them with
    its architecture, scale and `provenance` in the header (atomically, readable by the service)."""
    path = Path(path)
    net = _build(path, tensors)
    info = UpscalerInfo(path, net.architecture.name, int(net.scale), provenance)
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "architecture": info.architecture,
        "scale": str(info.scale),
        "provenance": json.dumps(provenance, sort_keys=True),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    tmp.chmod(0o644)
    tmp.replace(path)
    return info


def _build(path: Path, tensors: dict[str, torch.Tensor]) -> Any:
    import spandrel  # imports torchvision: only where an upscaler is really loaded

    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(tensors)
    except Exception as exc:  # spandrel raises several kinds for an unrecognised state dict
        raise UpscalerError(path, f"not an architecture spandrel knows: {exc}") from exc
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose != "SR":
        raise UpscalerError(path, "not a super-resolution model")
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise UpscalerError(path, "not an RGB model")
    return descriptor


def read_upscaler(path: str | os.PathLike[str]) -> tuple[UpscalerInfo, torch.nn.Module]:
    """Read an upscaler file and rebuild its network (CPU, float32, eval); `UpscalerError` names any problem."""
    path = Path(path)
    if not path.is_file():
        raise UpscalerError(path, "upscaler file not found")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise UpscalerError(path, f"not a readable safetensors file (truncated or corrupted?): {exc}") from exc
    if metadata.get("format") != FORMAT or metadata.get("format_version") != str(FORMAT_VERSION):
        raise UpscalerError(path, f"not an upscaler file of format {FORMAT!r} version {FORMAT_VERSION}")
    descriptor = _build(path, tensors)
    if descriptor.architecture.name != metadata.get("architecture") or str(descriptor.scale) != metadata.get("scale"):
        raise UpscalerError(
            path, f"the tensors build {descriptor.architecture.name} x{descriptor.scale}, the header says "
            f"{metadata.get('architecture')} x{metadata.get('scale')}"
        )  # fmt: skip
    info = UpscalerInfo(
        path, descriptor.architecture.name, descriptor.scale, json.loads(metadata.get("provenance", "{}"))
    )
    return info, descriptor.model.eval().requires_grad_(False)


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bfloat16 convolutions here at all (AVX-512 or better: natively with
    AVX512-BF16 or AMX, emulated on plain AVX-512); without it torch falls back to slow reference code."""
    return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def pick_upscaler_dtype(preference: str, device: torch.device) -> torch.dtype:
    """auto: bfloat16 on a CPU with AMX, the one CPU path where it is faster (4.3x float32 here); float32
    on every other CPU, where bfloat16 was slower (0.5x with AVX512-BF16, 0.2x emulated; docs/hd.md);
    float16 on CUDA."""
    if preference != "auto":
        return _DTYPES[preference]
    if device.type == "cuda":
        return torch.float16
    return torch.bfloat16 if cpu_has_amx() else torch.float32


def flop_per_image(net: torch.nn.Module, size: int = INPUT_SIZE) -> int:
    """Floating-point operations of one size x size input, counted by torch (convolutions dominate)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        net(torch.zeros(1, 3, size, size))
    return int(counter.get_total_flops())


def to_uint8_unit(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats (an upscaler's range) -> uint8, rounding to nearest."""
    return images.float().clamp_(0, 1).mul_(255).round_().to(torch.uint8)


class Upscaler:
    """An upscaler ready to serve: `render` maps (N, H, W, 3) uint8 avatars to (N, sH, sW, 3) uint8.

    The convolutions run in `dtype` (bfloat16 on a CPU with AMX is 4x float32 here;
    float16 on CUDA) while the network's output, a residual on a nearest-neighbour enlargement of
    its input, is quantised from float32. A row's pixels do not depend on its batch: checked for
    every batch size the service forms by `tests/test_golden_images.py`.
    """

    def __init__(self, info: UpscalerInfo, net: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> None:
        self.info = info
        self.device = device
        self.dtype = dtype
        self._autocast = device.type == "cpu" and dtype != torch.float32
        weights_dtype = torch.float32 if self._autocast else dtype
        self.flop_per_image = flop_per_image(net)  # on the CPU in float32, before it moves
        self.net = net.to(device=device, dtype=weights_dtype, memory_format=torch.channels_last)
        self._bf16_kind = bfloat16_kind() if device.type == "cpu" and dtype == torch.bfloat16 else ""

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: torch.device, dtype: torch.dtype) -> Upscaler:
        info, net = read_upscaler(path)
        return cls(info, net, device, dtype)

    @property
    def scale(self) -> int:
        return self.info.scale

    @property
    def output_size(self) -> int:
        return INPUT_SIZE * self.scale

    @property
    def cost_pixels(self) -> int:
        """One avatar's upscaling in the cap's unit: about 110,000 px for the compact model, 1,016,000 for 6B."""
        return round(self.flop_per_image / FLOP_PER_PIXEL)

    @property
    def device_kind(self) -> str:
        """The upscaler's part of a release's device kind: its dtype and, for bfloat16 on the CPU, the
        oneDNN kernels that decide its rounding (`gan.devices.bfloat16_kind`). Its float32 bytes
        follow the same CPU path as the generator's, which the generator's part already names."""
        return f"upscaler-{str(self.dtype).removeprefix('torch.')}{self._bf16_kind}"

    @torch.inference_mode()
    def render(self, images: torch.Tensor) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, scale*H, scale*W, 3) uint8 numpy, on the CPU."""
        # NHWC uint8 permuted to NCHW is already channels-last: no copy before the first convolution
        x = images.to(self.device, non_blocking=True).permute(0, 3, 1, 2)
        x = x.to(torch.float32 if self._autocast else self.dtype).div_(255)
        with torch.autocast("cpu", dtype=self.dtype, enabled=self._autocast):
            y = self.net(x)
        return to_uint8_unit(y).permute(0, 2, 3, 1).contiguous().cpu().numpy()
