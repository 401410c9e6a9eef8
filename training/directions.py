"""Latent directions of a release: find them, measure them, and keep only those that work.

Three families, each measured over `eval_seeds` faces and a sweep of strengths:

- explore: closed-form factorisation of the first layer (SeFa, Shen & Zhou 2021). The first layer
  of our generator is a transposed convolution on a 1x1 latent, with its batch norm folded in, so
  it is a linear map y = A^T z; the unit vectors that move y the most are the top eigenvectors of
  A A^T. No sampling, no labels, the same answer on every machine.
- attribute: named scalars measured from the pixels (gan/attributes.py), each a linear direction
  fitted on sampled latents (InterfaceGAN, Shen et al. 2020). Under the prior z ~ N(0, I) the
  least-squares direction of a measure is its covariance with z, so no solver is needed; each is
  then projected off the others ("conditional" editing) so that, say, lightening hair does not
  also turn it yellow.
- hair_color: for each colour name, the mean latent of faces with that name minus the mean of all
  (Fisher's discriminant under the same isotropic prior); character creation pushes the player's
  own face along it in `hair_steps` steps up to the allowed strength and only then tries
  `hair_alternates` related faces, so a player keeps their face wherever it can take the colour
  (v1-v3 were published with 2 steps and 5 alternates; docs/creator.md has the measurements).

The range offered for a direction is the widest stretch of the sweep around zero where the face
rate stays at least `face_floor` of the real images' rate. The cascade itself finds faces less
often under some hair colours (real black-haired faces: 0.60 against 0.72 for all, docs/creator.md),
so a hair-colour direction and its character creation are held to the real rate of faces with that
colour where it is lower. A named attribute must also follow its
strength (mean per-face Spearman correlation at least `min_spearman` inside that range), and a
hair colour must be honoured for at least `min_honoured` of player ids: what falls short is
reported and not offered.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from gan.attributes import HAIR_COLORS, MEASURE_NOTES, hair_colors, measure_all
from gan.checkpoint import load_generator
from gan.codes import AvatarSpec
from gan.creation import choose_hair
from gan.directions import Direction, DirectionSet, HairRecipe, save_directions
from gan.imaging import tile_grid, to_hwc
from gan.latents import player_seed, seeds_latents, spec_latent
from gan.networks import Generator, fuse_batchnorm
from training.data import load_images
from training.sampling import generate
from training.visualize import save_png

logger = logging.getLogger(__name__)

FIT_SEEDS_START = 2_000_000  # latents the directions are fitted on
EVAL_SEEDS_START = 3_000_000  # disjoint faces the directions are judged on


@dataclass(frozen=True)
class DirectionsConfig:
    explore: int = 8
    fit_samples: int = 10_000
    eval_seeds: int = 1000
    sweep: tuple[float, ...] = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
    face_floor: float = 0.9
    min_spearman: float = 0.9
    min_honoured: float = 0.9
    min_class_share: float = 0.01  # a colour rarer than this among samples has too few faces to fit
    hair_players: int = 1000
    hair_steps: int = 6  # pushes up to the allowed strength, after the player's face as it is
    hair_alternates: int = 5  # related faces tried only when no push on the player's own reaches the colour
    batch_size: int = 250

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "sweep": list(self.sweep)}


@dataclass
class Renderer:
    """The generator in eval mode, fed latents or avatar specs; fused batch norm is the service's
    business, the measures do not notice one level of difference."""

    generator: Generator
    latent_dim: int
    batch_size: int = 250
    vectors: dict[str, torch.Tensor] = field(default_factory=dict)

    @torch.inference_mode()
    def latents(self, z: torch.Tensor) -> np.ndarray:
        return to_hwc(generate(self.generator, z, self.batch_size))

    def specs(self, specs: Sequence[AvatarSpec]) -> np.ndarray:
        return self.latents(torch.stack([spec_latent(s, self.vectors, self.latent_dim) for s in specs]))


# ------------------------------------------------------------------------------------------ finding
def sefa(generator: Generator, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k SeFa directions (k x latent_dim, unit rows) and each one's share of the eigenvalue sum."""
    weight = fuse_batchnorm(generator).stem[0].weight.detach().double()  # latent_dim x C x 4 x 4
    a = weight.reshape(weight.shape[0], -1)
    values, vectors = torch.linalg.eigh(a @ a.T)
    order = torch.argsort(values, descending=True)[:k]
    top = vectors[:, order].T
    # eigenvectors have no sign; fix one so the file is the same on every machine
    signs = torch.sign(top.gather(1, top.abs().argmax(dim=1, keepdim=True)))
    return (top * signs).float(), (values[order] / values.sum()).float()


def unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm().clamp_min(1e-12)


def fit_attributes(z: torch.Tensor, measures: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Covariance directions of each measure, each then projected off the span of the others."""
    raw = {}
    for name, values in measures.items():
        y = torch.as_tensor((values - values.mean()) / max(values.std(), 1e-9), dtype=torch.float64)
        raw[name] = unit((z.double() * y[:, None]).mean(0))
    out = {}
    for name, d in raw.items():
        others = torch.stack([v for n, v in raw.items() if n != name], dim=1)
        q, _ = torch.linalg.qr(others)
        out[name] = unit(d - q @ (q.T @ d)).float()
    return out


def fit_hair_colors(z: torch.Tensor, names: np.ndarray, min_share: float) -> dict[str, torch.Tensor]:
    mean = z.double().mean(0)
    out = {}
    for color in HAIR_COLORS:
        mask = torch.as_tensor(names == color)
        if mask.float().mean() >= min_share:
            out[color] = unit(z.double()[mask].mean(0) - mean).float()
    return out


# ---------------------------------------------------------------------------------------- measuring
def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks along the last axis, ties sharing their mean rank (as Spearman's rho needs)."""
    order = np.argsort(values, axis=-1, kind="stable")
    ranks = np.empty_like(values, dtype=np.float64)
    np.put_along_axis(ranks, order, np.arange(values.shape[-1], dtype=np.float64), axis=-1)
    sorted_values = np.take_along_axis(values, order, axis=-1)
    for row_index in np.ndindex(values.shape[:-1]):
        row, ranked = sorted_values[row_index], ranks[row_index]
        for value in np.unique(row[:-1][row[:-1] == row[1:]]):  # only rows with ties pay for this
            ranked[values[row_index] == value] = ranked[values[row_index] == value].mean()
    return ranks


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman correlation of one x (k,) with each row of y (n, k); rows with no variation give 0."""
    rx = _ranks(np.asarray(x, dtype=np.float64))
    ry = _ranks(np.asarray(y, dtype=np.float64))
    rx -= rx.mean()
    ry -= ry.mean(axis=1, keepdims=True)
    denom = np.sqrt((rx**2).sum() * (ry**2).sum(axis=1))
    return np.where(denom > 0, (ry * rx).sum(axis=1) / np.where(denom > 0, denom, 1.0), 0.0)


def allowed_range(sweep: Sequence[float], face_rates: Sequence[float], floor: float) -> tuple[float, float]:
    """The widest stretch of the sweep around 0 whose every strength keeps the face rate at `floor`."""
    low = high = 0.0
    for s, rate in sorted(((s, r) for s, r in zip(sweep, face_rates, strict=True) if s > 0)):
        if rate < floor:
            break
        high = s
    for s, rate in sorted(((s, r) for s, r in zip(sweep, face_rates, strict=True) if s < 0), reverse=True):
        if rate < floor:
            break
        low = s
    return low, high


def sweep_direction(
    render: Renderer, detector: Any, base: torch.Tensor, vector: torch.Tensor, sweep: Sequence[float]
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Measures (each n x k), face found (n x k) and hair names (n x k) along base + s * vector."""
    measures: dict[str, list[np.ndarray]] = {}
    faces, names = [], []
    for s in sweep:
        images = render.latents(base + s * vector)
        for key, values in measure_all(images).items():
            measures.setdefault(key, []).append(values)
        faces.append(detector.detect(images))
        names.append(hair_colors(images))
    return ({k: np.stack(v, axis=1) for k, v in measures.items()}, np.stack(faces, axis=1), np.stack(names, axis=1))


def evaluate_sweep(
    name: str,
    measures: dict[str, np.ndarray],
    faces: np.ndarray,
    sweep: Sequence[float],
    real_face_rate: float,
    config: DirectionsConfig,
    primary: str | None,
) -> dict[str, Any]:
    """One direction's quality: face rate per strength, its range, and (for a measure) how well it follows."""
    sweep_arr = np.asarray(sweep)
    rates = faces.mean(axis=0)
    low, high = allowed_range(sweep, rates.tolist(), config.face_floor * real_face_rate)
    inside = (sweep_arr >= low) & (sweep_arr <= high)
    zero = int(np.argmin(np.abs(sweep_arr)))
    scale = {k: max(float(v[:, zero].std()), 1e-9) for k, v in measures.items()}
    ends = [int(np.argmin(np.abs(sweep_arr - low))), int(np.argmin(np.abs(sweep_arr - high)))]
    change = {k: float(np.mean(v[:, ends[1]] - v[:, ends[0]]) / scale[k]) for k, v in measures.items()}
    out: dict[str, Any] = {
        "name": name,
        "range": [float(low), float(high)],
        "face_rate": dict(zip([f"{s:g}" for s in sweep], rates.round(4).tolist(), strict=True)),
        "face_rate_in_range_min": float(rates[inside].min()),
        "face_floor": config.face_floor * real_face_rate,
        "change_sd": {k: round(v, 3) for k, v in change.items()},  # mean change over the range, in s.d. of faces
    }
    if primary is not None:
        rho = spearman_rows(sweep_arr[inside], measures[primary][:, inside]) if inside.sum() >= 3 else np.zeros(1)
        out["spearman"] = float(rho.mean())
        out["drift_sd"] = {k: round(abs(v), 3) for k, v in change.items() if k != primary}
    return out


def direction_gate(quality: dict[str, Any], config: DirectionsConfig, measure: str | None) -> str:
    """Why a swept direction is not offered ("" when it is): too narrow a range, or (for a named
    attribute) a measure that does not follow its strength."""
    low, high = quality["range"]
    if high - low < 1.0:
        return "the face rate falls below the floor within one unit of zero"
    if measure is not None and quality["spearman"] < config.min_spearman:
        return f"Spearman {quality['spearman']:.2f} < {config.min_spearman}"
    return ""


def hair_strengths(high: float, steps: int) -> tuple[float, ...]:
    """The pushes character creation tries, weakest first: 0 (the player's face as it is), then
    `steps` equal steps up to the direction's allowed `high`, so the first match is the least change.
    Releases v1-v3 were published with 2 steps (0, high/2, high) and 5 alternate faces."""
    if steps < 1 or high <= 0:
        return (0.0,)
    return (0.0, *(high * k / steps for k in range(1, steps)), high)


def hair_gate(quality: dict[str, Any], config: DirectionsConfig) -> str:
    """Why character creation with a hair colour is not offered ("" when it is): the colour is not
    honoured often enough, or the faces it makes are found too rarely."""
    short = [f"honoured < {config.min_honoured}"] if quality["honoured"] < config.min_honoured else []
    short += [f"face rate < {quality['face_floor']:.3f}"] if quality["face_rate"] < quality["face_floor"] else []
    return ", ".join(short)


# ------------------------------------------------------------------------------------------- driver
@dataclass(frozen=True)
class Candidate:
    """A direction to sweep and judge: its family, unit vector, the note it is published with and,
    for a named attribute, the measure it must follow."""

    name: str
    kind: str  # "explore", "attribute" or "hair_color"
    vector: torch.Tensor
    note: str
    measure: str | None = None

    @property
    def color(self) -> str | None:
        return self.name.removeprefix("hair_") if self.kind == "hair_color" else None


@dataclass(frozen=True)
class RealRates:
    """The real images' face rate a direction is held to: overall, and per hair colour where the
    cascade finds real faces of that colour less often (see the module docstring)."""

    overall: float
    by_color: dict[str, float] = field(default_factory=dict)

    def for_color(self, color: str | None) -> float:
        return self.overall if color is None else min(self.overall, self.by_color.get(color, self.overall))


def measure_real_faces(data: Path, detector: Any, resolution: int = 64) -> tuple[RealRates, dict[str, float]]:
    """The training images' face rate, overall and per hair colour (for colours that occur), and each
    colour's share of them: what the directions are held to and reported beside."""
    real = to_hwc(load_images(data, resolution).images)
    found, names = detector.detect(real), hair_colors(real)
    rates = RealRates(
        float(found.mean()), {c: float(found[names == c].mean()) for c in HAIR_COLORS if (names == c).any()}
    )
    shares = {c: float((names == c).mean()) for c in HAIR_COLORS}
    logger.info("face rate of %d real images: %.3f; by hair colour: %s", len(real), rates.overall,
                ", ".join(f"{c} {r:.3f}" for c, r in rates.by_color.items()))  # fmt: skip
    return rates, shares


def find_candidates(
    generator: Generator, render: Renderer, config: DirectionsConfig
) -> tuple[list[Candidate], dict[str, float]]:
    """Every direction worth judging, in report order (SeFa, attributes, hair colours), and the share
    of each hair colour among the faces the named directions were fitted on."""
    dim = render.latent_dim
    vectors, shares = sefa(generator, config.explore)
    candidates = [
        Candidate(f"explore_{i}", "explore", v, f"SeFa component {i} ({share:.1%} of the first layer's energy)")
        for i, (v, share) in enumerate(zip(vectors, shares.tolist(), strict=True))
    ]
    fit_z = seeds_latents(range(FIT_SEEDS_START, FIT_SEEDS_START + config.fit_samples), dim)
    logger.info("rendering %d faces to fit the named directions", config.fit_samples)
    fit_images = render.latents(fit_z)
    fit_measures = measure_all(fit_images)
    for name, v in fit_attributes(fit_z, fit_measures).items():
        candidates.append(Candidate(name, "attribute", v, MEASURE_NOTES[name], measure=name))
    fit_names = hair_colors(fit_images)
    shares_by_color = {c: float((fit_names == c).mean()) for c in HAIR_COLORS}
    for color, v in fit_hair_colors(fit_z, fit_names, config.min_class_share).items():
        candidates.append(Candidate(f"hair_{color}", "hair_color", v, f"toward {color} hair (measured fringe colour)"))
    return candidates, shares_by_color


def judge_direction(
    candidate: Candidate, render: Renderer, detector: Any, base: torch.Tensor, real: RealRates, config: DirectionsConfig
) -> dict[str, Any]:
    """Sweep one candidate over the judging faces: its quality, with `offered` and the reason if not."""
    measures, faces, names = sweep_direction(render, detector, base, candidate.vector, config.sweep)
    reference = real.for_color(candidate.color)
    quality = evaluate_sweep(candidate.name, measures, faces, config.sweep, reference, config, candidate.measure)
    if candidate.color is not None:
        share = (names == candidate.color).mean(axis=0).round(4).tolist()
        quality["color_share"] = dict(zip([f"{s:g}" for s in config.sweep], share, strict=True))
    why = direction_gate(quality, config, candidate.measure)
    quality.update(kind=candidate.kind, offered=not why, reason=why)
    return quality


def judge_hair(
    recipe: HairRecipe, bases: list[AvatarSpec], render: Renderer, detector: Any, floor: float, config: DirectionsConfig
) -> tuple[dict[str, Any], np.ndarray]:
    """Character creation with one hair colour for every player: its quality (with `offered` and the
    reason if not) and the faces it drew."""
    search = choose_hair(bases, recipe, render.specs)
    images = search.drawn()
    quality = {"name": recipe.name, "honoured": float(search.matched.mean()),
               "face_rate": float(detector.rate(images)), "face_floor": floor,
               "mean_tries": float(search.tries.mean()), "players": len(bases),
               "strengths": list(recipe.strengths), "alternates": recipe.alternates}  # fmt: skip
    why = hair_gate(quality, config)
    quality.update(offered=not why, reason=why)
    return quality, images


def compute_directions(
    weights: Path,
    *,
    release: str,
    real_face_rate: float,
    detector: Any,
    out_dir: Path,
    config: DirectionsConfig = DirectionsConfig(),
    real_rate_by_color: dict[str, float] | None = None,
    real_color_shares: dict[str, float] | None = None,
) -> tuple[DirectionSet, dict[str, Any]]:
    """Find, measure and gate every direction; write the file, a JSON report and pictures into out_dir."""
    generator, info = load_generator(weights, device="cpu")
    dim = info.config.latent_dim
    render = Renderer(generator, dim, config.batch_size)
    out_dir.mkdir(parents=True, exist_ok=True)
    candidates, shares_by_color = find_candidates(generator, render, config)
    base = seeds_latents(range(EVAL_SEEDS_START, EVAL_SEEDS_START + config.eval_seeds), dim)
    real = RealRates(real_face_rate, real_rate_by_color or {})

    report: dict[str, Any] = {"release": release, "model_version": info.model_version, "config": config.to_dict(),
                              "real_face_rate": real_face_rate, "real_face_rate_by_color": real.by_color,
                              "real_color_shares": real_color_shares or {}, "fit_color_shares": shares_by_color,
                              "directions": [], "hair_colors": []}  # fmt: skip
    directions: dict[str, Direction] = {}
    kept: dict[str, torch.Tensor] = {}
    strips = []
    for candidate in tqdm(candidates, desc="sweeping directions", unit="dir"):
        quality = judge_direction(candidate, render, detector, base, real, config)
        report["directions"].append(quality)
        if quality["offered"]:
            low, high = quality["range"]
            directions[candidate.name] = Direction(candidate.name, candidate.kind, low, high, candidate.note,
                                                   {k: quality[k] for k in ("spearman", "face_rate_in_range_min")
                                                    if k in quality})  # fmt: skip
            kept[candidate.name] = candidate.vector
            strips.append(render.latents(base[:1] + torch.tensor(config.sweep)[:, None] * candidate.vector))
    render.vectors = kept

    hair: dict[str, HairRecipe] = {}
    players = [f"player-{i:05d}" for i in range(config.hair_players)]
    for color in tqdm(HAIR_COLORS, desc="character creation", unit="colour"):
        name = f"hair_{color}"
        if name not in directions:
            report["hair_colors"].append({"name": color, "offered": False, "reason": "no usable direction"})
            continue
        high = directions[name].high
        recipe = HairRecipe(color, name, hair_strengths(high, config.hair_steps), config.hair_alternates)
        bases = [AvatarSpec(release, seed=player_seed(p)) for p in players]
        quality, images = judge_hair(recipe, bases, render, detector, config.face_floor * real.for_color(color), config)
        report["hair_colors"].append(quality)
        if quality["offered"]:
            hair[color] = dataclasses.replace(recipe, quality=quality)
        save_png(tile_grid(images[:32], columns=8), out_dir / f"hair-{color}.png")

    recipe_meta = {"config": config.to_dict(), "real_face_rate": real_face_rate,
                   "real_face_rate_by_color": real.by_color, "eval_seeds_start": EVAL_SEEDS_START,
                   "fit_seeds_start": FIT_SEEDS_START}  # fmt: skip
    result = DirectionSet(info.model_version, dim, directions, kept, hair, recipe_meta)
    save_directions(out_dir / "directions.safetensors", result)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if strips:
        save_png(tile_grid(np.concatenate(strips), columns=len(config.sweep)), out_dir / "sweeps.png")
    (out_dir / "report.md").write_text(report_markdown(report), encoding="utf-8")
    return result, report


def report_markdown(report: dict[str, Any]) -> str:
    """The tables docs/creator.md quotes."""
    lines = [f"Directions of `{report['release']}` (model {report['model_version']}); real face rate "
             f"{report['real_face_rate']:.3f}, floor {report['config']['face_floor']} of it.", "",
             "| direction | kind | offered | range | Spearman | lowest face rate in range (floor) | drift (s.d.) |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for d in report["directions"]:
        rho = f"{d['spearman']:.3f}" if "spearman" in d else "-"
        drift = ", ".join(f"{k} {v:.2f}" for k, v in d.get("drift_sd", {}).items()) or "-"
        offered = "yes" if d["offered"] else f"no ({d['reason']})"
        lines.append(f"| {d['name']} | {d['kind']} | {offered} | {d['range'][0]:g}..{d['range'][1]:g} | {rho} | "
                     f"{d['face_rate_in_range_min']:.3f} ({d['face_floor']:.3f}) | {drift} |")  # fmt: skip
    by_color = report.get("real_face_rate_by_color", {})
    lines += ["", "| hair colour | offered | honoured | face rate (floor) | real faces of the colour: share, face rate "
              "| mean renders per player |", "|---|---|---|---|---|---|"]  # fmt: skip
    for h in report["hair_colors"]:
        real = report.get("real_color_shares", {}).get(h["name"])
        real_text = f"{real:.3f}, {by_color[h['name']]:.3f}" if real is not None and h["name"] in by_color else "-"
        if "honoured" not in h:
            lines.append(f"| {h['name']} | no ({h['reason']}) | - | - | {real_text} | - |")
            continue
        offered = "yes" if h["offered"] else f"no ({h['reason']})"
        lines.append(f"| {h['name']} | {offered} | {h['honoured']:.3f} | {h['face_rate']:.3f} ({h['face_floor']:.3f}) "
                     f"| {real_text} | {h['mean_tries']:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"
