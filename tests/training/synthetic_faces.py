"""Synthetic cartoon faces and a tiny encoder recipe: what the metric tests train and score on,
since tests never read the real data set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from training.metrics.encoder import EncoderRecipe

# a few seconds of training on one thread: enough to separate faces from noise; a 64-bin palette, as
# 48 faces cannot fill the covariance of 512 bins
TINY_RECIPE = EncoderRecipe(
    channels=(8, 16, 16, 16), projection_dim=16, steps=25, batch_size=32, holdout=48, palette_levels=4
)


def synthetic_faces(count: int, seed: int = 0, side: int = 64) -> torch.Tensor:
    """Cartoon faces: a skin disc with two eyes and a hair band on a flat background, all smooth
    shapes, so that blur and noise change them the way they change drawn faces."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    images = np.empty((count, side, side, 3), dtype=np.uint8)
    for i in range(count):
        image = np.empty((side, side, 3), dtype=np.float32)
        image[:] = rng.integers(40, 220, 3)
        cy, cx, r = side / 2 + rng.normal(0, 3), side / 2 + rng.normal(0, 3), side * rng.uniform(0.28, 0.36)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = rng.integers(180, 255, 3)
        image[(yy < cy - r * rng.uniform(0.3, 0.6)) & ((yy - cy) ** 2 + (xx - cx) ** 2 < (1.15 * r) ** 2)] = (
            rng.integers(0, 255, 3)
        )
        eye_colour, eye_r = rng.integers(0, 160, 3), r * rng.uniform(0.12, 0.2)
        for dx in (-0.4, 0.4):
            image[(yy - cy) ** 2 + (xx - (cx + dx * r)) ** 2 < eye_r**2] = eye_colour
        images[i] = image
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def save_faces(folder: Path, count: int, seed: int) -> Path:
    """`count` synthetic faces as PNG files in `folder`, for commands that read a data folder."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(synthetic_faces(count, seed=seed).permute(0, 2, 3, 1).numpy()):
        Image.fromarray(image).save(folder / f"face-{i:03d}.png")
    return folder
