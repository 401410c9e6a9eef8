"""Device and CPU choice: one rule for the service and training, and CPU quotas honoured."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gan.devices import DeviceError, available_cpus, cgroup_cpu_limit, pick_device


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
