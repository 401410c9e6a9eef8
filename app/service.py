"""The running service: releases, batching queue, encoder pool and metrics, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from starlette.requests import Request

from app.batching import BatchQueue, LaneLimits
from app.config import Settings
from app.encoder_pool import EncoderPool
from app.encoding import encode_avatar, encode_png
from app.formats import FORMATS, ImageFormat
from app.metrics import ServiceMetrics
from app.releases import ReleaseRegistry, ServedRelease
from app.work_admission import WorkMeter
from gan.latents import seeds_latents

logger = logging.getLogger(__name__)


class ClientDisconnected(Exception):
    """The client went away while its images were queued; nothing is sent back."""


async def _client_gone(request: Request) -> None:
    """Return once the server reports that the client disconnected."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _timed_rate(render: Callable[[torch.Tensor], np.ndarray], rows: torch.Tensor) -> float:
    """Rows per second of one call, off the event loop."""
    started = time.perf_counter()
    await asyncio.to_thread(render, rows)
    return len(rows) / max(time.perf_counter() - started, 1e-6)


class AvatarService:
    def __init__(self, settings: Settings, releases: ReleaseRegistry, metrics: ServiceMetrics) -> None:
        self.settings = settings
        self.releases = releases
        self.metrics = metrics
        # one lane per release: a batch never mixes generators, and releases take turns; a release with
        # an upscaler has a second lane for it, with its own (smaller) batch and bound
        hd = LaneLimits(settings.upscale_batch_size, settings.upscale_queue_max_images)
        self.queue = BatchQueue(
            {
                **{name: served.model.render for name, served in releases.served.items()},
                **{lane: upscaler.render for lane, upscaler in releases.upscalers.items()},
            },
            max_batch_size=settings.max_batch_size,
            max_wait_s=settings.max_wait_ms / 1000,
            max_pending_rows=settings.queue_max_images,
            timeout_s=settings.request_timeout_s,
            observer=metrics,
            lane_limits=dict.fromkeys(releases.upscalers, hd),
            cheap_first_after_s=settings.queue_wait_budget_s or None,
        )
        self.work = WorkMeter(settings.queue_wait_budget_s)
        self.encoder = EncoderPool(settings.encode_threads)
        self.ready = False
        # every lane's series: a release's (`v3`) and its upscaler's (`v3/hd`)
        metrics.track_releases(self.queue.lanes, self.queue.lane_pending_rows)

    async def start(self) -> None:
        """Warm up every release (a full batch and one encode), start the batch worker, then report ready."""
        if self.settings.warmup:
            for served in self.releases.served.values():
                images = await asyncio.to_thread(served.model.warmup_images, self.settings.max_batch_size)
                # one more full batch, timed: each lane's rate for Retry-After before traffic measures it
                latents = seeds_latents(range(self.settings.max_batch_size), served.model.latent_dim)
                self.queue.seed_rate(served.name, await _timed_rate(served.model.render, latents))
                if served.upscaler is not None:
                    rows = torch.from_numpy(images[: self.settings.upscale_batch_size])
                    await asyncio.to_thread(served.upscaler.render, rows[:1])
                    self.queue.seed_rate(served.hd_lane, await _timed_rate(served.upscaler.render, rows))
            started = time.perf_counter()
            await self.encode(encode_png, images[0], 256, self.settings.png_compress_level, work=256 * 256)
            # until traffic measures it: one encoder's rate (the generator's share is a fraction of that)
            self.work.rate_px_s = self.work.rate_px_s or 256 * 256 / max(time.perf_counter() - started, 1e-6)
        self.queue.start()
        self.ready = True
        logger.info(
            "ready: releases %s (default %s), max batch %d",
            ", ".join(self.releases.names),
            self.releases.default.name,
            self.settings.max_batch_size,
        )

    async def stop(self) -> None:
        """Refuse new work, let queued work finish, then release the threads."""
        self.ready = False
        await self.queue.close(self.settings.shutdown_timeout_s)
        self.encoder.shutdown(wait=True)
        logger.info("stopped")

    async def draw(
        self, served: ServedRelease, latents: torch.Tensor, size: int, request: Request | None = None
    ) -> np.ndarray:
        """The avatars of `latents` as they are served at `size` px: the generator's 64 px images, then
        the release's upscaler where it draws that size (the encoder resizes whatever is left)."""
        images = await self.render(served.name, latents, request)
        return await self.upscale(served, images, size, request)

    async def upscale(
        self, served: ServedRelease, images: np.ndarray, size: int, request: Request | None = None
    ) -> np.ndarray:
        """64 px avatars through the release's HD lane where it upscales `size`; else unchanged."""
        if not served.upscales(size):
            return images
        return await self.render(served.hd_lane, torch.from_numpy(images), request)

    async def render(self, lane: str, rows: torch.Tensor, request: Request | None = None) -> np.ndarray:
        """Images of one lane (a release's generator, or its HD upscaler) through the batching queue; if
        `request`'s client disconnects first, its queued rows are dropped and `ClientDisconnected` is raised."""
        if request is None:
            return await self.queue.generate(rows, lane)
        work = asyncio.ensure_future(self.queue.generate(rows, lane))
        gone = asyncio.ensure_future(_client_gone(request))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work  # the queue counts the rows it drops
            raise ClientDisconnected
        return work.result()

    async def encode(self, fn: Callable[..., bytes], *args: Any, work: int) -> bytes:
        """`fn(*args)` on an encoder thread; `work` (pixels written) orders the queue, smallest first."""
        return await asyncio.wrap_future(self.encoder.submit(work, functools.partial(fn, *args)))

    async def encode_each(
        self, images: np.ndarray, size: int, fmt: ImageFormat = FORMATS["png"], quality: int | None = None
    ) -> list[bytes]:
        """One file per image in `fmt`, encoded in parallel."""
        level = self.settings.png_compress_level
        return list(
            await asyncio.gather(
                *(self.encode(encode_avatar, image, size, fmt, quality, level, work=size * size) for image in images)
            )
        )
