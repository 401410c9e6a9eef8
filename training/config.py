"""One typed training configuration: presets, then an optional TOML/YAML file, then `--set` overrides.

Plain dataclasses (no pydantic) because training must run on GPU hosts that have only torch. Every
field is validated in `__post_init__`, and the resolved config is written into each run folder.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gan.networks import RESOLUTIONS, DiscriminatorConfig, GeneratorConfig


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the setting and the rule."""


@dataclass
class TrainConfig:
    """A complete training run. Field comments are the documentation of each option."""

    preset: str = "custom"  # the preset this config started from (informational)
    # --- data -------------------------------------------------------------------------------
    data: str = ""  # folder (recursive), .zip or .tar of jpg/png/webp images
    resolution: int = 64  # images are centre-cropped and resized to this side
    hflip: bool = True  # random horizontal flips of real images
    # --- networks ---------------------------------------------------------------------------
    latent_dim: int = 128
    g_channels: int = 64  # generator width (DCGAN's ngf)
    d_channels: int = 64  # discriminator width (DCGAN's ndf)
    g_norm: Literal["batch", "none"] = "batch"
    g_head_channels: int = 0  # >0: G's last layer works at full resolution (GeneratorConfig.head_channels)
    d_norm: Literal["batch", "none"] = "none"
    g_spectral_norm: bool = False
    d_spectral_norm: bool = True
    d_dropout: float = 0.0  # Dropout2d after each D layer
    # start G (and its EMA) from a published generator checkpoint, e.g. weights/v1.safetensors, instead of
    # random weights: fine-tuning a release into a new one ("" : train from scratch). D starts fresh.
    init_generator: str = ""
    # --- objective --------------------------------------------------------------------------
    loss: Literal["bce", "hinge"] = "hinge"
    real_label: float = 1.0  # bce targets for real / fake; 0.9 / 0.1 is label smoothing
    fake_label: float = 0.0
    r1_gamma: float = 0.0  # R1 penalty weight on real images (0 disables)
    r1_every: int = 16  # lazy regularisation interval (StyleGAN2)
    augment: str = "translation,cutout"  # DiffAugment policy applied to every D input ("" disables)
    # --- optimisation -----------------------------------------------------------------------
    batch_size: int = 64  # global batch, split across DDP ranks
    epochs: int = 100
    max_steps: int = 0  # stop after this many steps (0: no limit)
    max_minutes: float = 0.0  # stop after this much wall time, saving everything (0: no limit)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    d_every: int = 1  # update D on every k-th step only (G updates every step)
    d_warmup_steps: int = 0  # first steps update D only, so a fresh D learns to judge an initialised G first
    lr_decay_start: int = 0  # epoch from which both LRs decay exponentially (0: never)
    lr_decay_gamma: float = 1.0  # per-epoch LR factor once decay has started
    ema_decay: float = 0.999  # EMA of G's weights, the generator that is published (0 disables)
    seed: int = 0
    # --- runtime ----------------------------------------------------------------------------
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on CUDA, fp32 on the CPU
    channels_last: bool = True  # memory format with bf16 (CUDA, or precision=bf16 on the CPU)
    compile: bool = False  # torch.compile both networks
    threads: int = 0  # CPU threads for torch (0: torch's default)
    # --- outputs ----------------------------------------------------------------------------
    out_dir: str = "runs"
    run_name: str = ""  # default: <date>-<preset>
    sample_count: int = 64  # fixed-noise grid size
    log_every: int = 50  # steps between stats lines
    snapshot_minutes: float = 10.0  # resumable snapshot at least this often (and every epoch)
    # also keep a copy of the snapshot of every measured epoch (snapshots/epoch-NNNN.pt), so that
    # `export --epoch` can publish the best-measured epoch rather than the last one
    keep_snapshots: bool = False
    eval_every: int = 5  # epochs between face-detection evaluations (0: never)
    eval_samples: int = 500
    cascade: str = ""  # lbpcascade_animeface.xml for the face metric ("" : skip it)
    # FD/KID/precision/recall/copies in the data set's own encoder at each evaluation; the first run on a
    # data set trains that encoder (minutes on a CPU), later runs read it from the cache
    distribution_metric: bool = False
    encoder_cache: str = ""  # feature-encoder cache ("": $AVATARS_ENCODER_CACHE or ~/.cache/anime-avatars/encoders)
    tensorboard: bool = False
    notes: str = ""  # free text copied into the model card

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        rules: list[tuple[bool, str]] = [
            (self.resolution in RESOLUTIONS, f"resolution must be one of {RESOLUTIONS}"),
            (self.latent_dim >= 1, "latent_dim must be >= 1"),
            (self.g_channels >= 1 and self.d_channels >= 1, "g_channels and d_channels must be >= 1"),
            (self.g_head_channels >= 0, "g_head_channels must be >= 0"),
            (0.0 <= self.d_dropout < 1.0, "d_dropout must be in [0, 1)"),
            (self.loss in ("bce", "hinge"), "loss must be 'bce' or 'hinge'"),
            (0.0 <= self.fake_label < self.real_label <= 1.0, "need 0 <= fake_label < real_label <= 1"),
            (self.r1_gamma >= 0 and self.r1_every >= 1, "r1_gamma must be >= 0 and r1_every >= 1"),
            (self.batch_size >= 2, "batch_size must be >= 2"),
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.max_steps >= 0 and self.max_minutes >= 0, "max_steps and max_minutes must be >= 0"),
            (self.lr_g > 0 and self.lr_d > 0, "lr_g and lr_d must be > 0"),
            (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1 and beta2 must be in [0, 1)"),
            (self.d_every >= 1, "d_every must be >= 1"),
            (self.d_warmup_steps >= 0, "d_warmup_steps must be >= 0"),
            (self.lr_decay_start >= 0 and 0 < self.lr_decay_gamma <= 1, "need lr_decay_start >= 0, 0 < gamma <= 1"),
            (0 <= self.ema_decay < 1, "ema_decay must be in [0, 1)"),
            (self.precision in ("auto", "fp32", "bf16"), "precision must be auto, fp32 or bf16"),
            (self.sample_count >= 1 and self.log_every >= 1, "sample_count and log_every must be >= 1"),
            (self.eval_every >= 0 and self.eval_samples >= 1, "eval_every >= 0 and eval_samples >= 1"),
            (self.threads >= 0, "threads must be >= 0"),
            (
                not self.keep_snapshots or (self.eval_every >= 1 and bool(self.cascade or self.distribution_metric)),
                "keep_snapshots keeps measured epochs: needs eval_every >= 1 and a cascade or distribution_metric",
            ),
        ]
        for ok, rule in rules:
            if not ok:
                raise ConfigError(rule)
        from training.augment import parse_policy  # local: avoids a cycle at import time

        try:
            parse_policy(self.augment)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc

    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig(
            latent_dim=self.latent_dim,
            resolution=self.resolution,
            channels=self.g_channels,
            norm=self.g_norm,
            head_channels=self.g_head_channels,
        )

    def discriminator_config(self) -> DiscriminatorConfig:
        return DiscriminatorConfig(
            resolution=self.resolution,
            channels=self.d_channels,
            norm=self.d_norm,
            spectral_norm=self.d_spectral_norm,
            dropout=self.d_dropout,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


# The recipes before us, reproduced, and the recipe we ship. See docs/training.md for sources.
PRESETS: dict[str, dict[str, Any]] = {
    # 32x32 anime-face DCGAN: SN in G, dropout in D, label smoothing, slower D, LR decay after epoch 50.
    "dcgan-32": dict(
        resolution=32, latent_dim=128, batch_size=64, lr_g=2e-4, lr_d=1e-4, beta1=0.5, beta2=0.999,
        g_norm="batch", d_norm="batch", g_spectral_norm=True, d_spectral_norm=False, d_dropout=0.25,
        loss="bce", real_label=0.9, fake_label=0.1, d_every=2, lr_decay_start=50, lr_decay_gamma=0.95,
        ema_decay=0.0, augment="", epochs=100,
    ),
    # The classic DCGAN (Radford et al. 2015; pytorch/examples dcgan) at 64x64.
    "dcgan-64": dict(
        resolution=64, latent_dim=100, batch_size=128, lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999,
        g_norm="batch", d_norm="batch", g_spectral_norm=False, d_spectral_norm=False, d_dropout=0.0,
        loss="bce", real_label=1.0, fake_label=0.0, d_every=1, ema_decay=0.0, augment="", epochs=25,
    ),
    # Ours: hinge loss + spectral-norm D (SNGAN), DiffAugment, TTUR, EMA generator.
    "sngan-64": dict(
        resolution=64, latent_dim=128, batch_size=64, lr_g=2e-4, lr_d=4e-4, beta1=0.5, beta2=0.999,
        g_norm="batch", d_norm="none", g_spectral_norm=False, d_spectral_norm=True, d_dropout=0.0,
        loss="hinge", d_every=1, ema_decay=0.999, augment="translation,cutout", epochs=100,
    ),
}  # fmt: skip


def _coerce(name: str, annotation: Any, raw: Any) -> Any:
    """Turn a TOML/YAML value or a `--set` string into the field's declared type."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        choices = typing.get_args(annotation)
        if raw not in choices:
            raise ConfigError(f"{name} must be one of {list(choices)}, got {raw!r}")
        return raw
    try:
        if annotation is bool:
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if annotation is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError(raw)
            return int(raw)
        if annotation is float:
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        kind = {bool: "true or false", int: "an integer", float: "a number"}.get(annotation, "text")
        raise ConfigError(f"{name} must be {kind}, got {raw!r}") from None


def _fields() -> dict[str, Any]:
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(TrainConfig)}


def apply_overrides(values: dict[str, Any], overrides: dict[str, Any], source: str) -> dict[str, Any]:
    fields = _fields()
    out = dict(values)
    for key, raw in overrides.items():
        name = key.replace("-", "_")
        if name not in fields:
            raise ConfigError(f"{source}: unknown setting {key!r} (see `python -m training train --help`)")
        out[name] = _coerce(name, fields[name], raw)
    return out


def read_config_file(path: Path) -> dict[str, Any]:
    """Settings from a TOML or YAML file; a [train] table (TOML) or train: key (YAML) is optional."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"{path}: config files must end in .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot parse: {exc}") from exc
    except Exception as exc:  # yaml.YAMLError without importing yaml at module level
        raise ConfigError(f"{path}: cannot parse: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of settings")
    return data.get("train", data)


def parse_assignments(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def resolve_config(
    preset: str | None = None,
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainConfig:
    """Preset, then file, then overrides: later sources win, and the result is validated once."""
    file_values = read_config_file(config_file) if config_file else {}
    preset = preset or file_values.pop("preset", None) or "sngan-64"
    file_values.pop("preset", None)
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    values = apply_overrides({"preset": preset}, PRESETS[preset], f"preset {preset}")
    values = apply_overrides(values, file_values, str(config_file))
    return config_from(values, overrides or {}, "--set")


def config_from(values: dict[str, Any], overrides: dict[str, Any], source: str) -> TrainConfig:
    """The one way a config is built from stored or resolved values: typed, checked, validated."""
    values = apply_overrides(values, overrides, source)
    try:
        return TrainConfig(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def load_run_config(path: Path) -> TrainConfig:
    """The config a run folder was started with (for resume and export)."""
    if not path.is_file():
        raise ConfigError(f"{path}: no config.json (is this a run folder?)")
    try:
        values = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path}: cannot parse: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a table of settings")
    return config_from({}, values, str(path))


__all__ = [
    "PRESETS",
    "ConfigError",
    "TrainConfig",
    "config_from",
    "load_run_config",
    "parse_assignments",
    "read_config_file",
    "resolve_config",
]
