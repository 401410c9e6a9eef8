"""Pictures of a run: sample grids, the evolution GIF, the loss plot, comparison sheets, interpolation strips."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from gan.imaging import tile_grid
from training.run_folder import read_jsonl


def save_png(array: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, optimize=True)
    return path


def _label(image: Image.Image, text: str) -> Image.Image:
    """A caption band above the image, in the default bitmap font (no font files needed)."""
    band = 14
    out = Image.new("RGB", (image.width, image.height + band), (24, 24, 24))
    out.paste(image, (0, band))
    ImageDraw.Draw(out).text((4, 1), text, fill=(235, 235, 235))
    return out


def evolution_gif(
    frames: Sequence[Path],
    out: Path,
    *,
    max_frames: int = 40,
    scale: float = 1.0,
    frame_ms: int = 250,
    box: tuple[int, int, int, int] | None = None,
) -> Path | None:
    """Animate the per-epoch grids, each captioned with its file stem; the last frame lingers.

    `box` crops every grid first (left, top, right, bottom): a corner of a grid keeps faces at full
    size in a file small enough for docs, where shrinking the whole grid would blur them.
    """
    if not frames:
        return None
    if len(frames) > max_frames:  # keep the first and last, spread the rest evenly
        idx = np.linspace(0, len(frames) - 1, max_frames).round().astype(int)
        frames = [frames[i] for i in sorted(set(idx))]
    images = []
    for path in frames:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if box is not None:
                im = im.crop(box)
            if scale != 1.0:
                im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
            images.append(_label(im, path.stem).quantize(colors=255, method=Image.Quantize.MEDIANCUT))
    durations = [frame_ms] * (len(images) - 1) + [frame_ms * 8]
    out.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(out, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)
    return out


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < window or window <= 1:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def loss_plot(stats_path: Path, out: Path, metrics_path: Path | None = None) -> Path | None:
    """Losses, D outputs and (when measured) the face-detection rate against training steps."""
    if not stats_path.is_file():
        return None
    rows = read_jsonl(stats_path)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in read_jsonl(metrics_path) if "face_rate" in m] if metrics_path is not None else []
    panels = 3 if metrics else 2
    fig, axes = plt.subplots(panels, 1, figsize=(8, 2.6 * panels), sharex=True)
    window = max(1, len(rows) // 50)
    panels_keys = [
        (axes[0], "loss", (("loss_d", "D loss"), ("loss_g", "G loss"))),
        (axes[1], "D output", (("d_real", "D(x)"), ("d_fake", "D(G(z))"))),
    ]
    for axis, ylabel, keys in panels_keys:
        for key, label in keys:
            have = [r for r in rows if key in r]  # D is not updated on every step in some recipes
            if have:
                values = _smooth(np.array([r[key] for r in have]), window)
                steps = np.array([r["step"] for r in have])
                axis.plot(steps[len(steps) - len(values) :], values, label=label)
        axis.set_ylabel(ylabel)
        axis.legend(loc="upper right")
    if metrics:
        axes[2].plot([m["step"] for m in metrics], [m["face_rate"] for m in metrics], "o-", label="generated")
        real = metrics[-1].get("real_face_rate")
        if real is not None:
            axes[2].axhline(real, color="grey", linestyle="--", label="real images")
        axes[2].set_ylabel("face detection rate")
        axes[2].set_ylim(0, 1)
        axes[2].legend(loc="lower right")
    axes[-1].set_xlabel("step")
    fig.suptitle(f"training curves ({stats_path.parent.name})", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def comparison_sheet(real: np.ndarray, generated: np.ndarray, out: Path, columns: int = 8) -> Path:
    """Real images on the left, generated on the right, captioned, same tiling and count."""
    n = min(len(real), len(generated))
    left = _label(Image.fromarray(tile_grid(real[:n], columns)), "real (training data)")
    right = _label(Image.fromarray(tile_grid(generated[:n], columns)), "generated")
    sheet = Image.new("RGB", (left.width + right.width + 8, max(left.height, right.height)), (24, 24, 24))
    sheet.paste(left, (0, 0))
    sheet.paste(right, (left.width + 8, 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    return out


def interpolation_strips(rows: np.ndarray, out: Path) -> Path:
    """rows: R x S x H x W x 3, one latent walk per row."""
    r, s = rows.shape[:2]
    return save_png(tile_grid(rows.reshape(r * s, *rows.shape[2:]), columns=s), out)
