"""The published generator format: one safetensors file with its model card in the header.

A checkpoint holds plain tensors (safetensors never unpickles anything) and, as header metadata,
the architecture, the `GeneratorConfig` that rebuilds the network, a content hash that serves as
the model version, and a free-form model card (recipe, data, training, metrics, date). Loading
re-derives the expected tensor names and shapes from the config and re-hashes the tensors, so a
truncated, corrupted or mismatched file is refused with one line that names the file and the
problem instead of producing garbage images.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from gan.errors import FileError
from gan.networks import ARCHITECTURE, Generator, GeneratorConfig, bake_parametrizations

FORMAT = "anime-avatars/generator"
FORMAT_VERSION = 1


class CheckpointError(FileError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about itself; `/model` serves `as_dict()`."""

    path: Path
    config: GeneratorConfig
    model_version: str
    card: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "architecture": ARCHITECTURE,
            "model_version": self.model_version,
            "file": self.path.name,
            "generator": self.config.to_dict(),
            "card": self.card,
        }


def content_hash(config: GeneratorConfig, tensors: dict[str, torch.Tensor]) -> str:
    """Hash of everything that decides the images: architecture, config, tensor names and bytes."""
    digest = hashlib.sha256()
    digest.update(json.dumps([ARCHITECTURE, config.to_dict()], sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def generator_tensors(generator: Generator, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The generator's state as plain CPU tensors, floating ones cast to `dtype` for storage.

    Works on a copy, so a generator still in training keeps its spectral-norm parametrizations.
    """
    plain = bake_parametrizations(copy.deepcopy(generator).cpu())
    return {
        name: (t.to(dtype) if t.is_floating_point() else t).detach().contiguous()
        for name, t in plain.state_dict().items()
    }


def save_generator(
    generator: Generator,
    path: str | os.PathLike[str],
    card: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float16,
) -> CheckpointInfo:
    """Write `generator` to `path` atomically; fp16 by default since it halves the file at no visible cost."""
    path = Path(path)
    tensors = generator_tensors(generator, dtype)
    card = dict(card or {})
    card.setdefault("created", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    info = CheckpointInfo(path, generator.config, content_hash(generator.config, tensors), card)
    _write(path, tensors, _metadata(generator.config, info.model_version, card))
    return info


def _metadata(config: GeneratorConfig, model_version: str, card: dict[str, Any]) -> dict[str, str]:
    return {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "architecture": ARCHITECTURE,
        "generator": json.dumps(config.to_dict(), sort_keys=True),
        "model_version": model_version,
        "card": json.dumps(card, sort_keys=True),
    }


def _write(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write via a temporary file and rename, so readers never see a half-written checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    # safetensors creates the file owner-only (0600); a published model must be readable by the
    # service's own user, e.g. the non-root user of the container image that bakes it in
    tmp.chmod(0o644)
    tmp.replace(path)


def read_checkpoint(path: str | os.PathLike[str]) -> tuple[CheckpointInfo, dict[str, torch.Tensor]]:
    """Read and fully validate a checkpoint; raise `CheckpointError` naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "file not found" if not path.exists() else "not a regular file")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(path, f"not a readable safetensors file (truncated or corrupted?): {exc}") from exc

    if metadata.get("format") != FORMAT:
        raise CheckpointError(path, f"not an avatar generator checkpoint (format={metadata.get('format')!r})")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(
            path, f"format version {metadata.get('format_version')!r} is not supported (expected {FORMAT_VERSION})"
        )
    if metadata.get("architecture") != ARCHITECTURE:
        raise CheckpointError(path, f"unknown architecture {metadata.get('architecture')!r}")
    try:
        config = GeneratorConfig.from_dict(json.loads(metadata["generator"]))
        card = json.loads(metadata.get("card", "{}"))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(path, f"invalid generator metadata: {exc}") from exc

    expected = {name: tuple(t.shape) for name, t in Generator(config).state_dict().items()}
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            path, f"tensors do not match the architecture: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != shape:
            raise CheckpointError(
                path, f"tensor {name} has shape {tuple(tensors[name].shape)}, the metadata implies {shape}"
            )
    version = content_hash(config, tensors)
    if version != metadata.get("model_version"):
        raise CheckpointError(
            path, f"content hash {version} does not match model_version {metadata.get('model_version')!r} (corrupted?)"
        )
    return CheckpointInfo(path, config, version, card), tensors


def update_card(path: str | os.PathLike[str], **changes: Any) -> CheckpointInfo:
    """Rewrite a checkpoint's model card (e.g. metrics measured after export); the tensors and
    therefore the model version stay as they are."""
    info, tensors = read_checkpoint(path)
    card = {**info.card, **changes}
    metadata = _metadata(info.config, info.model_version, card)
    _write(Path(path), tensors, metadata)
    return CheckpointInfo(info.path, info.config, info.model_version, card)


def load_generator(
    path: str | os.PathLike[str],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[Generator, CheckpointInfo]:
    """Rebuild the generator from a checkpoint, in eval mode, ready for inference."""
    info, tensors = read_checkpoint(path)
    generator = Generator(info.config)
    generator.load_state_dict(tensors)
    generator = generator.to(device=device, dtype=dtype).eval().requires_grad_(False)
    return generator, info
