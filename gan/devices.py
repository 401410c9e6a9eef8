"""Which compute a setting names: the torch device, and how many CPUs the process may really use.
One rule for the service and for training."""

from __future__ import annotations

import math
import os
from pathlib import Path

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


CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> int | None:
    """Whole CPUs a cgroup CPU quota allows (rounded up), or None where there is no quota.

    A container limited to 2 CPUs on a 64-core node still sees 64 cores in `os.cpu_count()`; thread
    pools sized from that oversubscribe the quota and get throttled. cgroup v2 says `cpu.max`
    ("200000 100000", or "max 100000" for none); cgroup v1 says cpu.cfs_quota_us / cpu.cfs_period_us.
    """
    try:
        v2 = root / "cpu.max"
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
        v1 = root / "cpu" / "cpu.cfs_quota_us"
        if v1.is_file():
            quota_us = int(v1.read_text())
            period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
            return None if quota_us <= 0 else max(1, math.ceil(quota_us / period_us))
    except (OSError, ValueError):
        return None  # unreadable or unexpected: no quota we can honour
    return None


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    return max(1, min(cpus, limit)) if limit else max(1, cpus)
