"""A release's latent directions: the file format and the rules an edit must keep.

`python -m training directions` computes them (training/directions.py) and publishes them beside
the weights; the service loads them with the release. Each direction is a unit vector in z with an
allowed strength range, measured so that faces stay faces inside it; the file also keeps how each
hair colour is reached at character creation. Published directions never change (their SHA-256 is
in the manifest), so an edit strength means the same face for as long as the release is served.

Strengths are in units of the prior's standard deviation: z ~ N(0, I), so moving by s along a unit
vector shifts that coordinate by s standard deviations at every truncation.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from gan.errors import FileError

FORMAT = "anime-avatars/directions"
FORMAT_VERSION = 1
Kind = Literal["explore", "attribute", "hair_color"]


class DirectionsError(FileError):
    """A directions file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Direction:
    """One direction: `kind` says how it was found; `low`..`high` is the strength range offered."""

    name: str
    kind: Kind
    low: float
    high: float
    note: str = ""
    quality: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "range": [self.low, self.high], "note": self.note}


@dataclass(frozen=True)
class HairRecipe:
    """How character creation reaches one hair colour: push along `direction` by each of
    `strengths` in turn, on the player's own latent and then on `alternates` latents derived from
    the player id, and keep the first face whose measured hair colour is the name. v1-v3 publish
    (0, high/2, high) with 5 alternates; recipes computed since climb a finer ladder of strengths up
    to the allowed high on the player's face before any alternate, so the format needs no version."""

    name: str
    direction: str
    strengths: tuple[float, ...]
    alternates: int
    quality: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DirectionSet:
    model_version: str
    latent_dim: int
    directions: dict[str, Direction]
    vectors: dict[str, torch.Tensor]
    hair: dict[str, HairRecipe] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)

    def check_edit(self, name: str, strength: float) -> str | None:
        """None if the edit is allowed, else the rule it breaks (for a 422)."""
        direction = self.directions.get(name)
        if direction is None:
            known = ", ".join(self.directions) or "none"
            return f"unknown direction {name!r}; this release offers: {known}"
        if not math.isfinite(strength) or not direction.low <= strength <= direction.high:
            return f"{name} must be between {direction.low:g} and {direction.high:g}, got {strength:g}"
        return None

    def describe(self) -> dict[str, Any]:
        return {"directions": [d.describe() for d in self.directions.values()], "hair_colors": sorted(self.hair)}


def save_directions(path: str | os.PathLike[str], directions: DirectionSet) -> None:
    tensors = {name: v.detach().to(torch.float32).contiguous() for name, v in directions.vectors.items()}
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "model_version": directions.model_version,
        "latent_dim": str(directions.latent_dim),
        "directions": json.dumps([asdict(d) for d in directions.directions.values()]),
        "hair": json.dumps([asdict(h) for h in directions.hair.values()]),
        "recipe": json.dumps(directions.recipe),
    }
    save_file(tensors, str(path), metadata=meta)
    Path(path).chmod(0o644)


def load_directions(path: str | os.PathLike[str], model_version: str | None = None) -> DirectionSet:
    """Read a direction file; `DirectionsError` naming the file and the problem otherwise."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            vectors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
    except (OSError, SafetensorError) as exc:
        raise DirectionsError(path, f"not a readable safetensors file: {exc}") from exc
    if meta.get("format") != FORMAT or meta.get("format_version") != str(FORMAT_VERSION):
        raise DirectionsError(path, f"not a direction file of format {FORMAT!r} version {FORMAT_VERSION}")
    try:
        latent_dim = int(meta["latent_dim"])
        directions = {d["name"]: Direction(**d) for d in json.loads(meta["directions"])}
        hair = {h["name"]: HairRecipe(**{**h, "strengths": tuple(h["strengths"])}) for h in json.loads(meta["hair"])}
        recipe = json.loads(meta.get("recipe", "{}"))
    except (KeyError, TypeError, ValueError) as exc:
        raise DirectionsError(path, f"malformed header: {exc}") from exc
    if model_version is not None and meta.get("model_version") != model_version:
        raise DirectionsError(path, f"made for model {meta.get('model_version')}, not {model_version}")
    if set(vectors) != set(directions):
        raise DirectionsError(path, "its tensors and its direction list name different directions")
    for name, vector in vectors.items():
        if vector.shape != (latent_dim,):
            raise DirectionsError(path, f"direction {name!r} has shape {tuple(vector.shape)}, not ({latent_dim},)")
    for d in directions.values():
        if d.kind not in ("explore", "attribute", "hair_color") or not d.low <= 0.0 <= d.high:
            raise DirectionsError(path, f"direction {d.name!r} has kind {d.kind!r} and range {d.low}..{d.high}")
    for recipe_ in hair.values():
        direction = directions.get(recipe_.direction)
        if direction is None:
            raise DirectionsError(path, f"hair colour {recipe_.name!r} uses unknown direction {recipe_.direction!r}")
        if not all(direction.low <= s <= direction.high for s in recipe_.strengths):
            raise DirectionsError(path, f"hair colour {recipe_.name!r} pushes outside its direction's range")
    return DirectionSet(meta["model_version"], latent_dim, directions, vectors, hair, recipe)
