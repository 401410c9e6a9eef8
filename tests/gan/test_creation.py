"""Character creation's search: the order faces are tried in, and what a player ends up with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gan.codes import AvatarSpec
from gan.creation import HairSearch, choose_hair, hair_candidates
from gan.directions import HairRecipe, load_directions
from gan.latents import derived_seed
from gan.releases import read_manifest
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


# A face-only recipe (`--hair-alternates 0`): a ladder of pushes on the player's face and nothing else.
LADDER = HairRecipe("pink", "hair_pink", (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0), alternates=0)


def ladder_render(specs: list[AvatarSpec]) -> np.ndarray:
    """Pink hair once the push reaches (seed % 7) / 2: seed 0 is pink as it is, seed 6 needs the full 3."""

    def paint(spec: AvatarSpec) -> np.ndarray:
        needed = ((spec.seed or 0) % 7) / 2
        return face(PAINTS["pink"] if dict(spec.edits).get("hair_pink", 0.0) >= needed else PAINTS["brown"])

    return np.stack([paint(s) for s in specs])


def test_a_recipe_without_alternates_only_pushes_the_players_own_face() -> None:
    base = AvatarSpec("v1", seed=11, truncation=0.8, edits=(("explore_3", 2.0),))
    found = hair_candidates(base, LADDER)
    assert len(found) == len(LADDER.strengths)
    assert all(c.seed == 11 and c.truncation == base.normalized().truncation for c in found)
    assert [dict(c.edits).get("hair_pink", 0.0) for c in found] == list(LADDER.strengths)
    assert all(dict(c.edits)["explore_3"] == 2.0 for c in found)


def test_without_alternates_every_player_keeps_their_seed_and_the_smallest_matching_push() -> None:
    seeds = [*range(40), 2**40 + 3, 987654321]
    search = choose_hair([AvatarSpec("v1", seed=s) for s in seeds], LADDER, ladder_render)
    for seed, chosen, matched, tries in zip(seeds, search.chosen, search.matched, search.tries, strict=True):
        assert chosen.seed == seed  # matched or not: never another face
        assert matched
        needed = (seed % 7) / 2
        assert dict(chosen.edits).get("hair_pink", 0.0) == min(s for s in LADDER.strengths if s >= needed)
        assert tries == LADDER.strengths.index(needed) + 1


def test_without_alternates_a_player_who_never_matches_keeps_their_face_at_the_strongest_push() -> None:
    search = HairSearch([AvatarSpec("v1", seed=5)], LADDER)
    while (batch := search.next_batch()) is not None:
        search.feed(np.stack([face(PAINTS["brown"]) for _ in batch]))
    assert not search.matched[0] and search.tries[0] == len(LADDER.strengths)
    assert search.chosen[0] == AvatarSpec("v1", seed=5, edits=(("hair_pink", 3.0),)).normalized()


def test_an_old_recipe_with_alternates_still_searches_the_alternate_faces() -> None:
    """What v1-v3 publish: a player whose own face never turns pink gets an alternate's face."""
    old = HairRecipe("pink", "hair_pink", (0.0, 1.5, 3.0), alternates=5)

    def render(specs: list[AvatarSpec]) -> np.ndarray:  # seed 7 never turns pink; the rest as ladder_render
        return np.stack([face(PAINTS["brown"]) if s.seed == 7 else ladder_render([s])[0] for s in specs])

    search = choose_hair([AvatarSpec("v1", seed=7)], old, render)
    assert search.matched[0] and search.chosen[0].seed == derived_seed(7, 1)  # every face turns pink by 3
    push = min(s for s in old.strengths if s >= derived_seed(7, 1) % 7 / 2)
    assert dict(search.chosen[0].edits).get("hair_pink", 0.0) == push
    assert (
        search.tries[0] == len(old.strengths) + old.strengths.index(push) + 1
    )  # its own 3 tries, then the alternate's


@pytest.mark.parametrize("release", ["v1", "v2", "v3"])
def test_the_published_releases_keep_their_recipes_with_alternate_faces(release: str) -> None:
    """Published directions never change, so v1-v3 keep searching alternate faces (docs/creator.md):
    half and all of the allowed push on the player's face, then on five alternates."""
    manifest = read_manifest(Path(__file__).resolve().parents[2] / "weights")
    entry = manifest.get(release)
    assert entry is not None and entry.directions
    directions = load_directions(manifest.folder / entry.directions, entry.model_version)
    assert directions.hair
    for recipe in directions.hair.values():
        high = directions.directions[recipe.direction].high
        assert recipe.alternates == 5 and recipe.strengths == (0.0, high / 2, high)
        found = hair_candidates(AvatarSpec(release, seed=11), recipe)
        assert [c.seed for c in found[::3]] == [11, *(derived_seed(11, k) for k in range(1, 6))]
