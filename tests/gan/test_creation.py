"""Character creation's search: the order faces are tried in, and what a player ends up with."""

from __future__ import annotations

import numpy as np

from gan.codes import AvatarSpec
from gan.creation import HairSearch, choose_hair, hair_candidates
from gan.directions import HairRecipe
from gan.latents import derived_seed
from tests.gan.test_attributes import PAINTS, face

RECIPE = HairRecipe("pink", "hair_pink", (0.0, 1.5, 3.0), alternates=2)


def test_candidates_try_the_players_face_first_then_stronger_pushes_then_alternates() -> None:
    base = AvatarSpec("v1", seed=11, truncation=0.8)
    found = hair_candidates(base, RECIPE)
    assert len(found) == 9
    assert found[0] == base.normalized()  # strength 0 drops out: the player's own avatar
    assert [dict(c.edits).get("hair_pink", 0.0) for c in found[:3]] == [0.0, 1.5, 3.0]
    assert [c.seed for c in found[::3]] == [11, derived_seed(11, 1), derived_seed(11, 2)]
    assert all(c.truncation == base.normalized().truncation for c in found)


def test_alternates_keep_the_requests_other_edits() -> None:
    base = AvatarSpec("v1", seed=11, edits=(("explore_3", 2.0),))
    assert all(dict(c.edits).get("explore_3") == 2.0 for c in hair_candidates(base, RECIPE))


def test_a_latent_avatar_has_no_alternates() -> None:
    base = AvatarSpec("v1", latent=(0.1,) * 8)
    assert len(hair_candidates(base, RECIPE)) == 3


def fake_render(specs: list[AvatarSpec]) -> np.ndarray:
    """Pink hair once the push reaches 3 for even seeds, 1.5 for seeds divisible by 3; brown otherwise."""

    def paint(spec: AvatarSpec) -> np.ndarray:
        push = dict(spec.edits).get("hair_pink", 0.0)
        seed = spec.seed or 0
        pink = (seed % 3 == 0 and push >= 1.5) or (seed % 2 == 0 and push >= 3.0)
        return face(PAINTS["pink"] if pink else PAINTS["brown"])

    return np.stack([paint(s) for s in specs])


def test_each_player_keeps_the_first_candidate_that_matches() -> None:
    bases = [AvatarSpec("v1", seed=s) for s in (3, 4, 5)]
    search = choose_hair(bases, RECIPE, fake_render)
    assert search.matched.tolist()[:2] == [True, True]
    assert dict(search.chosen[0].edits) == {"hair_pink": 1.5} and search.tries[0] == 2
    assert dict(search.chosen[1].edits) == {"hair_pink": 3.0} and search.tries[1] == 3
    for spec, image in zip(search.chosen, search.images, strict=True):
        assert np.array_equal(image, fake_render([spec])[0])  # the image is the chosen spec's


def test_a_player_who_never_matches_gets_the_last_candidate_reported_unmatched() -> None:
    search = HairSearch([AvatarSpec("v1", seed=1)], RECIPE)
    while (batch := search.next_batch()) is not None:
        search.feed(np.stack([face(PAINTS["brown"]) for _ in batch]))
    assert not search.matched[0] and search.tries[0] == 9
    assert search.chosen[0] == hair_candidates(AvatarSpec("v1", seed=1), RECIPE)[-1]


def test_the_search_is_deterministic() -> None:
    bases = [AvatarSpec("v1", seed=s) for s in range(20)]
    one, two = choose_hair(bases, RECIPE, fake_render), choose_hair(bases, RECIPE, fake_render)
    assert one.chosen == two.chosen and one.matched.tolist() == two.matched.tolist()
