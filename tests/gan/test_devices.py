"""Device and CPU choice: one rule for the service and training, and CPU quotas honoured."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gan.devices import (
    DeviceError,
    _onednn_isa_name,
    available_cpus,
    bfloat16_kind,
    cgroup_cpu_limit,
    cpu_path,
    float32_kind,
    onednn_isa,
    pick_device,
)


def test_device_names() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeviceError, match="device must be auto, cpu, cuda or cuda:N, got 'gpu'"):
        pick_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            pick_device("cuda:1")


@pytest.mark.parametrize(
    ("files", "limit"),
    [
        ({"cpu.max": "max 100000\n"}, None),  # cgroup v2, no quota
        ({"cpu.max": "200000 100000\n"}, 2),  # 2 CPUs
        ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs: whole CPUs, rounded up
        ({"cpu.max": "50000 100000\n"}, 1),
        ({"cpu/cpu.cfs_quota_us": "400000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 4),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu.max": "garbage"}, None),
        ({}, None),
    ],
)
def test_cgroup_cpu_limit(tmp_path: Path, files: dict[str, str], limit: int | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_cpu_limit(tmp_path) == limit


def test_available_cpus_is_capped_by_the_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert available_cpus(tmp_path) == 1
    assert available_cpus(tmp_path / "none") >= 1


def test_service_thread_pools_follow_the_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.config

    monkeypatch.setattr(app.config, "available_cpus", lambda: 3)
    settings = app.config.Settings()
    assert (settings.encode_threads, settings.torch_thread_count) == (3, 3)
    explicit = app.config.Settings(encode_workers=5, torch_threads=1)
    assert (explicit.encode_threads, explicit.torch_thread_count) == (5, 1)
    monkeypatch.setattr(app.config, "available_cpus", lambda: 8)
    two = app.config.Settings(workers=2)  # two processes share the CPUs
    assert (two.encode_threads, two.torch_thread_count) == (4, 4)
    assert app.config.Settings(workers=16).torch_thread_count == 1


REFERENCE = {"machine": "x86_64", "aten": "avx512", "onednn": "avx10_1_512_amx"}


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (REFERENCE, ""),  # every published ETag was made here: no suffix, no churn
        ({"machine": "x86_64", "aten": "avx2", "onednn": "avx2"}, ""),  # measured: the same bytes
        ({"machine": "AMD64", "aten": "avx2", "onednn": "avx512_core_bf16"}, ""),
        ({"machine": "x86_64", "aten": "default", "onednn": "avx2"}, "-x86_64-aten_default-onednn_avx2"),
        ({"machine": "x86_64", "aten": "avx512", "onednn": "sse41"}, "-x86_64-aten_avx2-onednn_sse41"),
        ({"machine": "x86_64", "aten": "avx2", "onednn": "avx"}, "-x86_64-aten_avx2-onednn_avx"),
        # never measured: a class of its own, whatever its names
        ({"machine": "aarch64", "aten": "default", "onednn": "asimd"}, "-aarch64-aten_default-onednn_asimd"),
        ({"machine": "x86_64", "aten": "avx2", "onednn": "avx10-2"}, "-x86_64-aten_avx2-onednn_avx10-2"),
    ],
)
def test_float32_kinds_name_the_classes_that_draw_other_bytes(path: dict[str, str], kind: str) -> None:
    assert float32_kind(path) == kind


@pytest.mark.parametrize(
    ("onednn", "kind"),
    [
        ("avx10_1_512_amx", ""),  # the goldens' bfloat16
        ("avx512_core_bf16", "-onednn_avx512_core_bf16"),
        ("avx10_1_512", "-onednn_avx512_core_bf16"),  # measured: the same bytes as AVX512-BF16
        ("avx512_core", "-onednn_avx512_core"),  # emulated
        ("avx512_core_vnni", "-onednn_avx512_core"),
        ("avx2", "-onednn_avx2"),
    ],
)
def test_bfloat16_kinds_follow_onednn(onednn: str, kind: str) -> None:
    assert bfloat16_kind({**REFERENCE, "onednn": onednn}) == kind


def test_onednn_descriptions_become_short_names() -> None:
    assert _onednn_isa_name("Intel AVX2") == "avx2"
    assert _onednn_isa_name("Intel AVX10.1 and Intel AMX with bfloat16 and 8-bit integer support") == "avx10_1_512_amx"
    assert _onednn_isa_name(" Intel AVX 10.2/512 ") == "avx-10-2-512"  # unknown: kept, in one token
    assert _onednn_isa_name("") == "unknown"


def test_this_process_knows_its_onednn_isa() -> None:
    isa = onednn_isa()
    assert isa and "," not in isa and " " not in isa
    assert cpu_path()["onednn"] == isa
