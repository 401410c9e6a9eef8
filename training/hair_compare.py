"""`python -m training hair-compare`: character creation with two hair recipes, measured side by side.

Releases v1-v3 reach a hair colour by pushing the player's face to half and all of the allowed
strength and then trying five alternate faces (2 steps, 5 alternates); recipes computed since push
the player's own face in six steps before any alternate (6 steps, 5 alternates; `6,0` never leaves
the player's face; training/directions.py `hair_strengths`). This runs
both over the same player ids with one release's generator and directions and reports, per colour:
how often the colour is honoured, how often the chosen avatar is still the player's own seed, how
far it is from the player's plain avatar in pixels (whole image, and the face below the fringe),
the cascade's face rate and the renders spent. It also draws one player in every colour, one row
per recipe, the player's plain avatar first.

Example: python -m training hair-compare --release v2 --players 200 --player alice
    --cascade ../shared/models/lbpcascade_animeface.xml --out runs/keepface/compare
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from gan.checkpoint import load_generator
from gan.codes import AvatarSpec
from gan.creation import choose_hair
from gan.directions import DirectionsError, DirectionSet, HairRecipe, load_directions
from gan.imaging import tile_grid
from gan.latents import player_seed
from gan.releases import ManifestError, read_manifest
from training.config import ConfigError
from training.directions import Renderer, hair_strengths
from training.resources import MetricResources, metric_flags
from training.visualize import save_png

logger = logging.getLogger(__name__)

# below the fringe (gan/attributes.py measures hair in rows 3-17): eyes, nose, mouth and cheeks
FACE_BOX = (20 / 64, 56 / 64, 16 / 64, 48 / 64)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hair-compare",
        help="character creation by hair colour with two recipes: honoured, same face, pixel distance",
        description="Example: python -m training hair-compare --release v2 --players 200 --player alice "
        "--cascade ../shared/models/lbpcascade_animeface.xml --out runs/keepface/compare",
        parents=[metric_flags("cascade")],
    )
    p.add_argument("--release", required=True, help="a release of --weights-dir whose generator draws the avatars")
    p.add_argument("--weights-dir", type=Path, default=Path("weights"))
    p.add_argument("--directions", type=Path, help="a directions file (default: the release's published one)")
    p.add_argument("--players", type=int, default=200, help="player ids player-00000 ... (default 200)")
    p.add_argument("--old", default="2,5", metavar="STEPS,ALTERNATES", help="the first recipe (default 2,5: v1-v3)")
    p.add_argument(
        "--new",
        default="6,5",
        metavar="STEPS,ALTERNATES",
        help="the second recipe (default 6,5: what new releases publish)",
    )
    p.add_argument("--player", default="alice", help="the player id drawn in every colour")
    p.add_argument("--out", type=Path, required=True)


def recipe_for(directions: DirectionSet, color: str, steps: int, alternates: int) -> HairRecipe:
    """The recipe `steps`/`alternates` would give `color` on these directions (their allowed range)."""
    name = f"hair_{color}"
    return HairRecipe(color, name, hair_strengths(directions.directions[name].high, steps), alternates)


def face_region(images: np.ndarray) -> np.ndarray:
    h, w = images.shape[1:3]
    top, bottom, left, right = FACE_BOX
    return images[:, round(top * h) : round(bottom * h), round(left * w) : round(right * w)]


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference per image, in levels of 0-255."""
    return np.abs(a.astype(np.float64) - b.astype(np.float64)).reshape(len(a), -1).mean(axis=1)


def measure_recipe(
    bases: Sequence[AvatarSpec],
    plain: np.ndarray,
    recipe: HairRecipe,
    render: Callable[[list[AvatarSpec]], np.ndarray],
    face_rate: Callable[[np.ndarray], float] | None = None,
) -> dict[str, Any]:
    """One recipe over `bases` (whose own avatars are `plain`): what character creation chose and how
    far that is from the player's avatar."""
    search = choose_hair(bases, recipe, render)
    images = search.drawn()
    own = np.array([c.seed == b.seed for c, b in zip(search.chosen, bases, strict=True)])
    push = np.array([dict(c.edits).get(recipe.direction, 0.0) for c in search.chosen])
    whole, face = distance(images, plain), distance(face_region(images), face_region(plain))
    out = {
        "strengths": list(recipe.strengths),
        "alternates": recipe.alternates,
        "honoured": float(search.matched.mean()),
        "own_face": float(own.mean()),
        "pixel_distance": float(whole.mean()),
        "face_distance": float(face.mean()),
        "face_distance_honoured": float(face[search.matched].mean()) if search.matched.any() else None,
        "mean_push": float(push.mean()),
        "mean_renders": float(search.tries.mean()),
        "players": len(bases),
    }
    if face_rate is not None:
        out["face_rate"] = float(face_rate(images))
    return out


def compare(
    directions: DirectionSet,
    render: Renderer,
    players: Sequence[str],
    release: str,
    recipes: dict[str, tuple[int, int]],
    face_rate: Callable[[np.ndarray], float] | None = None,
) -> dict[str, Any]:
    """Every offered colour under each recipe (label -> steps, alternates), over the same players."""
    bases = [AvatarSpec(release, seed=player_seed(p)) for p in players]
    plain = render.specs(bases)
    report: dict[str, Any] = {"release": release, "players": len(bases), "recipes": recipes, "colors": {}}
    for color in tqdm(sorted(directions.hair), desc="hair colours", unit="colour"):
        rows = {}
        for label, (steps, alternates) in recipes.items():
            rows[label] = measure_recipe(
                bases, plain, recipe_for(directions, color, steps, alternates), render.specs, face_rate
            )
            logger.info("%s %s: honoured %.3f, own face %.3f, face distance %.1f, renders %.2f", color, label,
                        rows[label]["honoured"], rows[label]["own_face"], rows[label]["face_distance"],
                        rows[label]["mean_renders"])  # fmt: skip
        report["colors"][color] = rows
    keys = ("honoured", "own_face", "pixel_distance", "face_distance", "mean_renders", "face_rate")
    report["mean"] = {
        label: {k: float(np.mean([c[label][k] for c in report["colors"].values()]))
                for k in keys if all(k in c[label] for c in report["colors"].values())}
        for label in recipes
    }  # fmt: skip
    return report


def one_player(
    directions: DirectionSet, render: Renderer, player: str, release: str, recipes: dict[str, tuple[int, int]]
) -> tuple[np.ndarray, list[str]]:
    """One player's plain avatar and then each colour, one row per recipe; and the colour order."""
    base = AvatarSpec(release, seed=player_seed(player))
    colors = sorted(directions.hair)
    rows = []
    for steps, alternates in recipes.values():
        chosen = [choose_hair([base], recipe_for(directions, c, steps, alternates), render.specs).chosen[0]
                  for c in colors]  # fmt: skip
        rows.append(render.specs([base, *chosen]))
    return tile_grid(np.concatenate(rows), columns=len(colors) + 1), colors


def report_markdown(report: dict[str, Any]) -> str:
    labels = list(report["recipes"])
    lines = ["| hair colour | recipe | honoured | own face | face distance | pixel distance | face rate | renders |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for color, rows in [*report["colors"].items(), ("mean", report["mean"])]:
        for label in labels:
            r = rows[label]
            rate = f"{r['face_rate']:.3f}" if "face_rate" in r else "-"
            lines.append(f"| {color} | {label} | {r['honoured']:.3f} | {r['own_face']:.3f} | {r['face_distance']:.1f} "
                         f"| {r['pixel_distance']:.1f} | {rate} | {r['mean_renders']:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _recipe_flag(text: str) -> tuple[int, int]:
    """`--old`/`--new` as (steps, alternates), or a message naming the flag's rule."""
    steps, _, alternates = text.partition(",")
    try:
        parsed = int(steps), int(alternates or 0)
    except ValueError:
        parsed = (0, -1)
    if parsed[0] < 1 or parsed[1] < 0:
        raise ConfigError(f"--old/--new {text!r}: STEPS,ALTERNATES with STEPS >= 1 and ALTERNATES >= 0, e.g. 6,5")
    return parsed


def run(args: argparse.Namespace) -> int:
    manifest = read_manifest(args.weights_dir)
    entry = manifest.get(args.release)
    if entry is None:
        raise ManifestError(manifest.path, f"no release {args.release!r}")
    recipes = {f"{s} steps, {a} alternates": (s, a) for s, a in (_recipe_flag(args.old), _recipe_flag(args.new))}
    generator, info = load_generator(manifest.file_of(entry), device="cpu")
    file = args.directions or (manifest.folder / entry.directions if entry.directions else None)
    if file is None:
        raise ManifestError(manifest.path, f"release {args.release!r} has no directions; pass --directions")
    try:
        directions = load_directions(file, info.model_version)
    except DirectionsError as exc:
        raise ManifestError(file, exc.problem) from exc
    render = Renderer(generator, info.config.latent_dim, vectors=directions.vectors)
    face_rate = None
    if MetricResources.from_args(args).cascade:
        from training.metrics.face_detection import FaceDetector, resolve_cascade

        face_rate = FaceDetector(resolve_cascade(MetricResources.from_args(args).cascade)).rate
    for color, stored in directions.hair.items():  # say which recipe the file itself holds
        logger.info("%s in %s: strengths %s, %d alternates", color, file, stored.strengths, stored.alternates)
    players = [f"player-{i:05d}" for i in range(args.players)]
    report = compare(directions, render, players, args.release, recipes, face_rate)
    report["directions"] = str(file)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hair-compare.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (args.out / "hair-compare.md").write_text(report_markdown(report), encoding="utf-8")
    picture, colors = one_player(directions, render, args.player, args.release, recipes)
    save_png(picture, args.out / f"{args.player}.png")
    logger.info("%s: plain, then %s; rows: %s", args.out / f"{args.player}.png", ", ".join(colors), list(recipes))
    logger.info("%s\n%s", args.out / "hair-compare.md", report_markdown(report))
    return 0
