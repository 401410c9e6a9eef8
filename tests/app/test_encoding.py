"""The pure image encoders and the grid tiler: what each byte stream decodes to."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from app.encoding import encode_gif, encode_grid, encode_png, encode_strip
from bench.encoders import per_frame_palette_gif
from gan.imaging import GRID_PADDING, tile_grid


def faces(n: int, side: int = 16, seed: int = 0) -> np.ndarray:
    """Smooth colour fields, one per frame, that change from frame to frame like an interpolation."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n, 4, 4, 3)).astype(np.uint8)
    return np.stack([np.asarray(Image.fromarray(b).resize((side, side), Image.Resampling.BILINEAR)) for b in base])


def gif_frames(data: bytes) -> list[np.ndarray]:
    gif = Image.open(io.BytesIO(data))
    out = []
    for i in range(gif.n_frames):
        gif.seek(i)
        out.append(np.asarray(gif.convert("RGB")))
    return out


def _error(frames: list[np.ndarray], images: np.ndarray, size: int) -> float:
    expected = [np.asarray(Image.fromarray(i).resize((size, size), Image.Resampling.LANCZOS)) for i in images]
    return float(np.mean([np.abs(f.astype(int) - e).mean() for f, e in zip(frames, expected, strict=False)]))


def test_gif_frames_are_the_upscaled_frames_in_a_boomerang() -> None:
    images = faces(5)
    frames = gif_frames(encode_gif(images, 64, frame_ms=50))
    assert len(frames) == 8  # 0 1 2 3 4 3 2 1
    order = [0, 1, 2, 3, 4, 3, 2, 1]
    for shown, source in zip(frames, order, strict=True):
        nearest = min(range(5), key=lambda j: _error([shown], images[j : j + 1], 64))
        assert nearest == source
    # one palette for every frame costs some colour accuracy against a palette per frame (the
    # encoder it replaced), but not much: within 2x of its mean error, on colours chosen to be hard
    shared = _error(frames, images[order], 64)
    per_frame = _error(gif_frames(per_frame_palette_gif(images, 64, 50)), images[order], 64)
    assert shared < 2 * per_frame, (shared, per_frame)


def test_gif_shares_one_palette_across_frames() -> None:
    gif = Image.open(io.BytesIO(encode_gif(faces(6), 32, frame_ms=50)))
    palettes = set()
    for i in range(gif.n_frames):
        gif.seek(i)
        palettes.add(bytes(gif.getpalette() or []))  # empty: the frame uses the global palette
    assert len(palettes - {b""}) == 1


def test_png_and_strip_are_lossless() -> None:
    images = faces(3, side=64)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(images[0], 64)))), images[0])
    strip = np.asarray(Image.open(io.BytesIO(encode_strip(images, 64))))
    assert strip.shape == (64, 3 * 64, 3)
    for i in range(3):
        assert np.array_equal(strip[:, i * 64 : (i + 1) * 64], images[i])


def test_grid_places_every_tile_in_its_cell() -> None:
    images = faces(5, side=64)
    grid = np.asarray(Image.open(io.BytesIO(encode_grid(images, 64, columns=2))))
    step = 64 + GRID_PADDING
    assert grid.shape == (3 * step + GRID_PADDING, 2 * step + GRID_PADDING, 3)
    for i in range(5):
        row, col = divmod(i, 2)
        y, x = GRID_PADDING + row * step, GRID_PADDING + col * step
        assert np.array_equal(grid[y : y + 64, x : x + 64], images[i])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 30),
    side=st.integers(1, 9),
    columns=st.one_of(st.none(), st.integers(1, 40)),
    padding=st.integers(0, 3),
)
def test_tile_grid_keeps_every_tile_and_only_pads_around_them(
    n: int, side: int, columns: int | None, padding: int
) -> None:
    tiles = np.random.default_rng(n * 100 + side).integers(0, 200, (n, side, side, 3)).astype(np.uint8)
    grid = tile_grid(tiles, columns, padding=padding, fill=255)
    cols = grid.shape[1] // (side + padding)
    rows = grid.shape[0] // (side + padding)
    assert grid.shape == (rows * (side + padding) + padding, cols * (side + padding) + padding, 3)
    assert cols * rows >= n and (rows - 1) * cols < n  # no empty row
    if columns is not None:
        assert cols == min(columns, n)
    seen = np.zeros(grid.shape[:2], dtype=bool)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = padding + r * (side + padding), padding + c * (side + padding)
        assert np.array_equal(grid[y : y + side, x : x + side], tiles[i])
        seen[y : y + side, x : x + side] = True
    assert (grid[~seen] == 255).all()  # everything else is border or empty cells
