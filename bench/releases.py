"""`python -m bench.releases v1 v2`: what a new release costs to serve, next to the one it replaces.

A release may only become the default if the service can still afford it, so this measures, for
each named release and in one process: parameters, GFLOP per image at the release's resolution
(counted by torch's own
`FlopCounterMode` on the served, batch-norm-folded network) and images per second of the
service's inference path (`AvatarModel.render`) at a few batch sizes and thread counts. Releases
are measured in alternating rounds and each point reports its median over the rounds, so a
change in machine load during the run falls on every release alike; the ratios to the first
release are the result, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.config import DEFAULT_WEIGHTS_DIR
from app.inference import AvatarModel
from bench.ceilings import generator_ceiling
from gan.checkpoint import CheckpointError
from gan.networks import count_flops, count_parameters
from gan.releases import ManifestError, read_manifest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReleaseCost:
    name: str
    model_version: str
    parameters: int
    file_bytes: int
    gflop_per_image: float
    images_per_s: dict[str, float]  # "threads x batch" -> median over the rounds

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def gflop_per_image(model: AvatarModel) -> float:
    """Forward GFLOP of one image of the served (folded) network."""
    return count_flops(model.net, model.latent_dim) / 1e9


def point_key(threads: int, batch_size: int) -> str:
    return f"{threads}x{batch_size}"


def measure(
    weights: dict[str, tuple[Path, str]], *, batch_sizes: list[int], threads: list[int], seconds: float, rounds: int
) -> list[ReleaseCost]:
    """Every release at every point, `rounds` times, alternating releases within each round."""
    models = {name: AvatarModel.load(path, device="cpu", expected_version=version) for name, (path, version) in
              weights.items()}  # fmt: skip
    runs: dict[str, dict[str, list[float]]] = {name: {} for name in models}
    for r in range(rounds):
        for name, model in models.items():
            logger.info("round %d/%d: %s", r + 1, rounds, name)
            for point in generator_ceiling(model, batch_sizes, threads, seconds):
                runs[name].setdefault(point_key(point.threads, point.batch_size), []).append(point.images_per_s)
    return [
        ReleaseCost(
            name=name,
            model_version=model.info.model_version,
            parameters=count_parameters(model.net),
            file_bytes=weights[name][0].stat().st_size,
            gflop_per_image=gflop_per_image(model),
            images_per_s={key: statistics.median(values) for key, values in runs[name].items()},
        )
        for name, model in models.items()
    ]


def markdown(costs: list[ReleaseCost]) -> str:
    """One row per release; each throughput column is also given as a ratio to the first release."""
    base = costs[0]
    keys = list(base.images_per_s)
    head = ["release", "model version", "parameters", "file", "GFLOP / image"] + [
        f"images/s ({k.split('x')[0]} thr, batch {k.split('x')[1]})" for k in keys
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cost in costs:
        cells = [
            f"`{cost.name}`",
            f"`{cost.model_version}`",
            f"{cost.parameters / 1e6:.2f} M",
            f"{cost.file_bytes / 1e6:.1f} MB",
            f"{cost.gflop_per_image:.3f}",
        ]
        for key in keys:
            ratio = cost.images_per_s[key] / base.images_per_s[key]
            cells.append(f"{cost.images_per_s[key]:,.0f} ({ratio:.2f}x)")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def resolve(names: list[str], weights_dir: Path) -> dict[str, tuple[Path, str]]:
    """Each release's file and the model version it was published with (a changed file is refused)."""
    manifest = read_manifest(weights_dir)
    if len(set(names)) < len(names):
        raise ManifestError(manifest.path, f"a release is named twice in {names}")
    out: dict[str, tuple[Path, str]] = {}
    for name in names:
        release = manifest.get(name)
        if release is None:
            known = ", ".join(r.name for r in manifest.releases)
            raise ManifestError(manifest.path, f"no release {name!r} (releases: {known})")
        out[name] = (manifest.file_of(release), release.model_version)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.releases", description=__doc__.splitlines()[0])
    p.add_argument("releases", nargs="+", help="release names; ratios are to the first")
    p.add_argument("--weights-dir", type=Path, default=DEFAULT_WEIGHTS_DIR, help="folder of releases.json")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 256])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--seconds", type=float, default=2.0, help="per point and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, help="write releases-cost.{json,md} here")
    args = p.parse_args(argv)
    if min(args.batch_sizes) < 1 or min(args.threads) < 1 or args.seconds <= 0 or args.rounds < 1:
        p.error("--batch-sizes and --threads must be >= 1, --seconds > 0 and --rounds >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        weights = resolve(args.releases, args.weights_dir)
        costs = measure(
            weights, batch_sizes=args.batch_sizes, threads=args.threads, seconds=args.seconds, rounds=args.rounds
        )
    except (ManifestError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = markdown(costs)
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        config = {k: v for k, v in vars(args).items() if k not in ("out", "weights_dir")}
        record = {"config": config, "cpu_count": os.cpu_count(), "releases": [c.as_dict() for c in costs]}
        (args.out / "releases-cost.json").write_text(json.dumps(record, indent=2) + "\n")
        (args.out / "releases-cost.md").write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
