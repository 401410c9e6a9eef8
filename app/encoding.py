"""Pure image encoders: uint8 arrays in, PNG/GIF bytes out. Run in a thread pool, off the event loop
(Pillow releases the GIL while it resizes and compresses, so threads do run in parallel)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from app.formats import FORMATS, ImageFormat
from gan.imaging import resize, tile_grid


def _upscale(image: np.ndarray, size: int) -> Image.Image:
    """To the size asked for: a 64 px avatar enlarged, or an upscaler's output brought to size (Lanczos)."""
    return resize(image, size)


def _png(image: Image.Image, level: int) -> bytes:
    return FORMATS["png"].encode(image, None, level)  # the one PNG writer, app/formats.py


def encode_avatar(image: np.ndarray, size: int, fmt: ImageFormat, quality: int | None, png_level: int) -> bytes:
    """One avatar in any served format (app/formats.py)."""
    return fmt.encode(_upscale(image, size), quality, png_level)


def encode_png(image: np.ndarray, size: int, level: int = 6) -> bytes:
    """One H x W x 3 avatar as a size x size PNG."""
    return encode_avatar(image, size, FORMATS["png"], None, level)


def _tiles(images: np.ndarray, size: int) -> np.ndarray:
    if images.shape[1] == size:
        return images
    return np.stack([np.asarray(_upscale(image, size)) for image in images])


def encode_grid(images: np.ndarray, size: int, columns: int | None, level: int = 6) -> bytes:
    """N avatars, each size x size, row-major in `columns` columns with a thin dark border."""
    return _png(Image.fromarray(tile_grid(_tiles(images, size), columns)), level)


def encode_strip(images: np.ndarray, size: int, level: int = 6) -> bytes:
    """Frames side by side without gaps: frame i is the box [i*size, (i+1)*size) x [0, size)."""
    return _png(Image.fromarray(tile_grid(_tiles(images, size), columns=len(images), padding=0)), level)


def encode_gif(images: np.ndarray, size: int, frame_ms: int, boomerang: bool = True) -> bytes:
    """Animated GIF, looping forever; `boomerang` plays back to the start so the loop has no jump.

    One palette serves every frame: it is chosen once, from the frames at the model's resolution
    (the colours are all there; upscaling adds only blends of them), and each upscaled frame is then
    mapped onto it. That is several times cheaper than a median cut per large frame (see
    docs/benchmarks.md), and a shared palette cannot flicker from frame to frame.
    """
    mosaic = Image.fromarray(tile_grid(images, columns=len(images), padding=0))
    # octree over median cut: faster here and closer to the true colours (python -m bench.encoders)
    palette = mosaic.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    frames = [_upscale(image, size).quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    if boomerang and len(frames) > 2:
        frames += frames[-2:0:-1]  # the same frame objects: nothing is encoded twice before saving
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return buffer.getvalue()
