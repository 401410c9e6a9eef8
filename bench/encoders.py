"""`python -m bench.encoders`: what one interpolation or grid costs on this machine, stage by stage.

The service caps the work of one request at `AVATARS_MAX_REQUEST_PIXELS` (images x size^2); this
measures what a request at and around that cap costs (render, then PNG strip or GIF), and the GIF
encoder against the one it replaced (a median-cut palette per upscaled frame), on frames of the
shipped generator. One process, one thread for torch, the encoders as the service runs them.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from app.config import Settings
from app.encoding import _upscale, encode_gif, encode_grid, encode_strip
from app.inference import AvatarModel
from bench.__main__ import default_checkpoint
from bench.report import table
from gan.latents import interpolate, seed_latent, seeds_latents

LEVEL: int = Settings.model_fields["png_compress_level"].default
LIMIT: int = Settings.model_fields["max_request_pixels"].default


def per_frame_palette_gif(images: np.ndarray, size: int, frame_ms: int) -> bytes:
    """The encoder before the shared palette: every upscaled frame quantised on its own."""
    frames = [_upscale(image, size) for image in images]
    if len(frames) > 2:
        frames += frames[-2:0:-1]
    palette_frames = [f.quantize(colors=256, method=Image.Quantize.MEDIANCUT) for f in frames]
    buffer = io.BytesIO()
    palette_frames[0].save(
        buffer, format="GIF", save_all=True, append_images=palette_frames[1:], duration=frame_ms, loop=0
    )
    return buffer.getvalue()


def timed(work: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Best of `repeats` wall times, in ms (the least disturbed run), and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best * 1000, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.encoders", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=default_checkpoint())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = AvatarModel.load(args.weights, device="cpu")
    dim = model.latent_dim
    rows = []
    for steps, size in ((8, 128), (16, 256), (64, 128), (64, 256)):
        latents = interpolate(seed_latent(1, dim), seed_latent(2, dim), steps, "slerp")
        render_ms, images = timed(lambda z=latents: model.render(z), args.repeats)
        strip_ms, strip = timed(lambda i=images, s=size: encode_strip(i, s, LEVEL), args.repeats)
        gif_ms, gif = timed(lambda i=images, s=size: encode_gif(i, s, 120), args.repeats)
        old_ms, old = timed(lambda i=images, s=size: per_frame_palette_gif(i, s, 120), args.repeats)
        pixels = steps * size * size
        rows.append([
            f"interpolation {steps} x {size} px", f"{pixels:,}", "yes" if pixels <= LIMIT else "no (422)",
            f"{render_ms:.0f}", f"{strip_ms:.0f} ({len(strip) // 1024} KiB)",  # type: ignore[arg-type]
            f"{gif_ms:.0f} ({len(gif) // 1024} KiB)", f"{old_ms:.0f} ({len(old) // 1024} KiB)",  # type: ignore[arg-type]
            f"{old_ms / gif_ms:.1f}x",
        ])  # fmt: skip
    for n, size in ((25, 64), (256, 64), (256, 128), (256, 256)):
        latents = seeds_latents(range(n), dim)
        render_ms, images = timed(lambda z=latents: model.render(z), args.repeats)
        grid_ms, grid = timed(lambda i=images, s=size: encode_grid(i, s, None, LEVEL), args.repeats)
        pixels = n * size * size
        rows.append([
            f"grid {n} x {size} px", f"{pixels:,}", "yes" if pixels <= LIMIT else "no (422)", f"{render_ms:.0f}",
            f"{grid_ms:.0f} ({len(grid) // 1024} KiB)", "-", "-", "-",  # type: ignore[arg-type]
        ])  # fmt: skip
    header = [
        "request", "pixels", f"allowed (limit {LIMIT:,})", "render ms", "PNG ms (size)", "GIF ms (size)",
        "old GIF ms (size)", "GIF speed-up",
    ]  # fmt: skip
    print(f"weights {args.weights}, 1 torch thread, best of {args.repeats}\n")
    print(table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
