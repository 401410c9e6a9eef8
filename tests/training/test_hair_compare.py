"""The hair-recipe comparison's measures, on painted faces (no generator, no data set)."""

from __future__ import annotations

import numpy as np
import pytest

from gan.codes import AvatarSpec
from gan.directions import HairRecipe
from tests.gan.test_attributes import PAINTS, face
from tests.gan.test_creation import LADDER, ladder_render
from training.config import ConfigError
from training.hair_compare import _recipe_flag, distance, face_region, measure_recipe


def test_the_measures_say_who_kept_their_face_and_how_far_it_moved() -> None:
    bases = [AvatarSpec("v1", seed=s) for s in range(14)]
    plain = np.stack([ladder_render([b])[0] for b in bases])
    new = measure_recipe(bases, plain, LADDER, ladder_render)
    assert new["honoured"] == 1.0 and new["own_face"] == 1.0 and new["alternates"] == 0
    assert new["mean_renders"] == np.mean([(s % 7) + 1 for s in range(14)])
    old = measure_recipe(bases, plain, HairRecipe("pink", "hair_pink", (0.0, 1.0), alternates=3), ladder_render)
    assert old["own_face"] < 1.0  # seeds needing more than 1.0 take an alternate's face
    pink, brown = face(PAINTS["pink"])[None], face(PAINTS["brown"])[None]
    moved = distance(pink, brown)[0]
    assert moved > 0 and new["pixel_distance"] == np.mean([0.0 if s % 7 == 0 else moved for s in range(14)])
    assert face_region(plain).shape[1:3] == (36, 32)


def test_a_bad_recipe_flag_is_a_clear_error() -> None:
    assert _recipe_flag("6,5") == (6, 5) and _recipe_flag("2") == (2, 0)
    for bad in ("x", "0,5", "6,-1", "6,y"):
        with pytest.raises(ConfigError, match="STEPS,ALTERNATES"):
            _recipe_flag(bad)
