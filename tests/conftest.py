"""Shared fixtures: tiny randomly initialised checkpoints and releases (never the shipped weights), and images."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.config import Settings
from app.inference import AvatarModel
from app.releases import ReleaseRegistry
from gan.checkpoint import read_checkpoint, save_generator
from gan.directions import Direction, DirectionSet, HairRecipe, save_directions
from gan.networks import Generator, GeneratorConfig
from gan.releases import add_directions, add_upscaler, publish
from gan.upscaler import save_upscaler
from training.ncnn_convert import compact_names

TINY = GeneratorConfig(latent_dim=16, resolution=64, channels=4, max_channels=32)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def make_generator(config: GeneratorConfig = TINY, seed: int = 0) -> Generator:
    """Random weights with non-trivial batch-norm statistics, so images are not flat."""
    torch.manual_seed(seed)
    generator = Generator(config)
    with torch.no_grad():  # an untrained net is nearly grey; amplify its output layer for contrast
        generator.to_rgb[0].weight.mul_(30)
    generator.train()
    with torch.no_grad():
        for _ in range(3):
            generator(torch.randn(32, config.latent_dim))
    return generator.eval()


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_generator(make_generator(), path, card={"name": "test-tiny", "notes": "random weights for tests"})
    return path


def make_directions(latent_dim: int, model_version: str, seed: int = 0) -> DirectionSet:
    """Random unit directions in the shape `python -m training directions` writes: two explore
    directions, one attribute and the hair colours blonde and black with their recipes."""
    rng = torch.Generator().manual_seed(seed)
    specs = [("explore_0", "explore", -3.0, 3.0), ("explore_1", "explore", -2.0, 1.0),
             ("hair_lightness", "attribute", -2.0, 2.0), ("hair_blonde", "hair_color", -3.0, 3.0),
             ("hair_black", "hair_color", -3.0, 3.0)]  # fmt: skip
    directions = {name: Direction(name, kind, low, high, note=f"test {name}") for name, kind, low, high in specs}
    vectors = {}
    for name in directions:
        v = torch.randn(latent_dim, generator=rng)
        vectors[name] = v / v.norm()
    hair = {color: HairRecipe(color, f"hair_{color}", (0.0, 1.5, 3.0), 2) for color in ("blonde", "black")}
    return DirectionSet(model_version, latent_dim, directions, vectors, hair, {"test": True})


def publish_with_directions(folder: Path, name: str, checkpoint: Path, **kwargs: object) -> None:
    """Publish a checkpoint and random directions for it, as a release with edits."""
    publish(folder, name, checkpoint, **kwargs)  # type: ignore[arg-type]
    info, _ = read_checkpoint(checkpoint)
    file = folder / f"{name}-directions-source.safetensors"
    save_directions(file, make_directions(info.config.latent_dim, info.model_version))
    add_directions(folder, name, file)
    file.unlink()


@pytest.fixture(scope="session")
def tiny_release_dir(tmp_path_factory: pytest.TempPathFactory, tiny_weights: Path) -> Path:
    """A weights folder whose manifest publishes the tiny checkpoint as release v1 (the default),
    with random latent directions so edits, codes and hair colours can be exercised."""
    folder = tmp_path_factory.mktemp("releases")
    publish_with_directions(folder, "v1", tiny_weights)
    return folder


def upscaler_tensors(seed: int = 0, features: int = 8, scale: int = 4) -> dict[str, torch.Tensor]:
    """A tiny random SRVGGNetCompact (2 body convolutions, `features` wide) in Real-ESRGAN's naming:
    spandrel builds it like the real one, in milliseconds."""
    rng = torch.Generator().manual_seed(seed)
    names = compact_names(4)
    tensors: dict[str, torch.Tensor] = {}
    for i, group in enumerate(names):
        if i % 2:  # PReLU slopes
            tensors[group[0]] = torch.rand(features, generator=rng) * 0.3
            continue
        c_in = 3 if i == 0 else features
        c_out = 3 * scale * scale if i == len(names) - 1 else features
        tensors[group[0]] = torch.randn(c_out, c_in, 3, 3, generator=rng) * 0.2
        tensors[group[1]] = torch.randn(c_out, generator=rng) * 0.05
    return tensors


def make_upscaler(path: Path, seed: int = 0) -> Path:
    save_upscaler(path, upscaler_tensors(seed), {"source": "random weights for tests"})
    return path


@pytest.fixture(scope="session")
def tiny_upscaler(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_upscaler(tmp_path_factory.mktemp("upscaler") / "tiny-x4.safetensors")


@pytest.fixture(scope="session")
def hd_release_dir(tmp_path_factory: pytest.TempPathFactory, tiny_weights: Path, tiny_upscaler: Path) -> Path:
    """Two releases of the tiny generator: v1 without an upscaler, v2 (the default) with the tiny
    upscaler for 256 and 512 px (128 px stays Lanczos), both with directions."""
    folder = tmp_path_factory.mktemp("hd-releases")
    publish_with_directions(folder, "v1", tiny_weights)
    copy = folder / "v2-source.safetensors"
    copy.write_bytes(tiny_weights.read_bytes())
    publish_with_directions(folder, "v2", copy, make_default=True)
    copy.unlink()
    add_upscaler(folder, "v2", tiny_upscaler, (256, 512))
    return folder


def one_release(model: object, name: str = "v1") -> ReleaseRegistry:
    """Releases made of one in-memory model (e.g. a GatedModel), for `create_app`."""
    return ReleaseRegistry.of({name: model})  # type: ignore[dict-item]


@pytest.fixture
def settings_for(tiny_release_dir: Path) -> Callable[..., Settings]:
    def build(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "weights_dir": tiny_release_dir, "device": "cpu", "max_batch_size": 16, "max_wait_ms": 2.0,
            "encode_workers": 2, "warmup": False,
        }  # fmt: skip
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return build


class GatedModel:
    """An AvatarModel whose forward passes can be held at a gate, made to fail, and counted."""

    def __init__(self, inner: AvatarModel) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.calls: list[int] = []
        self.fail_next: BaseException | None = None
        self.fail_above: int | None = None  # raise out-of-memory for batches larger than this

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def render(self, latents: torch.Tensor) -> np.ndarray:
        self.entered.set()
        self.gate.wait(timeout=30)
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        if self.fail_above is not None and latents.shape[0] > self.fail_above:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        self.calls.append(latents.shape[0])
        return self.inner.render(latents)


@pytest.fixture
def gated_model(tiny_weights: Path) -> Iterator[GatedModel]:
    model = GatedModel(AvatarModel.load(tiny_weights, device="cpu"))
    yield model
    model.gate.set()


def write_images(folder: Path, count: int, size: int = 64, seed: int = 0, suffix: str = ".png") -> Path:
    """Small synthetic pictures: a coloured square on noise."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        image = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        image[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = rng.integers(0, 255, 3)
        Image.fromarray(image).save(folder / f"img-{i:03d}{suffix}")
    return folder


def free_port() -> int:
    """A loopback port nothing listens on now, so parallel or repeated runs never share a fixed one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
