"""What the hardware allows without HTTP: the ceilings the service's throughput is a fraction of.

Both run the service's own inference path (`AvatarModel`: folded batch norms, inference mode,
uint8 conversion, the NHWC copy) in this process, before any server is started, so they compete
with nothing the benchmark controls.

- `generator_ceiling`: forward passes over a grid of batch sizes and torch thread counts.
- `pipeline_ceiling`: latents drawn per seed, the forward pass, and one PNG per image encoded
  by a thread pool while the next batch is computed, the same overlap the service has.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from app.encoding import encode_png
from app.inference import AvatarModel
from gan.latents import seeds_latents

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CeilingPoint:
    threads: int
    batch_size: int
    images_per_s: float
    forward_passes_per_s: float
    encode_threads: int = 0  # 0: no encoding (generator alone)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _timed(step: Callable[[], object], seconds: float, min_iterations: int = 3) -> tuple[int, float]:
    """Run `step()` until `seconds` have passed (and at least `min_iterations` times); (iterations, seconds)."""
    iterations, started = 0, time.perf_counter()
    while iterations < min_iterations or time.perf_counter() - started < seconds:
        step()
        iterations += 1
    return iterations, time.perf_counter() - started


def generator_ceiling(
    model: AvatarModel, batch_sizes: list[int], threads: list[int], seconds: float
) -> list[CeilingPoint]:
    """Images per second of `model.render` at each (threads, batch size)."""
    points = []
    original = torch.get_num_threads()
    try:
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            for batch_size in batch_sizes:
                latents = seeds_latents(range(batch_size), model.latent_dim)
                model.render(latents)  # first call: allocator and kernel selection, not measured
                iterations, elapsed = _timed(lambda z=latents: model.render(z), seconds)
                point = CeilingPoint(n_threads, batch_size, iterations * batch_size / elapsed, iterations / elapsed)
                logger.info("generator: %s", point)
                points.append(point)
    finally:
        torch.set_num_threads(original)
    return points


def pipeline_ceiling(
    model: AvatarModel, *, batch_size: int, threads: int, encode_threads: int, png_level: int, seconds: float
) -> CeilingPoint:
    """Images per second from seeds to PNG bytes: one generator thread, `encode_threads` encoders."""
    original = torch.get_num_threads()
    torch.set_num_threads(threads)
    seeds = iter(range(10**12))
    pending: list[Future[bytes]] = []
    try:
        with ThreadPoolExecutor(encode_threads, thread_name_prefix="encode") as pool:

            def step() -> None:
                nonlocal pending
                images = model.render(seeds_latents([next(seeds) for _ in range(batch_size)], model.latent_dim))
                for future in pending:  # the previous batch was encoded while this one was computed
                    future.result()
                pending = [pool.submit(encode_png, image, model.resolution, png_level) for image in images]

            step()  # warm-up batch, encoded before the clock starts
            for future in pending:
                future.result()
            pending = []
            started = time.perf_counter()
            iterations, _ = _timed(step, seconds)
            for future in pending:  # the last batch's PNGs count, so their time does too
                future.result()
            elapsed = time.perf_counter() - started
    finally:
        torch.set_num_threads(original)
    point = CeilingPoint(threads, batch_size, iterations * batch_size / elapsed, iterations / elapsed, encode_threads)
    logger.info("generator + PNG: %s", point)
    return point


def measure_ceilings(
    weights: Path,
    *,
    batch_sizes: list[int],
    threads: list[int],
    encode_threads: int,
    png_level: int,
    seconds: float,
) -> dict[str, Any]:
    """Both ceilings; the pipeline runs at the generator's best batch size, with each thread count."""
    model = AvatarModel.load(weights, device="cpu")
    grid = generator_ceiling(model, batch_sizes, threads, seconds)
    best = max(grid, key=lambda p: p.images_per_s)
    pipeline = [
        pipeline_ceiling(
            model,
            batch_size=best.batch_size,
            threads=n_threads,
            encode_threads=encode_threads,
            png_level=png_level,
            seconds=seconds,
        )
        for n_threads in threads
    ]
    return {
        "generator": [p.as_dict() for p in grid],
        "generator_best": best.as_dict(),
        "pipeline": [p.as_dict() for p in pipeline],
        "pipeline_best": max(pipeline, key=lambda p: p.images_per_s).as_dict(),
    }
