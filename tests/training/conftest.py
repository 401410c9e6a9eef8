from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import write_images
from training.config import TrainConfig, resolve_config

# small enough for a CPU test: 8-channel networks, batch 8
TINY_NETS = {"g_channels": 8, "d_channels": 8, "batch_size": 8, "eval_every": 0, "log_every": 1, "threads": 1}


@pytest.fixture(scope="session")
def faces64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_images(tmp_path_factory.mktemp("faces64"), 16, size=64)


@pytest.fixture
def tiny_config(faces64: Path, tmp_path: Path) -> Callable[..., TrainConfig]:
    def build(preset: str = "sngan-64", **overrides: object) -> TrainConfig:
        values = {**TINY_NETS, "data": str(faces64), "out_dir": str(tmp_path / "runs"), "run_name": preset}
        values.update(overrides)
        return resolve_config(preset, None, values)

    return build


@pytest.fixture(autouse=True)
def _encoder_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Feature encoders trained by tests go to a temporary folder, never the user's cache: commands
    read it from the environment (at their edge), library calls that name no cache get it as the default."""
    from training.metrics import encoder

    folder = tmp_path_factory.mktemp("encoder-cache")
    monkeypatch.setenv("AVATARS_ENCODER_CACHE", str(folder))
    monkeypatch.setattr(encoder, "DEFAULT_CACHE", folder)
