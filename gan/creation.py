"""Character creation by hair colour: which faces a player is offered, in which order.

A player who asks for pink hair should get a face that is still theirs when they come back, so
the search is deterministic: first the player's own face as it is, then pushed along the colour's
direction by growing strengths, then the same on the recipe's alternate faces derived from the
player's seed. The first candidate whose measured fringe colour (gan/attributes.py) has the name
wins; its avatar code records the seed and the push, so it never has to be searched again.

The recipe comes from the release's published directions file and never changes: v1-v3 try two
strengths and then five alternate faces; recipes computed since climb six steps on the player's
own face first, so a player keeps their seed whenever any push up to the allowed strength names
the colour, gets the smallest such push, and gets a related face only where their own cannot take
the colour (the answer says which: `hair_color_same_face`; docs/creator.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from gan.attributes import hair_colors
from gan.codes import AvatarSpec
from gan.directions import HairRecipe
from gan.latents import derived_seed


def hair_candidates(base: AvatarSpec, recipe: HairRecipe) -> list[AvatarSpec]:
    """The faces tried for `base` in order; alternates only for seeded avatars (a latent has no kin)."""
    sources = [base]
    if base.seed is not None:
        sources += [AvatarSpec(base.release, seed=derived_seed(base.seed, k), truncation=base.truncation,
                               edits=base.edits) for k in range(1, recipe.alternates + 1)]  # fmt: skip
    out = []
    for source in sources:
        edits = dict(source.edits)
        for strength in recipe.strengths:
            out.append(source.with_edits({**edits, recipe.direction: edits.get(recipe.direction, 0.0) + strength}))
    return out


class HairSearch:
    """The search in rounds, one batch per round (candidate r of every player still looking), so
    the caller decides how to render: synchronously in training, through the queue in the service.

        search = HairSearch(bases, recipe)
        while (batch := search.next_batch()) is not None:
            search.feed(render(batch))
    """

    def __init__(self, bases: Sequence[AvatarSpec], recipe: HairRecipe) -> None:
        if not recipe.strengths:
            raise ValueError(f"hair colour {recipe.name!r} has no strengths to try")
        self.recipe = recipe
        self.candidates = [hair_candidates(b, recipe) for b in bases]
        self.chosen = [c[0] for c in self.candidates]
        self.images: list[np.ndarray | None] = [None] * len(bases)
        self.matched = np.zeros(len(bases), dtype=bool)
        self.tries = np.zeros(len(bases), dtype=np.int64)
        self._round = 0
        self._pending = list(range(len(bases)))

    def drawn(self) -> np.ndarray:
        """The chosen avatars' images, (N, H, W, 3), once the search has run."""
        if any(image is None for image in self.images):
            raise RuntimeError("the search has not drawn every avatar yet")
        return np.stack(self.images)  # type: ignore[arg-type]

    def next_batch(self) -> list[AvatarSpec] | None:
        self._pending = [i for i in self._pending if self._round < len(self.candidates[i])]
        if not self._pending:
            return None
        return [self.candidates[i][self._round] for i in self._pending]

    def feed(self, images: np.ndarray) -> None:
        """Images of the last batch, in its order: a player whose colour matched stops looking; one
        whose candidates all miss keeps the last (strongest) one, reported as not matched."""
        names = hair_colors(images)
        still = []
        for i, image, name in zip(self._pending, images, names, strict=True):
            self.chosen[i] = self.candidates[i][self._round]
            self.images[i] = image
            self.tries[i] += 1
            if name == self.recipe.name:
                self.matched[i] = True
            else:
                still.append(i)
        self._pending = still
        self._round += 1


def choose_hair(
    bases: Sequence[AvatarSpec], recipe: HairRecipe, render: Callable[[list[AvatarSpec]], np.ndarray]
) -> HairSearch:
    """Run the whole search with a synchronous renderer."""
    search = HairSearch(bases, recipe)
    while (batch := search.next_batch()) is not None:
        search.feed(render(batch))
    return search
