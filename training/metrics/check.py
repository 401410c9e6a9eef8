"""Does each lens rank known degradations of real faces correctly? The calibration of both lenses.

Each variant is a pure function of held-out real faces (the `check` split, disjoint from the
reference set), scored in the first lens and, where given, the second on the same images. A lens
that can be trusted scores real faces near zero and each kind of damage worse the harder it is
(`SEVERITY_CHAINS`): blur to 32 then 16 px, JPEG at quality 10, 8 then 5, a collapse to 50 then 16
faces, and noise (uniform and gaussian, in either order) worst of all. The last row, training faces
themselves, is what a memorising generator would produce: FD cannot see it, the copy shares must.
"""

from __future__ import annotations

import io
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from training.metrics.distribution import (
    KEY_COPIES_P1,
    KEY_COPIES_P5,
    KEY_FD,
    KEY_FD_CONTENT,
    KEY_FD_PALETTE,
    KEY_KID,
    KEY_PRECISION,
    KEY_RECALL,
    DistributionReference,
)
from training.metrics.encoder import ENCODER_VERSION, EncoderRecipe, split_real
from training.metrics.sr_lens import KEY_COPIES_P1 as SR_COPIES_P1
from training.metrics.sr_lens import KEY_FD as SR_FD
from training.metrics.sr_lens import KEY_KID as SR_KID
from training.metrics.sr_lens import KEY_PRECISION as SR_PRECISION
from training.metrics.sr_lens import KEY_RECALL as SR_RECALL
from training.metrics.sr_lens import LENS_VERSION, SrReference

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------- degradations
def blur_to(images: torch.Tensor, side: int) -> torch.Tensor:
    """Down to side x side (area average) and back up (bilinear): detail finer than `side` px is gone."""
    small = F.interpolate(images.float(), size=(side, side), mode="area")
    big = F.interpolate(small, size=images.shape[-2:], mode="bilinear", align_corners=False)
    return big.round().clamp(0, 255).to(torch.uint8)


def jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    """Each image through a JPEG round trip at `quality` (Pillow)."""
    out = []
    for image in images.permute(0, 2, 3, 1).numpy():
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            out.append(np.asarray(decoded.convert("RGB")))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def repeat_faces(images: torch.Tensor, distinct: int) -> torch.Tensor:
    """As many images as given, but only the first `distinct` faces, repeated: a collapsed generator."""
    return images[torch.arange(len(images)) % distinct]


def uniform_noise(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, images.shape, generator=generator, dtype=torch.uint8)


def gaussian_noise(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Independent pixels around mid-grey (mean 127.5, std 64), clipped."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=generator) * 64 + 127.5
    return noise.round().clamp(0, 255).to(torch.uint8)


# the rows of the check (training faces aside), in table order
VARIANTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "real (held out)": lambda x: x,
    "blurred to 32 px": lambda x: blur_to(x, 32),
    "blurred to 16 px": lambda x: blur_to(x, 16),
    "JPEG quality 10": lambda x: jpeg(x, 10),
    "JPEG quality 8": lambda x: jpeg(x, 8),
    "JPEG quality 5": lambda x: jpeg(x, 5),
    "50 faces repeated": lambda x: repeat_faces(x, 50),
    "16 faces repeated": lambda x: repeat_faces(x, 16),
    "uniform noise": uniform_noise,
    "gaussian noise": gaussian_noise,
}
NOISE = ("uniform noise", "gaussian noise")
# What a lens must rank: along each chain every step scores strictly worse than every row of the step
# before. Only severities of one kind are ordered (is a hard JPEG worse than a 50-face collapse? a
# matter of taste, and the two lenses may fairly disagree); every chain starts at real faces and ends
# at noise, which every lens must find worst.
SEVERITY_CHAINS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("real (held out)",), ("blurred to 32 px",), ("blurred to 16 px",), NOISE),
    (("real (held out)",), ("JPEG quality 10",), ("JPEG quality 8",), ("JPEG quality 5",), NOISE),
    (("real (held out)",), ("50 faces repeated",), ("16 faces repeated",), NOISE),
)
MEMORISED = "training faces (copies)"


def run_check(
    ref: DistributionReference,
    images: torch.Tensor,
    recipe: EncoderRecipe,
    samples: int,
    second: SrReference | None = None,
) -> list[dict[str, Any]]:
    """One row per variant: the metrics of `samples` degraded check faces against the reference, in
    the first lens and, with `second`, in the second lens too (the same degraded images)."""
    check = ref.check_images[:samples]
    split = split_real(len(images), recipe.holdout, recipe.seed)
    memorised = images[split.train[:samples]]
    rows = []
    for name, degrade in [*VARIANTS.items(), (MEMORISED, lambda _: memorised)]:
        start = time.monotonic()
        degraded = degrade(check)
        scores = ref.score(degraded)
        if second is not None:
            scores |= second.score(degraded)
        rows.append({"variant": name, **scores, "seconds": round(time.monotonic() - start, 1)})
        logger.info(
            "%s: FD %.3f (content %.3f, palette %.3f) precision %.3f recall %.3f; second lens FD %s",
            name,
            scores[KEY_FD],
            scores[KEY_FD_CONTENT],
            scores[KEY_FD_PALETTE],
            scores[KEY_PRECISION],
            scores[KEY_RECALL],
            f"{scores[SR_FD]:.3f}" if SR_FD in scores else "-",
        )
    return rows


def ranks_in_order(rows: list[dict[str, Any]], key: str = KEY_FD) -> bool:
    """True where `key` rises strictly along every chain of SEVERITY_CHAINS (rows it lacks fail)."""
    values = {row["variant"]: row[key] for row in rows if key in row}

    def step(names: tuple[str, ...]) -> list[float]:
        return [values.get(name, float("nan")) for name in names]

    # a missing row gives NaN, and comparisons with NaN are False
    return all(max(step(a)) < min(step(b)) for chain in SEVERITY_CHAINS for a, b in itertools.pairwise(chain)) and all(
        v == v for v in values.values()
    )


def copies_flagged(rows: list[dict[str, Any]], key: str = KEY_COPIES_P1) -> bool:
    """Training faces read as copies (over half) and held-out real faces do not (under 5%)."""
    by = {row["variant"]: row for row in rows}
    return by[MEMORISED][key] > 0.5 and by["real (held out)"][key] < 0.05


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The first lens's columns, then the second lens's where the rows have them: one row per variant."""
    second = bool(rows) and SR_FD in rows[0]
    head = "| variant | samples | FD | FD content | FD palette | KID | precision | recall | copies p1 | copies p5 |"
    rule = "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    if second:
        head += " lens 2 FD | lens 2 KID | lens 2 precision | lens 2 recall | lens 2 copies p1 |"
        rule += " ---: | ---: | ---: | ---: | ---: |"
    lines = [head, rule]
    for row in rows:
        line = (
            f"| {row['variant']} | {row['ssl_samples']} | {row[KEY_FD]:.3f} | {row[KEY_FD_CONTENT]:.3f} | "
            f"{row[KEY_FD_PALETTE]:.3f} | {row[KEY_KID]:.5f} | "
            f"{row[KEY_PRECISION]:.3f} | {row[KEY_RECALL]:.3f} | {row[KEY_COPIES_P1]:.3f} | {row[KEY_COPIES_P5]:.3f} |"
        )
        if second:
            line += (
                f" {row[SR_FD]:.3f} | {row[SR_KID]:.5f} | {row[SR_PRECISION]:.3f} | {row[SR_RECALL]:.3f} |"
                f" {row[SR_COPIES_P1]:.3f} |"
            )
        lines.append(line)
    return "\n".join(lines) + "\n"


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def report(rows: list[dict[str, Any]], header: dict[str, Any]) -> str:
    """The check as a markdown document: what was run, on what, the table, and whether each lens ranks."""
    lines = [
        "# Distribution metric check",
        "",
        *(f"- {key}: {value}" for key, value in header.items()),
        f"- encoder version (lens 1): `{ENCODER_VERSION}`",
        f"- lens 1 FD ranks every severity chain: {_yes(ranks_in_order(rows))}",
        f"- lens 1 KID ranks every severity chain: {_yes(ranks_in_order(rows, KEY_KID))}",
        f"- lens 1 copy shares flag training faces: {_yes(copies_flagged(rows))}",
    ]
    if rows and SR_FD in rows[0]:
        lines += [
            f"- lens 2 version: `{LENS_VERSION}`",
            f"- lens 2 FD ranks every severity chain: {_yes(ranks_in_order(rows, SR_FD))}",
            f"- lens 2 KID ranks every severity chain: {_yes(ranks_in_order(rows, SR_KID))}",
            f"- lens 2 copy shares flag training faces: {_yes(copies_flagged(rows, SR_COPIES_P1))}",
        ]
    lines += ["", markdown_table(rows)]
    return "\n".join(lines)
