"""Which torch device a setting names: one rule for the service and for training."""

from __future__ import annotations

import torch


class DeviceError(ValueError):
    """The configured device or dtype cannot be used on this machine; the message says why."""


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    """`auto` is CUDA when present (the process's own GPU under torchrun), else the CPU; `cuda`
    without an index means that same GPU; `cuda:N` is taken as given."""
    if preference == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if preference == "cuda" or preference.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device={preference!r} but CUDA is not available on this machine")
        return torch.device(preference if ":" in preference else f"cuda:{local_rank}")
    if preference == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"device must be auto, cpu, cuda or cuda:N, got {preference!r}")
