"""Generator output to pictures: uint8 conversion and grid tiling, shared by training and the service."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """G's tanh range [-1, 1] -> uint8 [0, 255], rounding to nearest; keeps device and NCHW layout."""
    return images.float().add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def to_hwc(images: torch.Tensor) -> np.ndarray:
    """uint8 N x 3 x H x W tensor -> N x H x W x 3 numpy array on the CPU, the layout PIL wants."""
    return images.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def resize(image: np.ndarray, size: int) -> Image.Image:
    """An H x W x 3 avatar as a size x size picture, with Lanczos where the size differs: sharp edges
    without nearest-neighbour's blocks when enlarging, no aliasing when an upscaler's output shrinks."""
    pil = Image.fromarray(image)
    if pil.width != size:
        pil = pil.resize((size, size), Image.Resampling.LANCZOS)
    return pil


def grid_columns(n: int) -> int:
    """Columns of the near-square grid for n tiles (25 -> 5, 26 -> 6)."""
    return max(1, math.ceil(math.sqrt(n)))


GRID_PADDING = 2  # px around each tile of a grid


def tile_grid(tiles: np.ndarray, columns: int | None = None, padding: int = GRID_PADDING, fill: int = 24) -> np.ndarray:
    """Lay N x H x W x 3 tiles out row by row, `padding` px of grey `fill` around each; returns H' x W' x 3."""
    n, h, w, c = tiles.shape
    columns = min(columns or grid_columns(n), n)
    rows = math.ceil(n / columns)
    out = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding, c), fill, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, col = divmod(i, columns)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        out[y : y + h, x : x + w] = tile
    return out
