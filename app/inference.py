"""The loaded generator and how the service runs it: device, dtype, fused layers, uint8 output."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from gan.checkpoint import CheckpointError, CheckpointInfo, load_generator
from gan.devices import DeviceError, float32_kind, pick_device
from gan.imaging import to_uint8
from gan.latents import seeds_latents
from gan.networks import Generator, fuse_batchnorm

logger = logging.getLogger(__name__)
__all__ = ["AvatarModel", "DeviceError", "fuse_batchnorm", "pick_device", "pick_dtype"]

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def pick_dtype(preference: str, device: torch.device) -> torch.dtype:
    """fp32 on the CPU (half precision there is slower and not bit-stable); fp16 by default on CUDA."""
    if device.type == "cpu":
        if preference not in ("auto", "float32"):
            raise DeviceError(f"dtype={preference!r} is not supported on the CPU; use float32")
        return torch.float32
    return torch.float16 if preference == "auto" else _DTYPES[preference]


class AvatarModel:
    """A generator ready to serve: `render` maps latents to uint8 images, one batch at a time.

    `render` is called from one worker thread only (the batching engine guarantees it).
    """

    def __init__(self, generator: Generator, info: CheckpointInfo, device: torch.device, dtype: torch.dtype) -> None:
        self.info = info
        self.device = device
        self.dtype = dtype
        # channels-last on every device: oneDNN's transposed convolutions are faster in NHWC on the
        # CPU too (1.8 vs 2.5 ms of CPU per 64 px image at batch 32-64, 1 thread; docs/benchmarks.md),
        # and the NHWC output makes the permute in `render` a view instead of a copy
        self.net = fuse_batchnorm(generator).to(device=device, dtype=dtype, memory_format=torch.channels_last).eval()
        # read once here, before any thread serves: finding oneDNN's ISA briefly redirects stdout
        self._cpu_kind = float32_kind() if device.type == "cpu" else ""

    @classmethod
    def load(
        cls,
        weights: Path,
        device: str = "auto",
        dtype: str = "auto",
        threads: int = 0,
        expected_version: str | None = None,
    ) -> AvatarModel:
        """Raise `CheckpointError` or `DeviceError` with one line naming the problem; `expected_version`
        is the model version a release was published with."""
        torch_device = pick_device(device)
        torch_dtype = pick_dtype(dtype, torch_device)
        if threads:
            torch.set_num_threads(threads)
        generator, info = load_generator(weights, device="cpu", dtype=torch.float32)
        if expected_version is not None and info.model_version != expected_version:
            raise CheckpointError(
                weights, f"model version {info.model_version} is not {expected_version}, the one it was published with"
            )
        model = cls(generator, info, torch_device, torch_dtype)
        logger.info(
            "loaded %s (model %s, %dx%d, latent %d) on %s as %s",
            weights,
            info.model_version,
            info.config.resolution,
            info.config.resolution,
            info.config.latent_dim,
            torch_device,
            str(torch_dtype).removeprefix("torch."),
        )
        return model

    @property
    def latent_dim(self) -> int:
        return self.info.config.latent_dim

    @property
    def resolution(self) -> int:
        return self.info.config.resolution

    @property
    def version(self) -> str:
        return self.info.model_version

    @property
    def device_kind(self) -> str:
        """What decides the exact pixels besides the weights: device type (GPU model), dtype and, on
        the CPU, the kernels torch picked for it (`gan.devices.float32_kind`: nothing on x86-64 with
        AVX2 or better, the path every published avatar was drawn on).

        Images are byte-identical within one device kind and may differ by a few levels across
        kinds (CPU float32 against GPU float16, AVX2 against SSE4.1), so caches key on it (ETags)
        and never mix them.
        """
        dtype = str(self.dtype).removeprefix("torch.")
        if self.device.type == "cuda":
            name = torch.cuda.get_device_name(self.device).lower().replace(" ", "-")
            return f"cuda-{name}-{dtype}"
        return f"{self.device.type}-{dtype}{self._cpu_kind}"

    @torch.inference_mode()
    def render(self, latents: torch.Tensor) -> np.ndarray:
        """(N, latent_dim) float32 latents -> (N, R, R, 3) uint8 RGB images on the CPU.

        An avatar must not depend on the requests it happened to share a batch with. oneDNN's
        kernels give a row of an odd batch of 11 or more a slightly different result (1 level in a
        few pixels) than the same row alone, while every even batch (measured to 128, 1 and 2
        threads) reproduces the single-row image exactly; so odd batches get one padding row. A
        batch of one is left alone (it is the reference, and padding it would double the work of
        every request at low load). `tests/test_golden_images.py` checks every batch size the
        service forms against the row alone.
        """
        n = latents.shape[0]
        if n % 2 and n > 1:
            latents = torch.cat([latents, latents.new_zeros(1, latents.shape[1])])
        z = latents.to(device=self.device, dtype=self.dtype, non_blocking=True)
        images = to_uint8(self.net(z))  # quantise on the device: 4x fewer bytes to copy back
        return images[:n].permute(0, 2, 3, 1).contiguous().cpu().numpy()

    def warmup_images(self, batch_size: int) -> np.ndarray:
        """Run a single image and the largest batch once, so allocators, kernels and thread pools
        are ready before the first request; returns the batch for an encoder warm-up."""
        self.render(seeds_latents([0], self.latent_dim))
        return self.render(seeds_latents(range(batch_size), self.latent_dim))
