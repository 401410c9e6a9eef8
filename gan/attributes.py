"""Attributes measured from the pixels of a face crop, with no pretrained tagger.

The training faces are crops of one cascade detector, so parts sit in the same places: the fringe
fills the top band and the upper corners, skin the centre. A measure over a fixed region is
therefore a fair reading of "hair colour" for almost every face. Colours are read in CIELAB, where
lightness (L*) and the two colour axes (a*: green to red, b*: blue to yellow) are roughly
perceptually even and each axis is a scalar a latent direction can be fitted to.

The service runs the same code (hair colour at character creation), so it is numpy only.
"""

from __future__ import annotations

import numpy as np

# fringe: rows 3-17, columns 12-51 of a 64 px face (scaled for other sizes); above the eyes in
# nearly every crop and free of background, unlike the sides
_HAIR_BOX = (3 / 64, 18 / 64, 12 / 64, 52 / 64)
# the two top corner patches: background or hair, and their lightness tells which
_CORNER = 6 / 64


def _box(images: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    side = images.shape[1]
    r0, r1, c0, c1 = (round(f * side) for f in box)
    return images[:, r0:r1, c0:c1]


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 or [0, 1] sRGB -> (..., 3) CIELAB (D65): L* in [0, 100], a*, b* about [-128, 127]."""
    x = rgb.astype(np.float64)
    if rgb.dtype == np.uint8:
        x = x / 255.0
    linear = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = linear @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def hair_rgb(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 faces -> (N, 3) per-channel median sRGB of the fringe region, in [0, 1].

    The median, not the mean: highlights, hair ornaments and the odd eye that reaches the box pull
    a mean around, but they are a minority of the region's pixels.
    """
    return np.median(_box(images, _HAIR_BOX).reshape(len(images), -1, 3), axis=1) / 255.0


def hair_lab(images: np.ndarray) -> np.ndarray:
    """(N, 3) L*, a*, b* of each face's median fringe colour."""
    return srgb_to_lab(hair_rgb(images))


def _hsv_hue(rgb: np.ndarray) -> np.ndarray:
    """Hue angle in degrees of (N, 3) sRGB in [0, 1] (HSV's hexcone, 0 = red, 120 = green, 240 = blue)."""
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    return np.degrees(np.arctan2(np.sqrt(3.0) * (g - b), 2 * r - g - b)) % 360


def corner_lightness(images: np.ndarray) -> np.ndarray:
    """(N,) median L* of the two top corner patches."""
    side = images.shape[1]
    k = max(1, round(_CORNER * side))
    corners = np.concatenate([images[:, :k, :k], images[:, :k, -k:]], axis=2)
    return np.median(srgb_to_lab(corners)[..., 0].reshape(len(images), -1), axis=1)


# what each measure of `measure_all` reads; the direction fitted to it has the same name
MEASURE_NOTES = {
    "hair_lightness": "L* of the fringe: black (low) to white or blonde (high)",
    "hair_redness": "a* of the fringe: green and teal (low) to red and pink (high)",
    "hair_yellowness": "b* of the fringe: blue and purple (low) to blonde and orange (high)",
    "corner_lightness": "L* of the top corners: dark hair or background (low) to white background (high)",
}


def measure_all(images: np.ndarray) -> dict[str, np.ndarray]:
    lab = hair_lab(images)
    return {
        "hair_lightness": lab[:, 0],
        "hair_redness": lab[:, 1],
        "hair_yellowness": lab[:, 2],
        "corner_lightness": corner_lightness(images),
    }


# ------------------------------------------------------------------------------------ colour names
HAIR_COLORS = ("black", "brown", "blonde", "red", "pink", "purple", "blue", "green", "white")


def name_hair_color(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) median fringe sRGB in [0, 1] -> (N,) colour names from `HAIR_COLORS` ("" where none fits).

    CIELAB chroma C* separates the achromatic names (black, white) from the hues and L* splits
    brown from blonde and red from pink; the hue family comes from the HSV hue angle, because
    CIELAB's hue puts saturated blue and violet within a few degrees of each other. The borders
    were read off the fringe colours of generated and training faces and checked by eye on grids
    of each name (docs/creator.md); a colour between two names gets neither.
    """
    lab = srgb_to_lab(rgb)
    lightness, chroma = lab[:, 0], np.hypot(lab[:, 1], lab[:, 2])
    hue = _hsv_hue(rgb)
    names = np.full(len(rgb), "", dtype=object)

    def put(mask: np.ndarray, name: str) -> None:
        names[(names == "") & mask] = name

    put((lightness < 30) & (chroma < 16), "black")
    put((lightness > 78) & (chroma < 12), "white")
    coloured = chroma >= 16
    warm = coloured & (hue >= 15) & (hue < 65)
    put(warm & (lightness < 55), "brown")
    put(warm & (lightness >= 62) & (hue >= 30), "blonde")
    reds = coloured & ((hue >= 345) | (hue < 15))
    put(reds & (lightness < 58) & (chroma >= 30), "red")
    put(coloured & ((hue >= 300) | (hue < 5)) & (lightness >= 62), "pink")  # not peach or salmon
    put(coloured & (hue >= 255) & (hue < 300), "purple")
    put(coloured & (hue >= 180) & (hue < 250), "blue")
    put(coloured & (hue >= 75) & (hue < 170), "green")
    return names


def hair_colors(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 faces -> (N,) hair colour names ("" where none fits)."""
    return name_hair_color(hair_rgb(images))
