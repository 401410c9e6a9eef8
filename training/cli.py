"""`python -m training` / `avatars-train`: train, evaluate, sample, export, metric-check, directions, release.

Thin: parse arguments, build the typed config, call the library, turn known errors into one line
on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

from training import hair_compare, hd_compare, ncnn_convert, release
from training.config import PRESETS, ConfigError, parse_assignments, resolve_config
from training.resources import MetricResources, metric_flags

logger = logging.getLogger("training")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a generator (also under torchrun for DDP)",
        description="Train a GAN. Settings: preset, then --config file (TOML/YAML), then --set key=value. "
        "Example: python -m training train --preset sngan-64 --data ../shared/data/anime-faces-64.zip",
    )
    p.add_argument("--preset", choices=sorted(PRESETS), help="starting recipe (default: sngan-64)")
    p.add_argument("--config", type=Path, help="TOML or YAML file of settings")
    p.add_argument("--data", help="folder, .zip or .tar of images (same as --set data=...)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any setting, e.g. --set g_channels=32 --set max_minutes=120",
    )
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its snapshot")
    p.add_argument("--dry-run", action="store_true", help="two steps on generated fake images (smoke test)")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    flags = metric_flags(
        "cascade", "encoder-cache", "sr-lens", samples=1000, samples_help="generated (and real) images to score"
    )
    p = sub.add_parser("evaluate", help="face rate, FID/KID and comparison pictures of a checkpoint", parents=[flags])
    p.add_argument("weights", type=Path, help="a .safetensors checkpoint")
    p.add_argument("--data", type=Path, help="real images to compare with (folder, .zip, .tar)")
    p.add_argument("--out", type=Path, help="folder for metrics.json and the pictures")
    p.add_argument("--truncation", type=float, default=1.0, help="score samples drawn at this psi, in (0, 1]")
    p.add_argument("--fid", action="store_true", help="also compute FID and KID (needs Inception weights)")
    p.add_argument("--inception-weights", help="torch-fidelity's Inception file (or $AVATARS_INCEPTION_WEIGHTS)")
    p.add_argument("--allow-download", action="store_true", help="let torch-fidelity download the Inception weights")
    p.add_argument(
        "--no-distribution",
        dest="distribution",
        action="store_false",
        help="skip FD/KID/precision/recall/copies in the data set's own encoder (on by default with --data)",
    )
    p.add_argument("--second-lens", action="store_true", help="also score in the second lens (sr_* keys)")
    p.add_argument("--device", default="cpu")


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="a grid of seeds or an interpolation strip from a checkpoint")
    p.add_argument("weights", type=Path)
    p.add_argument("--out", type=Path, required=True, help="PNG file to write")
    p.add_argument("--n", type=int, default=64, help="number of seeds in the grid")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument("--interpolate", type=int, nargs=2, metavar=("START", "END"), help="walk from seed to seed")
    p.add_argument("--steps", type=int, default=10)


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="a run's generator as a .safetensors with a model card (publish it with `release publish`)",
        parents=[metric_flags("cascade", "encoder-cache", samples=1000, samples_help="images --evaluate scores")],
    )
    p.add_argument("run_dir", type=Path)
    p.add_argument(
        "--out",
        type=Path,
        help="file to write (default: RUN_DIR/generator.safetensors, or RUN_DIR/generator-epochN.safetensors "
        "with --epoch; weights/ holds only what `release publish` publishes)",
    )
    p.add_argument("--fp32", action="store_true", help="store float32 instead of float16")
    p.add_argument("--epoch", type=int, help="export the snapshot kept at this epoch (runs with keep_snapshots)")
    p.add_argument("--notes", default="", help="text for the model card")
    p.add_argument("--evaluate", action="store_true", help="score the export and put the metrics on its card")
    p.add_argument("--data", type=Path, help="real images for --evaluate (default: the run's data)")


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="small copies of a run's evolution GIF and loss plot, for docs",
        description="Write evolution.gif (downscaled, fewer frames) and losses.png of a run into a folder.",
    )
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder to write into (e.g. docs/images)")
    p.add_argument("--frames", type=int, default=10, help="most GIF frames (first and last always kept)")
    p.add_argument("--scale", type=float, default=1.0, help="GIF frame scale (0.5: 64 px faces become 32 px)")
    p.add_argument("--tiles", type=int, default=3, help="GIF shows the top-left TILES x TILES faces (0: all)")


def _add_metric_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "metric-check",
        help="score degraded real faces with the distribution metric: does it rank them correctly?",
        description="Train (or read) the data set's feature encoder, then score held-out real faces, blurred, "
        "JPEG-compressed, collapsed and noise versions of them, and training faces, against the held-out reference.",
        parents=[
            metric_flags(
                "encoder-cache",
                "sr-lens",
                samples=2000,
                samples_help="images per variant (at most the held-out set's size)",
            )
        ],
    )
    p.add_argument("--data", type=Path, required=True, help="folder, .zip or .tar of images")
    p.add_argument("--out", type=Path, required=True, help="markdown report to write (a .json with the rows beside it)")
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--no-second-lens", action="store_true", help="score in the first lens only")


def _add_directions(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "directions",
        help="find and measure a release's latent directions and hair colours "
        "(a new release gets its own through `release publish --data`)",
        description="SeFa, measured-attribute and hair-colour directions of a release, each kept only where "
        "its measured quality meets the goals; the report and pictures go to --out.",
        parents=[metric_flags("cascade")],
    )
    p.add_argument("release", help="a release name from WEIGHTS/releases.json, e.g. v1")
    p.add_argument("--weights-dir", type=Path, default=release.DEFAULT_FOLDER, help="folder of releases.json")
    p.add_argument("--data", type=Path, required=True, help="the training images (for the real face rate)")
    p.add_argument("--out", type=Path, help="report folder (default: runs/directions/RELEASE)")
    p.add_argument("--eval-seeds", type=int, default=1000, help="faces each direction is judged on")
    p.add_argument("--fit-samples", type=int, default=10_000, help="faces the named directions are fitted on")
    p.add_argument("--players", type=int, default=1000, help="player ids each hair colour is judged on")
    p.add_argument(
        "--hair-steps",
        type=int,
        default=6,
        help="pushes toward a hair colour after the player's face "
        "as it is, in equal steps up to the allowed strength (default 6; v1-v3 were published with 2)",
    )
    p.add_argument(
        "--hair-alternates",
        type=int,
        default=5,
        help="related faces tried only when no push on the player's own face reaches the colour "
        "(default 5; 0 keeps every player's face and leaves the colour unreached for the rest)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    _add_sample(sub)
    _add_export(sub)
    _add_report(sub)
    _add_metric_check(sub)
    _add_directions(sub)
    release.add_parser(sub)
    ncnn_convert.add_parser(sub)
    hd_compare.add_parser(sub)
    hair_compare.add_parser(sub)
    sub.add_parser("presets", help="print the presets and their settings")
    return parser


def _fake_images(folder: Path, count: int, resolution: int) -> None:
    """Blobs of colour on noise: enough for a dry run to exercise every code path."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        image = rng.integers(0, 255, (resolution, resolution, 3), dtype=np.uint8)
        y, x = rng.integers(0, resolution // 2, 2)
        image[y : y + resolution // 2, x : x + resolution // 2] = rng.integers(0, 255, 3)
        Image.fromarray(image).save(folder / f"fake-{i:03d}.png")


def cmd_train(args: argparse.Namespace) -> None:
    from training.loop import resume_config, train

    overrides = parse_assignments(args.overrides)
    if args.data:
        overrides["data"] = args.data
    resources = MetricResources.from_args(args)  # $AVATARS_ENCODER_CACHE, where `encoder_cache` is not set
    if args.resume:
        if args.preset or args.config:
            raise ConfigError("--resume takes the run's own config; change it with --set only")
        train(resume_config(args.resume, overrides), resume=args.resume, resources=resources)
        return
    config = resolve_config(args.preset, args.config, overrides)
    if not args.dry_run:
        train(config, resources=resources)
        return
    with tempfile.TemporaryDirectory() as tmp:
        fake = Path(tmp) / "images"
        fake.mkdir()
        _fake_images(fake, 2 * config.batch_size, config.resolution)
        dry = resolve_config(
            config.preset,
            None,
            overrides
            | {
                "data": str(fake),
                "max_steps": 2,
                "epochs": 1,
                "eval_every": 0,
                "out_dir": str(Path(tmp) / "runs"),
                "run_name": "dry-run",
            },
        )
        run_dir = train(dry, resources=resources)
        logger.info("dry run finished: %s", sorted(p.name for p in run_dir.iterdir()))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from training.evaluate import EvaluateOptions, evaluate

    if not 0.0 < args.truncation <= 1.0:
        raise ConfigError(f"--truncation must be in (0, 1], got {args.truncation}")
    options = EvaluateOptions(
        data=args.data,
        out_dir=args.out,
        samples=args.samples,
        truncation=args.truncation,
        fid=args.fid,
        allow_download=args.allow_download,
        distribution=args.distribution,
        second_lens=args.second_lens,
        device=args.device,
        resources=MetricResources.from_args(args),
    )
    results = evaluate(args.weights, options=options)
    print(json.dumps(results, indent=2))  # the command's output, for people and scripts


def cmd_sample(args: argparse.Namespace) -> None:
    from gan.checkpoint import load_generator
    from gan.imaging import tile_grid, to_hwc
    from gan.latents import interpolate, seed_latent
    from training.sampling import generate, generate_seeds
    from training.visualize import save_png

    generator, info = load_generator(args.weights)
    dim = info.config.latent_dim
    if args.interpolate:
        start, end = (seed_latent(s, dim) * args.truncation for s in args.interpolate)
        images = generate(generator, interpolate(start, end, args.steps))
        save_png(tile_grid(to_hwc(images), columns=args.steps), args.out)
    else:
        seeds = range(args.seed, args.seed + args.n)
        save_png(tile_grid(to_hwc(generate_seeds(generator, seeds, dim, args.truncation))), args.out)
    logger.info("wrote %s", args.out)


def cmd_export(args: argparse.Namespace) -> None:
    import torch

    from gan.checkpoint import update_card
    from training.export import export_run

    dtype = torch.float32 if args.fp32 else torch.float16
    if args.out is None:  # beside the run it came from, never an unlisted file in weights/
        name = "generator.safetensors" if args.epoch is None else f"generator-epoch{args.epoch}.safetensors"
        args.out = args.run_dir / name
    info = export_run(args.run_dir, args.out, dtype=dtype, notes=args.notes, epoch=args.epoch)
    if args.evaluate:  # score the file as shipped (fp16 included), then put the numbers on its card
        from training.config import load_run_config
        from training.evaluate import EvaluateOptions, evaluate

        data = args.data or Path(load_run_config(args.run_dir / "config.json").data)
        options = EvaluateOptions(data=data, samples=args.samples, resources=MetricResources.from_args(args))
        metrics = evaluate(args.out, options=options)
        info = update_card(
            args.out, metrics={k: v for k, v in metrics.items() if k not in ("weights", "model_version")}
        )
    print(json.dumps(info.as_dict(), indent=2))


def cmd_report(args: argparse.Namespace) -> None:
    from gan.imaging import GRID_PADDING
    from training.config import load_run_config
    from training.visualize import evolution_gif, loss_plot

    grids = sorted((args.run_dir / "samples").glob("epoch-*.png"))
    if not grids:
        raise ConfigError(f"{args.run_dir}: no samples/epoch-*.png (is this a run folder that finished an epoch?)")
    if args.frames < 2 or not 0 < args.scale <= 1 or args.tiles < 0:
        raise ConfigError("--frames must be >= 2, --scale in (0, 1] and --tiles >= 0")
    box = None
    if args.tiles:  # the run's grids come from gan.imaging.tile_grid: GRID_PADDING around each face
        resolution = load_run_config(args.run_dir / "config.json").resolution
        side = args.tiles * (resolution + GRID_PADDING) + GRID_PADDING
        box = (0, 0, side, side)
    written = [
        evolution_gif(grids, args.out / "evolution.gif", max_frames=args.frames, scale=args.scale, box=box),
        loss_plot(args.run_dir / "stats.jsonl", args.out / "losses.png", args.run_dir / "metrics.jsonl"),
    ]
    for path in filter(None, written):
        logger.info("wrote %s (%d KB)", path, path.stat().st_size // 1024)


def cmd_metric_check(args: argparse.Namespace) -> None:
    import shlex
    import time

    from training.data import load_images
    from training.metrics.check import report, run_check
    from training.metrics.distribution import build_reference
    from training.metrics.encoder import EncoderRecipe
    from training.metrics.sr_lens import SrLensRecipe, build_sr_reference

    start = time.monotonic()
    resources = MetricResources.from_args(args)
    data = load_images(args.data, args.resolution)
    recipe = EncoderRecipe(resolution=args.resolution)
    reference = build_reference(data.images, recipe, resources.encoder_cache)
    second = None
    if not args.no_second_lens:
        lens_recipe = SrLensRecipe(holdout=recipe.holdout, seed=recipe.seed)
        second = build_sr_reference(data.images, resources.sr_lens, lens_recipe, resources.encoder_cache)
    rows = run_check(reference, data.images, recipe, args.samples, second)
    header = {
        "command": f"`python -m training {shlex.join(sys.argv[1:])}`" if sys.argv[1:] else "",
        "data": f"{args.data.name}, {len(data)} images, {len(reference.train)} train / "
        f"{len(reference.reference)} reference / {len(reference.check_images)} check (held out)",
        "encoder": f"`{reference.encoder_id}`, "
        + ("trained" if reference.cached.trained else "read from cache")
        + f" in {reference.cached.seconds:.0f} s",
        **({"second lens": f"`{second.lens_id}`"} if second is not None else {}),
        "wall time": f"{time.monotonic() - start:.0f} s",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(rows, header))
    args.out.with_suffix(".json").write_text(json.dumps({"header": header, "rows": rows}, indent=2) + "\n")
    print(args.out.read_text())


def cmd_directions(args: argparse.Namespace) -> None:
    from gan.releases import ManifestError, read_manifest, verify_files
    from training.directions import DirectionsConfig, compute_directions, measure_real_faces
    from training.metrics.face_detection import FaceDetector, resolve_cascade

    manifest = read_manifest(args.weights_dir)
    entry = manifest.get(args.release)
    if entry is None:
        raise ManifestError(manifest.path, f"no release {args.release!r}; known: {[r.name for r in manifest.releases]}")
    verify_files(manifest)
    detector = FaceDetector(resolve_cascade(MetricResources.from_args(args).cascade))
    real, shares = measure_real_faces(args.data, detector)
    if args.hair_steps < 1 or args.hair_alternates < 0:
        raise ConfigError("--hair-steps must be >= 1 and --hair-alternates >= 0")
    config = DirectionsConfig(eval_seeds=args.eval_seeds, fit_samples=args.fit_samples, hair_players=args.players,
                              hair_steps=args.hair_steps, hair_alternates=args.hair_alternates)  # fmt: skip
    out = args.out or Path("runs") / "directions" / args.release
    compute_directions(manifest.file_of(entry), release=args.release, real_face_rate=real.overall,
                       detector=detector, out_dir=out, config=config, real_rate_by_color=real.by_color,
                       real_color_shares=shares)  # fmt: skip
    print((out / "report.md").read_text())


def cmd_presets(_: argparse.Namespace) -> None:
    print(json.dumps(PRESETS, indent=2))


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "sample": cmd_sample,
    "export": cmd_export,
    "report": cmd_report,
    "metric-check": cmd_metric_check,
    "directions": cmd_directions,
    "presets": cmd_presets,
    "release": release.run,
    "upscaler-convert": ncnn_convert.run,
    "hd-compare": hd_compare.run,
    "hair-compare": hair_compare.run,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from gan.checkpoint import CheckpointError
    from gan.releases import ManifestError
    from gan.upscaler import UpscalerError
    from training.data import DatasetError
    from training.metrics.face_detection import MetricUnavailable
    from training.snapshot import SnapshotError

    try:
        code = COMMANDS[args.command](args)
    except (
        ConfigError,
        DatasetError,
        SnapshotError,
        CheckpointError,
        ManifestError,
        MetricUnavailable,
        UpscalerError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code or 0  # a command that judges (release check) answers 1 for "no"
