"""`python -m training.lens_spread`: how far each lens's numbers move between two seed sets of one
generator, the sampling noise the release check's margins must cover (docs/training.md, "The margins").

Each release is scored in both lenses on two disjoint sets of seeds (from 1,000,000 and from
2,000,000, away from the evaluation seeds), against the same held-out faces.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from gan.checkpoint import load_generator
from gan.releases import read_manifest
from training.evaluate import prepare_real, score
from training.resources import MetricResources, metric_flags
from training.sampling import generate_seeds

logger = logging.getLogger(__name__)

KEYS = ("ssl_fd", "precision", "recall", "sr_fd", "sr_precision", "sr_recall", "face_rate")
SEED_SETS = {"A": 1_000_000, "B": 2_000_000}


def spread(releases: list[str], *, data: Path, resources: MetricResources, samples: int, weights_dir: Path) -> dict:
    """{release: {set: {metric: value}}} plus, per metric, the largest A-B gap (relative for FDs)."""
    manifest = read_manifest(weights_dir)
    real = prepare_real(data, 64, samples=samples, cascade=resources.cascade, second_lens=True,
                        encoder_cache=resources.encoder_cache, sr_lens=resources.sr_lens,
                        cascade_required=resources.required("cascade"))  # fmt: skip
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for name in releases:
        release = manifest.get(name)
        if release is None:
            raise SystemExit(f"{weights_dir}: no release {name!r}")
        generator, info = load_generator(manifest.file_of(release))
        for label, start in SEED_SETS.items():
            drawn = generate_seeds(generator, range(start, start + samples), info.config.latent_dim)
            result = score(drawn, real)
            scores.setdefault(name, {})[label] = {k: float(result[k]) for k in KEYS if k in result}
            logger.info("%s, seed set %s: %s", name, label, scores[name][label])
    return {"samples": samples, "scores": scores, "largest_spread": largest_spread(scores)}


def largest_spread(scores: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
    """Per metric, the largest gap between seed sets A and B over the releases: relative for FDs
    (the gate on FD is a ratio), absolute for shares (the precision and recall gates are differences)."""
    largest: dict[str, float] = {}
    for key in KEYS:
        gaps = [
            abs(a - b) / max(a, b) if key.endswith("fd") else abs(a - b)
            for sets in scores.values()
            if (a := sets["A"].get(key)) is not None and (b := sets["B"].get(key)) is not None
        ]
        if gaps:
            largest[key] = max(gaps)
    return largest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.lens_spread",
        description=__doc__.split("\n\n")[0],
        parents=[metric_flags("cascade", samples=1000, samples_help="images per seed set and real faces")],
    )
    parser.add_argument("releases", nargs="+", help="release names, e.g. v1 v2")
    parser.add_argument("--data", type=Path, required=True, help="the training images")
    parser.add_argument("--weights-dir", type=Path, default=Path("weights"))
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = spread(args.releases, data=args.data, resources=MetricResources.from_args(args), samples=args.samples,
                    weights_dir=args.weights_dir)  # fmt: skip
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    sys.stdout.write(text + "\n")  # the command's output


if __name__ == "__main__":
    main()
