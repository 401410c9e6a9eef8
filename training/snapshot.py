"""Resumable training snapshots: one named-part dict, written atomically, read without unpickling code.

Parts: g, d, g_ema, opt_g, opt_d, the config and the position (step, epoch, batch). There are no
scheduler or RNG states to store: the learning rate is a pure function of the epoch and every
step reseeds torch from (seed, step, rank), so both are re-derived on resume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

SNAPSHOT_VERSION = 1
SNAPSHOT_NAME = "snapshot.pt"
_REQUIRED = ("version", "config", "step", "epoch", "batch_in_epoch", "g", "d", "opt_g", "opt_d")


class SnapshotError(ValueError):
    """A snapshot that cannot be resumed from; the message names the file."""


def save_snapshot(path: Path, state: dict[str, Any]) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"version": SNAPSHOT_VERSION, **state}, tmp)
    tmp.replace(path)  # a crash mid-write never leaves a half snapshot behind
    return path


def load_snapshot(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SnapshotError(f"{path}: no snapshot to resume from")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated file, or objects the safe unpickler refuses
        raise SnapshotError(f"{path}: cannot read snapshot: {exc}") from exc
    missing = [k for k in _REQUIRED if k not in state]
    if missing:
        raise SnapshotError(f"{path}: not a training snapshot (missing {missing})")
    if state["version"] != SNAPSHOT_VERSION:
        raise SnapshotError(f"{path}: snapshot version {state['version']} is not supported")
    return state
