"""Publish a run: its EMA generator (else G) into the service's checkpoint format, with a model card."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from gan.checkpoint import CheckpointInfo, save_generator
from gan.networks import Generator, add_spectral_norm, bake_parametrizations
from training.config import TrainConfig, config_from
from training.ema import recalibrate_batchnorm
from training.run_folder import read_jsonl
from training.snapshot import SNAPSHOT_NAME, SnapshotError, kept_epochs, kept_snapshot_path, load_snapshot

logger = logging.getLogger(__name__)

# the settings that make up "the recipe" on a model card
RECIPE_KEYS = (
    "preset",
    "resolution",
    "latent_dim",
    "g_channels",
    "d_channels",
    "g_norm",
    "g_head_channels",
    "d_norm",
    "g_spectral_norm",
    "d_spectral_norm",
    "d_dropout",
    "loss",
    "real_label",
    "fake_label",
    "r1_gamma",
    "augment",
    "batch_size",
    "lr_g",
    "lr_d",
    "beta1",
    "beta2",
    "d_every",
    "d_warmup_steps",
    "init_generator",
    "lr_decay_start",
    "lr_decay_gamma",
    "ema_decay",
    "seed",
)


def published_generator(state: dict[str, Any], config: TrainConfig) -> Generator:
    """The snapshot's EMA generator (or G), spectral norm baked in, BN statistics recalibrated."""
    generator = Generator(config.generator_config())
    if config.g_spectral_norm:
        add_spectral_norm(generator)
    generator.load_state_dict(state["g_ema"] or state["g"])
    bake_parametrizations(generator)
    return recalibrate_batchnorm(generator, config.latent_dim)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _metrics_at(run_dir: Path, step: int, exact: bool) -> dict[str, Any]:
    """The evaluation of `step` itself (`exact`, for a kept epoch) or the latest one at or before it.

    Never a later one: a card must not carry numbers of weights other than its own.
    """
    rows = [row for row in read_jsonl(run_dir / "metrics.jsonl") if row.get("step", 0) <= step]
    if exact:
        rows = [row for row in rows if row.get("step") == step]
        if not rows:
            logger.warning("%s: no evaluation at step %d; the card carries no metrics", run_dir, step)
    return rows[-1] if rows else {}


def model_card(
    run_dir: Path,
    state: dict[str, Any],
    config: TrainConfig,
    metrics: dict[str, Any] | None,
    notes: str,
    snapshot: str = SNAPSHOT_NAME,
) -> dict[str, Any]:
    data = _read_json(run_dir / "data.json")
    environment = _read_json(run_dir / "environment.json")
    wall = float(state.get("elapsed_s", 0.0))
    accelerators = environment.get("accelerators", 0)
    bf16 = config.precision == "bf16" or (config.precision == "auto" and accelerators)
    return {
        "name": config.run_name or run_dir.name,
        "recipe": {key: getattr(config, key) for key in RECIPE_KEYS},
        "data": {**data, "source": Path(data.get("source", config.data)).name},
        "training": {
            "run": run_dir.name,
            "snapshot": snapshot,
            "steps": state["step"],
            "epochs": round(state["step"] / max(1, data.get("images", 1) // config.batch_size), 2),
            "images_seen": state["step"] * config.batch_size,
            "wall_time_s": round(wall),
            "gpu_time_s": round(wall * accelerators) if accelerators else 0,
            # the arithmetic the weights were trained in: part of how to reproduce them
            "precision": "bf16" if bf16 else "fp32",
            **environment,
        },
        "metrics": metrics if metrics is not None else _metrics_at(run_dir, state["step"], snapshot != SNAPSHOT_NAME),
        "notes": " ".join(n for n in (config.notes, notes) if n),
        "data_license": "trained on third-party anime face crops for research and education",
    }


def export_run(
    run_dir: Path,
    out: Path,
    *,
    dtype: torch.dtype = torch.float16,
    metrics: dict[str, Any] | None = None,
    notes: str = "",
    epoch: int | None = None,
) -> CheckpointInfo:
    """Publish the run's latest snapshot, or with `epoch` the one a `keep_snapshots` run kept then."""
    path = run_dir / SNAPSHOT_NAME if epoch is None else kept_snapshot_path(run_dir, epoch)
    if epoch is not None and not path.is_file():
        kept = kept_epochs(run_dir)
        raise SnapshotError(
            f"{path}: no snapshot kept for epoch {epoch}; kept epochs: {kept or 'none'}"
            + ("" if kept else " (train with --set keep_snapshots=true)")
        )
    state = load_snapshot(path)
    config = config_from({}, state["config"], str(path))
    generator = published_generator(state, config)
    card = model_card(run_dir, state, config, metrics, notes, snapshot=path.relative_to(run_dir).as_posix())
    info = save_generator(generator, out, card, dtype=dtype)
    logger.info("exported %s (model version %s) from %s at step %d", out, info.model_version, path, state["step"])
    return info
