"""Resumable training snapshots: one named-part dict, written atomically, read without unpickling code.

Parts: g, d, g_ema, opt_g, opt_d, the config and the position (step, epoch, batch). There are no
scheduler or RNG states to store: the learning rate is a pure function of the epoch and every
step reseeds torch from (seed, step, rank), so both are re-derived on resume.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from training.config import TrainConfig
    from training.nets import Networks

SNAPSHOT_VERSION = 1
SNAPSHOT_NAME = "snapshot.pt"
KEPT_DIR = "snapshots"  # with keep_snapshots: one copy per evaluated epoch
_REQUIRED = ("version", "config", "step", "epoch", "batch_in_epoch", "g", "d", "opt_g", "opt_d")


class SnapshotError(ValueError):
    """A snapshot that cannot be resumed from; the message names the file."""


def save_snapshot(path: Path, state: dict[str, Any]) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"version": SNAPSHOT_VERSION, **state}, tmp)
    tmp.replace(path)  # a crash mid-write never leaves a half snapshot behind
    return path


def kept_snapshot_path(run_dir: Path, epoch: int) -> Path:
    """Where the copy of epoch `epoch` lives; named like the epoch's sample grid, so they pair up."""
    return run_dir / KEPT_DIR / f"epoch-{epoch:04d}.pt"


def kept_epochs(run_dir: Path) -> list[int]:
    """The epochs whose snapshots a `keep_snapshots` run kept, in order."""
    folder = run_dir / KEPT_DIR
    if not folder.is_dir():
        return []
    found = (p.stem.removeprefix("epoch-") for p in folder.glob("epoch-*.pt"))
    return sorted(int(e) for e in found if e.isdigit())


def keep_snapshot(run_dir: Path, epoch: int) -> Path:
    """Copy the run's latest snapshot aside under its epoch; atomic like `save_snapshot`."""
    target = kept_snapshot_path(run_dir, epoch)
    target.parent.mkdir(exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(run_dir / SNAPSHOT_NAME, tmp)
    tmp.replace(target)
    return target


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


@dataclass
class Position:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    elapsed_s: float = 0.0  # training wall time over all sessions of this run


def capture(nets: Networks, pos: Position, config: TrainConfig) -> dict[str, Any]:
    """Everything a resume needs, as named parts (tensors and plain values only)."""
    return {
        "config": config.to_dict(),
        "step": pos.step,
        "epoch": pos.epoch,
        "batch_in_epoch": pos.batch_in_epoch,
        "elapsed_s": pos.elapsed_s,
        "g": nets.g.state_dict(),
        "d": nets.d.state_dict(),
        "g_ema": nets.g_ema.state_dict() if nets.g_ema is not None else {},
        "opt_g": nets.opt_g.state_dict(),
        "opt_d": nets.opt_d.state_dict(),
    }


def restore(nets: Networks, state: dict[str, Any]) -> Position:
    """Load a snapshot's parts into freshly built networks; returns where training stood."""
    nets.g.load_state_dict(state["g"])
    nets.d.load_state_dict(state["d"])
    if nets.g_ema is not None:
        nets.g_ema.load_state_dict(state["g_ema"])
    nets.opt_g.load_state_dict(state["opt_g"])
    nets.opt_d.load_state_dict(state["opt_d"])
    return Position(state["step"], state["epoch"], state["batch_in_epoch"], state.get("elapsed_s", 0.0))
