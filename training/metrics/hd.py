"""How well an upscaler draws HD avatars: consistency with the 64 px avatar, sharpness, faces.

Three measures, each against plain Lanczos enlargement of the same 64 px avatars at the same size:
- consistency: the HD image box-downscaled back to 64 px against the 64 px avatar (PSNR, dB, the
  mean over avatars). An upscaler may add detail, but should not move what the generator drew; a
  low value means it repainted the face (Lanczos, which only interpolates, sets the ceiling).
- sharpness: the mean gradient magnitude of the HD image's luma, per pixel at that size, in levels.
  Lanczos blurs, so its value is the floor an upscaler should clear.
- face rate: the share of HD images where the anime-face cascade (the one that cropped the training
  faces) still finds a face; an upscaler that breaks faces shows here before anyone looks.

Pure functions on uint8 N x H x W x 3 arrays; `compare` runs them for several upscalers and sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gan.imaging import resize
from gan.upscaler import Upscaler

Upscale = Callable[[np.ndarray], np.ndarray]  # (N, 64, 64, 3) uint8 -> (N, s, s, 3) uint8
LANCZOS = "lanczos"


def box_down(images: np.ndarray, side: int) -> np.ndarray:
    """Area-average N x H x W x 3 images down to side x side (H a multiple of side), rounded to uint8."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    small = F.avg_pool2d(x, images.shape[1] // side)
    return small.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB of two uint8 batches (identical images: capped at 100 dB)."""
    err = ((a.astype(np.float32) - b.astype(np.float32)) ** 2).reshape(len(a), -1).mean(axis=1, dtype=np.float64)
    return np.where(err > 0, 10 * np.log10(255.0**2 / np.maximum(err, 1e-12)), 100.0)


def sharpness(images: np.ndarray) -> np.ndarray:
    """Per-image mean gradient magnitude of the luma (central differences), in levels per pixel."""
    luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    gy, gx = np.gradient(luma, axis=(1, 2))
    return np.sqrt(gx**2 + gy**2).reshape(len(images), -1).mean(axis=1)


def at_size(images: np.ndarray, size: int) -> np.ndarray:
    """What the service sends at `size`: each image resized with Lanczos where it is not that size."""
    if images.shape[1] == size:
        return images
    return np.stack([np.asarray(resize(image, size)) for image in images])


def upscaling(upscaler: Upscaler) -> Upscale:
    """An upscaler as `compare` calls it, uint8 arrays in and out (`compare` hands it 64 at a time)."""
    return lambda avatars: upscaler.render(torch.from_numpy(avatars))


def compare(
    avatars: np.ndarray,
    upscalers: Mapping[str, Upscale],
    sizes: Sequence[int],
    face_found: Callable[[np.ndarray], np.ndarray] | None = None,
    chunk: int = 64,
) -> list[dict[str, Any]]:
    """One row per (size, method): Lanczos first, then each upscaler, its output brought to the size
    as the service does. `face_found` (a FaceDetector's `detect`) is optional: tests run without the
    cascade. Works through the avatars `chunk` at a time: 1,000 at 512 px would be gigabytes."""
    side = avatars.shape[1]
    names = [LANCZOS, *upscalers]
    values: dict[tuple[int, str], dict[str, list[np.ndarray]]] = {
        (size, name): {"consistency_psnr_db": [], "sharpness": [], "face_rate": []} for size in sizes for name in names
    }
    for start in range(0, len(avatars), chunk):
        small = avatars[start : start + chunk]
        drawn = {LANCZOS: small, **{name: up(small) for name, up in upscalers.items()}}
        for size in sizes:
            for name, images in drawn.items():
                shown = at_size(images, size)
                found = values[(size, name)]
                found["consistency_psnr_db"].append(psnr(box_down(shown, side), small))
                found["sharpness"].append(sharpness(shown))
                if face_found is not None:
                    found["face_rate"].append(face_found(shown).astype(np.float64))
    rows = []
    for (size, name), found in values.items():
        row: dict[str, Any] = {"size": size, "method": name}
        row |= {key: float(np.concatenate(v).mean()) for key, v in found.items() if v}
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as one table, sizes grouped, for docs and the release check."""
    faces = all("face_rate" in r for r in rows)
    head = "| size | method | consistency (dB) | sharpness |" + (" face rate |" if faces else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        line = f"| {r['size']} | {r['method']} | {r['consistency_psnr_db']:.2f} | {r['sharpness']:.2f} |"
        lines.append(line + (f" {r['face_rate']:.3f} |" if faces else ""))
    return "\n".join(lines) + "\n"
