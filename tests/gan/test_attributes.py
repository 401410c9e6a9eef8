"""Pixel measures: CIELAB conversion, the fringe region, and colour names of painted faces."""

from __future__ import annotations

import numpy as np
import pytest

from gan.attributes import HAIR_COLORS, corner_lightness, hair_colors, hair_lab, measure_all, srgb_to_lab


def face(hair: tuple[int, int, int], skin: tuple[int, int, int] = (250, 225, 210), side: int = 64) -> np.ndarray:
    """A crude face crop: skin everywhere, hair over the top quarter and down the sides."""
    image = np.empty((side, side, 3), np.uint8)
    image[:] = skin
    image[: side // 3] = hair
    image[:, : side // 8] = hair
    image[:, -side // 8 :] = hair
    return image


@pytest.mark.parametrize(
    ("rgb", "lab"),
    [((255, 255, 255), (100.0, 0.0, 0.0)), ((0, 0, 0), (0.0, 0.0, 0.0)), ((255, 0, 0), (53.24, 80.09, 67.20))],
)
def test_lab_matches_reference_values(rgb: tuple[int, int, int], lab: tuple[float, float, float]) -> None:
    assert np.allclose(srgb_to_lab(np.array([rgb], np.uint8))[0], lab, atol=0.1)


PAINTS = {
    "black": (22, 20, 28),
    "brown": (110, 70, 40),
    "blonde": (250, 225, 140),
    "red": (190, 30, 40),
    "pink": (250, 160, 200),
    "purple": (120, 60, 160),
    "blue": (50, 90, 220),
    "green": (40, 170, 90),
    "white": (240, 240, 245),
}


def test_every_colour_name_has_a_paint() -> None:
    assert set(PAINTS) == set(HAIR_COLORS)


@pytest.mark.parametrize("name", list(PAINTS))
def test_painted_hair_gets_its_name(name: str) -> None:
    assert hair_colors(face(PAINTS[name])[None])[0] == name


def test_colours_between_names_get_none() -> None:
    grey = face((128, 128, 128))  # mid grey: neither black nor white, no hue
    assert hair_colors(grey[None])[0] == ""


def test_measures_read_the_fringe_and_ignore_the_skin() -> None:
    dark, light = face((30, 30, 30)), face((220, 220, 220))
    assert hair_lab(dark[None])[0, 0] < 15 < 80 < hair_lab(light[None])[0, 0]
    other_skin = face((30, 30, 30), skin=(120, 80, 60))
    assert np.allclose(hair_lab(other_skin[None]), hair_lab(dark[None]))
    measures = measure_all(np.stack([dark, light]))
    assert measures["hair_lightness"][0] < measures["hair_lightness"][1]
    assert set(measures) == {"hair_lightness", "hair_redness", "hair_yellowness", "corner_lightness"}


def test_corner_lightness_sees_a_white_background() -> None:
    image = face((30, 30, 30))
    image[:6, :6] = image[:6, -6:] = 255
    assert corner_lightness(image[None])[0] > 99
    assert corner_lightness(face((30, 30, 30))[None])[0] < 15


def test_measures_scale_with_the_image_side() -> None:
    small, big = face(PAINTS["blue"], side=64), face(PAINTS["blue"], side=128)
    assert np.allclose(hair_lab(small[None]), hair_lab(big[None]))
