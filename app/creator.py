"""The creator's rules on the service side: edits, avatar codes and variations, checked as 422s.

Every edited, coded or varied avatar is rendered from its normalised `AvatarSpec` (gan/codes.py),
so the image a request returns and the image of the code it returns are the same bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch

from app.errors import invalid
from app.releases import ReleaseRegistry, ServedRelease
from app.schemas import EDIT_PAIR, LATENT_BOUND
from gan.codes import (
    MAX_VARIATIONS,
    AvatarSpec,
    CodeError,
    canonical_edits,
    decode,
    encode,
)
from gan.latents import MAX_SEED, apply_edits, derived_seed, spec_latent, truncate

_EDIT = re.compile(EDIT_PAIR)  # the schema's pattern (EDITS_PATTERN) is these pairs joined by commas


def parse_edits_query(text: str | None, loc: Sequence[str | int]) -> dict[str, float]:
    """`name:strength,name:strength` (a query string cannot carry an object) -> {name: strength}."""
    if not text:
        return {}
    edits: dict[str, float] = {}
    for part in text.split(","):
        match = _EDIT.fullmatch(part)
        if match is None:
            raise invalid(loc, f"edits must look like 'hair_lightness:1.5,explore_3:-1', got {part.strip()!r}")
        name, value = match.group(1), float(match.group(2))
        if name in edits:
            raise invalid(loc, f"edit {name!r} is given twice", "duplicate_edit")
        edits[name] = value
    return edits


def check_edits(served: ServedRelease, edits: dict[str, float], loc: Sequence[str | int]) -> None:
    """Each edit must name one of the release's directions and stay inside its range."""
    if not edits:
        return
    if served.directions is None:
        raise invalid(loc, f"release {served.name!r} has no published directions, so it takes no edits",
                      "edit_out_of_range")  # fmt: skip
    for name, strength in edits.items():
        problem = served.directions.check_edit(name, strength)
        if problem is not None:
            raise invalid([*loc, name], problem, "edit_out_of_range")


def query_edits(served: ServedRelease, text: str | None) -> dict[str, float]:
    """A GET's `edits` query string, parsed and checked against the release."""
    edits = parse_edits_query(text, ["query", "edits"])
    check_edits(served, edits, ["query", "edits"])
    return edits


def vectors(served: ServedRelease) -> dict[str, torch.Tensor]:
    return served.directions.vectors if served.directions is not None else {}


def edited(served: ServedRelease, latents: torch.Tensor, truncation: float, edits: dict[str, float]) -> torch.Tensor:
    """Truncate, then edit, exactly as `spec_latent` does for one row (so codes reproduce it)."""
    return apply_edits(truncate(latents, truncation), canonical_edits(edits.items()), vectors(served))


def decode_code(code: str, served: ServedRelease, loc: Sequence[str | int]) -> AvatarSpec:
    """A code this release can draw, or a 422 naming what is wrong with it. The routes pick the
    release the code names (`coded_release`), so a code never meets another release here."""
    try:
        spec = decode(code, max_latent_dim=served.model.latent_dim)
    except CodeError as exc:
        raise invalid(loc, f"not a valid avatar code: {exc}", "invalid_code") from None
    if spec.release != served.name:
        raise invalid(loc, f"this code belongs to release {spec.release!r}, not {served.name!r}", "release_mismatch")
    if spec.latent is not None and len(spec.latent) != served.model.latent_dim:
        raise invalid(loc, f"the code's latent has {len(spec.latent)} values; {served.name} takes "
                      f"{served.model.latent_dim}", "invalid_code")  # fmt: skip
    if spec.latent is not None and max(map(abs, spec.latent)) > LATENT_BOUND:
        raise invalid(loc, f"the code's latent has values beyond ±{LATENT_BOUND:g}, the bound of `latents`",
                      "invalid_code")  # fmt: skip
    check_edits(served, dict(spec.edits), [*loc, "edits"])
    return spec


def code_release(code: str, loc: Sequence[str | int]) -> str:
    """The release a code names, or a 422."""
    try:
        return decode(code).release
    except CodeError as exc:
        raise invalid(loc, f"not a valid avatar code: {exc}", "invalid_code") from None


def coded_release(
    code: str, releases: ReleaseRegistry, loc: Sequence[str | int], model: str | None = None
) -> ServedRelease:
    """The release that draws a code, on every route: the one the code names. Unknown: 404; retired:
    410 with its successor (the shape of every release error). A body's `model` may repeat that
    name, and naming another is a 422: the request contradicts itself, and drawing either release
    would surprise someone. (A URL under another release redirects instead, see the routes.)"""
    name = code_release(code, loc)
    if model is not None and model != name:
        raise invalid(["body", "model"], f"the code names release {name!r}, not {model!r}: leave `model` out "
                      f"or name {name!r}", "release_mismatch")  # fmt: skip
    return releases.resolve(name)


def parent_spec(served: ServedRelease, of: str, truncation: float, loc: Sequence[str | int]) -> AvatarSpec:
    """`of` is a seed (ASCII digits, then `truncation` applies) or a code (which carries its own)."""
    if re.fullmatch(r"[0-9]+", of):
        seed = int(of)
        if seed > MAX_SEED:
            raise invalid(loc, "a seed must be below 2**63", "seed_out_of_range")
        return AvatarSpec(served.name, seed=seed, truncation=truncation).normalized()
    parent = decode_code(of, served, loc)
    if len(parent.variations) >= MAX_VARIATIONS:
        raise invalid(loc, f"this avatar is {len(parent.variations)} variation steps deep; a code keeps at most "
                      f"{MAX_VARIATIONS}: start again from a seed or from the code's drawn_latent",
                      "lineage_too_deep")  # fmt: skip
    return parent


def children(parent: AvatarSpec, n: int, strength: float, seed: int) -> list[AvatarSpec]:
    """n variations of `parent`; child i's noise is the i-th seed derived from the request's `seed`."""
    if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise ValueError(f"strength must satisfy 0 <= strength <= 1, got {strength}")
    return [parent.child(derived_seed(seed, i), strength) for i in range(n)]


def specs_latents(served: ServedRelease, specs: Sequence[AvatarSpec]) -> torch.Tensor:
    dim = served.model.latent_dim
    return torch.stack([spec_latent(s, vectors(served), dim) for s in specs])


def code_url(spec: AvatarSpec, *, size: int = 64, extension: str = "png") -> tuple[str, str]:
    """A spec's code and its immutable URL."""
    code = encode(spec)
    query = "" if size == 64 else f"?size={size}"
    return code, f"/models/{spec.release}/avatars/{code}.{extension}{query}"
