"""The run folder: what the main rank writes into it, and how it is named and read back.

Layout: config.json, environment.json, data.json, stats.jsonl (every `log_every` steps),
metrics.jsonl (every `eval_every` epochs), samples/epoch-NNNN.png (fixed seeds), snapshot.pt,
losses.png, evolution.gif and log.txt.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import torch

from gan.imaging import tile_grid, to_hwc
from training.config import ConfigError, TrainConfig
from training.distributed import World


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a run's .jsonl file (none when it does not exist yet)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def new_run_dir(config: TrainConfig) -> Path:
    name = config.run_name or f"{dt.datetime.now():%Y%m%d-%H%M%S}-{config.preset}"
    run_dir = Path(config.out_dir) / name
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(f"{run_dir}: run folder exists and is not empty; resume it or choose another run_name")
    return run_dir


def describe_environment(device: torch.device, world: World) -> dict[str, Any]:
    """Where the run trained, for the model card (GPU time = wall time x accelerators)."""
    on_gpu = device.type == "cuda"
    return {
        "device": torch.cuda.get_device_name(device) if on_gpu else f"cpu, torch threads: {torch.get_num_threads()}",
        "accelerators": world.size if on_gpu else 0,
        "processes": world.size,
        "torch": torch.__version__,
    }


class RunWriter:
    """Everything the main rank writes into the run folder: stats, metrics, grids, snapshots, plots."""

    def __init__(self, run_dir: Path, config: TrainConfig, enabled: bool) -> None:
        self.run_dir = run_dir
        self.enabled = enabled
        self.samples_dir = run_dir / "samples"
        self.tb = None
        if enabled:
            self.samples_dir.mkdir(parents=True, exist_ok=True)
            if config.tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError as exc:
                    raise ConfigError(
                        "tensorboard=true needs the tensorboard package (pip install tensorboard)"
                    ) from exc
                self.tb = SummaryWriter(str(run_dir / "tensorboard"))

    def json(self, name: str, value: dict[str, Any]) -> None:
        if self.enabled:
            (self.run_dir / name).write_text(json.dumps(value, indent=2) + "\n")

    def _append(self, name: str, row: dict[str, Any]) -> None:
        if self.enabled:
            with (self.run_dir / name).open("a") as f:
                f.write(json.dumps(row) + "\n")

    def stats(self, row: dict[str, Any]) -> None:
        self._append("stats.jsonl", row)
        if self.tb is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, int | float):
                    self.tb.add_scalar(f"train/{key}", value, row["step"])

    def metrics(self, row: dict[str, Any]) -> None:
        self._append("metrics.jsonl", row)
        if self.tb is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and isinstance(value, int | float):
                    self.tb.add_scalar(f"eval/{key}", value, row["step"])

    def grid(self, images: torch.Tensor, epoch: int) -> None:
        from training.visualize import save_png

        if self.enabled:
            save_png(tile_grid(to_hwc(images)), self.samples_dir / f"epoch-{epoch:04d}.png")

    def plots(self, gif: bool) -> None:
        from training.visualize import evolution_gif, loss_plot  # matplotlib only when plotting

        if not self.enabled:
            return
        loss_plot(self.run_dir / "stats.jsonl", self.run_dir / "losses.png", self.run_dir / "metrics.jsonl")
        if gif:
            evolution_gif(sorted(self.samples_dir.glob("epoch-*.png")), self.run_dir / "evolution.gif")

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
