"""Which compute a setting names: the torch device, and how many CPUs the process may really use.
One rule for the service and for training."""

from __future__ import annotations

import functools
import math
import os
import platform
import sys
import tempfile
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


# oneDNN's own words for the ISA it runs (its verbose "isa:" line) -> the names ONEDNN_MAX_CPU_ISA takes
_ONEDNN_ISAS = {
    "Intel SSE4.1": "sse41",
    "Intel AVX": "avx",
    "Intel AVX2": "avx2",
    "Intel AVX2 with Intel DL Boost": "avx2_vnni",
    "Intel AVX-512 with AVX512BW, AVX512VL, and AVX512DQ extensions": "avx512_core",
    "Intel AVX-512 with Intel DL Boost": "avx512_core_vnni",
    "Intel AVX-512 with Intel DL Boost and bfloat16 support": "avx512_core_bf16",
    "Intel AVX 10.1": "avx10_1_512",
    "Intel AVX10.1 and Intel AMX with bfloat16 and 8-bit integer support": "avx10_1_512_amx",
}


def _onednn_isa_name(description: str) -> str:
    """A short name for oneDNN's description of its ISA: the ONEDNN_MAX_CPU_ISA name where known,
    else the description itself, lower-cased with every run of other characters as one '-'."""
    known = _ONEDNN_ISAS.get(description.strip())
    if known:
        return known
    words = description.lower().replace("intel", " ")
    return "-".join("".join(c if c.isalnum() else " " for c in words).split()) or "unknown"


@functools.cache
def onednn_isa() -> str:
    """The ISA oneDNN's kernels run on in this process: the CPU's best, or less under ONEDNN_MAX_CPU_ISA.

    oneDNN says it only in its verbose log, once per process, on stdout: one small transposed
    convolution (the generator's own kind of layer, which oneDNN runs) with the log on and stdout
    pointed at a file for the moment it runs. Called once, at start-up, before any thread writes.
    """
    if not torch.backends.mkldnn.is_available():
        return "none"
    x = torch.zeros(1, 8, 4, 4).to(memory_format=torch.channels_last)
    sys.stdout.flush()
    with tempfile.TemporaryFile() as log:
        saved = os.dup(1)
        try:
            os.dup2(log.fileno(), 1)
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON), torch.inference_mode():
                torch.nn.functional.conv_transpose2d(x, torch.zeros(8, 8, 4, 4), stride=2, padding=1)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        text = log.read().decode(errors="replace")
    for line in text.splitlines():
        _, found, isa = line.partition(",isa:")
        if found:
            return _onednn_isa_name(isa)
    return "unknown"  # the log was already printed once (verbose turned on before us)


@functools.cache
def cpu_path() -> dict[str, str]:
    """What picks torch's CPU kernels here: the machine, ATen's vectorised kernels
    (ATEN_CPU_CAPABILITY can lower them) and oneDNN's ISA (ONEDNN_MAX_CPU_ISA can lower it)."""
    return {
        "machine": platform.machine().lower() or "unknown",
        "aten": torch.backends.cpu.get_cpu_capability().lower(),
        "onednn": onednn_isa(),
    }


# Which kernels draw the same bytes, measured over every golden avatar of v1-v3 with each path forced
# (`python -m tests.golden.cpu_paths`; README, "The same avatar on every node"). Each class is named
# by its oldest member. A name not listed (another CPU family, a newer torch) was never measured, so
# it stays a class of its own: its ETags differ from every other node's.
ATEN_CLASSES = {"avx2": "avx2", "avx512": "avx2"}
ONEDNN_FLOAT32_CLASSES = dict.fromkeys(
    ("avx2", "avx2_vnni", "avx512_core", "avx512_core_vnni", "avx512_core_bf16", "avx10_1_512", "avx10_1_512_amx"),
    "avx2",
)
ONEDNN_BFLOAT16_CLASSES = {
    "avx512_core": "avx512_core",  # bfloat16 emulated
    "avx512_core_vnni": "avx512_core",
    "avx512_core_bf16": "avx512_core_bf16",  # AVX512-BF16 instructions
    "avx10_1_512": "avx512_core_bf16",
    "avx10_1_512_amx": "amx",  # AMX tiles
}
# the path every golden and every published ETag was made on: its kinds carry no suffix
REFERENCE_PATH = {"machine": "x86_64", "aten": "avx2", "onednn": "avx2"}
REFERENCE_BFLOAT16 = "amx"
_X86 = {"x86_64", "amd64"}


def float32_class(path: dict[str, str]) -> dict[str, str]:
    """`path` with each library's ISA replaced by its float32 byte class (unknown names kept)."""
    machine = path["machine"].lower()
    machine = "x86_64" if machine in _X86 else machine
    return {
        "machine": machine,
        "aten": ATEN_CLASSES.get(path["aten"], path["aten"]),
        "onednn": ONEDNN_FLOAT32_CLASSES.get(path["onednn"], path["onednn"]),
    }


def float32_kind(path: dict[str, str] | None = None) -> str:
    """What a float32 CPU device kind adds for `path` (this process's by default): nothing on the
    reference path (x86-64 with AVX2 or better in ATen and in oneDNN), else its machine and classes,
    e.g. `-x86_64-aten_default-onednn_sse41`. Equal suffixes: the same avatars, byte for byte."""
    found = float32_class(path or cpu_path())
    if found == REFERENCE_PATH:
        return ""
    return f"-{found['machine']}-aten_{found['aten']}-onednn_{found['onednn']}"


def bfloat16_kind(path: dict[str, str] | None = None) -> str:
    """What a bfloat16 CPU device kind adds: nothing with AMX (the goldens'), else oneDNN's class
    (`-onednn_avx512_core_bf16`: the AVX512-BF16 instructions; `-onednn_avx512_core`: emulated)."""
    isa = (path or cpu_path())["onednn"]
    found = ONEDNN_BFLOAT16_CLASSES.get(isa, isa)
    return "" if found == REFERENCE_BFLOAT16 else f"-onednn_{found}"


def cpu_has_amx() -> bool:
    """Whether oneDNN runs on AMX tiles here: the one CPU path where bfloat16 convolutions beat float32.
    On AVX512-BF16 alone they ran at half the float32 rate, emulated on AVX-512 at a fifth (docs/hd.md)."""
    return "amx" in onednn_isa()
