"""HD avatars under load: each upscaler against Lanczos on one server, its ceiling, and a flood.

For each upscaler, one server holds two releases of the same generator: `hd` with the upscaler
(128-512 px) and `plain` without it (Lanczos), so every ratio below comes from one process in one
run. Measured there: one-seed `GET /models/{release}/avatars/{seed}.png?size=S` at each size and
concurrency (avatars/s, p50, p99), and `hd` flooded at `flood_size` px by many clients while one
client asks `plain` at 64 px (an HD flood must not starve 64 px requests of another release).
Before any server starts, the upscaler alone: avatars/s at each batch size and thread count.

`python -m bench.hd` runs this stage alone (minutes); `python -m bench` runs it after the others.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.ceilings import _timed
from bench.http import HttpRequest, loopback_client
from bench.load import Scenario, Summary, closed_loop
from bench.report import hd_tables
from bench.servers import our_service, release_folder
from gan.releases import add_upscaler, read_manifest
from gan.upscaler import Upscaler, pick_upscaler_dtype

logger = logging.getLogger(__name__)

HD, PLAIN = "hd", "plain"


@dataclass(frozen=True)
class HdConfig:
    weights: Path
    upscalers: tuple[tuple[str, Path], ...]  # (label, upscaler file)
    sizes: tuple[int, ...] = (64, 128, 256, 512)
    concurrencies: tuple[int, ...] = (1, 32)
    seconds: float = 5.0
    warmup_s: float = 1.0
    max_requests: int = 50_000
    flood_concurrency: int = 64
    flood_size: int = 512
    ceiling_batch_sizes: tuple[int, ...] = (1, 4, 8, 16, 32)
    ceiling_threads: tuple[int, ...] = tuple(sorted({1, os.cpu_count() or 1}))
    ceiling_seconds: float = 2.0
    log_dir: Path = Path("runs/bench/logs")


def quick(config: HdConfig) -> HdConfig:
    """A smoke-sized plan: every scenario for a fraction of a second."""
    return replace(
        config,
        sizes=(64, 256),
        concurrencies=(2,),
        seconds=0.3,
        warmup_s=0.1,
        max_requests=50,
        flood_concurrency=4,
        flood_size=256,
        ceiling_batch_sizes=(1, 2),
        ceiling_threads=(1,),
        ceiling_seconds=0.05,
    )


def avatar(release: str, size: int) -> Callable[[int], HttpRequest]:
    def factory(i: int) -> HttpRequest:
        return HttpRequest("GET", f"/models/{release}/avatars/{i}.png", params={"size": size}, expect="image/png")

    return factory


def upscaler_ceiling(file: Path, batch_sizes: tuple[int, ...], threads: tuple[int, ...], seconds: float) -> list[dict]:
    """Avatars per second of the upscaler alone (the service's dtype choice), at each thread count and batch size."""
    cpu = torch.device("cpu")
    upscaler = Upscaler.load(file, cpu, pick_upscaler_dtype("auto", cpu))
    rows = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (max(batch_sizes), 64, 64, 3), dtype=np.uint8))
    original, points = torch.get_num_threads(), []
    try:
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            for batch in batch_sizes:
                upscaler.render(rows[:batch])  # kernel selection, not measured
                iterations, elapsed = _timed(lambda b=batch: upscaler.render(rows[:b]), seconds, min_iterations=2)
                points.append(
                    {
                        "threads": n_threads,
                        "batch_size": batch,
                        "avatars_per_s": iterations * batch / elapsed,
                        "dtype": str(upscaler.dtype).removeprefix("torch."),
                    }
                )
                logger.info("upscaler %s: %s", file.name, points[-1])
    finally:
        torch.set_num_threads(original)
    return points


def _measure(port: int, scenario: Scenario, config: HdConfig) -> Summary:
    async def go() -> Summary:
        async with loopback_client(port, scenario.concurrency, "raw") as client:
            return await closed_loop(
                client, scenario, seconds=config.seconds, max_requests=config.max_requests, warmup_s=config.warmup_s
            )

    summary = asyncio.run(go())
    logger.info(
        "%s c=%d: %.1f avatars/s, p99 %.0f ms",
        scenario.name,
        scenario.concurrency,
        summary.avatars_per_s,
        summary.p99_ms,
    )
    return summary


def _flood(port: int, config: HdConfig) -> tuple[Summary, Summary]:
    async def go() -> tuple[Summary, Summary]:
        flood = Scenario(
            f"{HD} {config.flood_size}px flood", avatar(HD, config.flood_size), 1, config.flood_concurrency
        )
        probe = Scenario(f"{PLAIN} 64px during the flood", avatar(PLAIN, 64), 1, 1)
        async with loopback_client(port, flood.concurrency, "raw") as a, loopback_client(port, 1, "raw") as b:
            kwargs = {"seconds": config.seconds, "max_requests": config.max_requests, "warmup_s": config.warmup_s}
            return await asyncio.gather(closed_loop(a, flood, **kwargs), closed_loop(b, probe, **kwargs))

    return asyncio.run(go())


def one_upscaler(config: HdConfig, label: str, file: Path, settings: dict[str, Any]) -> dict[str, Any]:
    folder = release_folder(config.weights, config.log_dir / f"hd-{label}-weights", (HD, PLAIN))
    add_upscaler(folder, HD, file, tuple(s for s in config.sizes if s > 64))
    rows = []
    with our_service(folder, config.log_dir, f"hd-{label}", settings) as server:
        for size in config.sizes:
            for release in (HD, PLAIN) if size <= 256 else (HD,):
                for c in config.concurrencies:
                    method = label if release == HD and size > 64 else "lanczos" if size > 64 else "generator only"
                    summary = _measure(
                        server.port, Scenario(f"{release} {size}px", avatar(release, size), 1, c), config
                    )
                    rows.append(
                        {
                            "upscaler": label,
                            "method": method,
                            "release": release,
                            "size": size,
                            "concurrency": c,
                            **summary.as_dict(),
                        }
                    )
        alone = _measure(server.port, Scenario(f"{PLAIN} 64px alone", avatar(PLAIN, 64), 1, 1), config)
        flooded, probed = _flood(server.port, config)
    return {
        "label": label,
        "file": str(file),
        "rows": rows,
        "flood": {
            "size": config.flood_size,
            "concurrency": config.flood_concurrency,
            "flooded": flooded.as_dict(),
            "plain_64_alone": alone.as_dict(),
            "plain_64_during": probed.as_dict(),
        },
    }


def hd_stage(config: HdConfig, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every upscaler's ceiling, then each on its own server (one at a time: they never share the CPU)."""
    ceilings = {
        label: upscaler_ceiling(file, config.ceiling_batch_sizes, config.ceiling_threads, config.ceiling_seconds)
        for label, file in config.upscalers
    }
    runs = [one_upscaler(config, label, file, dict(settings or {})) for label, file in config.upscalers]
    return {"ceilings": ceilings, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hd", description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", default=None, help="the release whose generator (and upscaler) to use")
    parser.add_argument(
        "--upscaler",
        action="append",
        default=[],
        metavar="LABEL=FILE",
        help="an upscaler to measure (default: the release's own)",
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="a smoke run: a fraction of a second per scenario")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    manifest = read_manifest(Path(__file__).resolve().parents[1] / "weights")
    release = manifest.get(args.release) if args.release else manifest.default
    if release is None:
        print(f"error: no release {args.release!r}", file=sys.stderr)
        return 2
    upscalers = [tuple(spec.split("=", 1)) for spec in args.upscaler]
    if not upscalers and release.upscaler is not None:
        upscalers = [(release.name, str(manifest.folder / release.upscaler.file))]
    if not upscalers or any(len(u) != 2 or not Path(u[1]).is_file() for u in upscalers):
        print("error: name upscalers as LABEL=FILE (existing files), or pick a release that has one", file=sys.stderr)
        return 2
    config = HdConfig(
        manifest.file_of(release),
        tuple((label, Path(file)) for label, file in upscalers),
        seconds=args.seconds,
        log_dir=args.out / "logs",
    )
    if args.quick:
        config = quick(config)
    result = hd_stage(config)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks-hd.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "benchmarks-hd.md").write_text(hd_tables(result))
    print(hd_tables(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
