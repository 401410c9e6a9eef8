"""`python -m training release ...`: publish an exported generator as a named, immutable release.

The manifest rules live in `gan.releases` (shared with the service) and publishing's in
`training.publish`; this is the command-line face of them. `publish` does the whole of it in one
step (weights, directions, upscaler, goldens, the published record) and refuses a name that is
already listed, so a published name can never point at other weights.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from gan.releases import ManifestError, read_manifest, set_status, verify_files
from training.config import ConfigError
from training.publish import GOLDENS, DirectionsSource, PublishRequest, publish_release, record_goldens
from training.resources import MetricResources, metric_flags

logger = logging.getLogger(__name__)
DEFAULT_FOLDER = Path("weights")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "release",
        help="publish a checkpoint as a named release, change a release's status, or list them",
        description="Releases are listed in WEIGHTS/releases.json; a published name never changes its weights.",
    )
    p.add_argument("--weights-dir", type=Path, default=DEFAULT_FOLDER, help="folder of releases.json (weights/)")
    actions = p.add_subparsers(dest="action", required=True)
    pub = actions.add_parser(
        "publish",
        help="publish CHECKPOINT as release NAME: weights, directions, HD upscaler, goldens, all or nothing",
        description="Checks everything first, then copies the files in as NAME.*.safetensors, records the "
        "golden avatars and file hashes (tests/golden/releases.json) and lists the release. A published name "
        "never changes; a new generator needs a passing `release check` (--check).",
        parents=[metric_flags("cascade")],
    )
    pub.add_argument("name", help="new release name, e.g. v4 (lowercase letters, digits, '-')")
    pub.add_argument("checkpoint", type=Path, help="an exported .safetensors (python -m training export)")
    pub.add_argument("--check", type=Path, help="release-check.json of a passing `release check` of CHECKPOINT")
    how = pub.add_mutually_exclusive_group(required=True)
    how.add_argument("--data", type=Path, help="the training images: compute the directions now (minutes)")
    how.add_argument("--directions", type=Path, help="a directions file already computed for CHECKPOINT")
    how.add_argument("--no-directions", action="store_true", help="a release without edits or hair colours")
    pub.add_argument("--directions-out", type=Path, help="report folder (default: runs/directions/NAME)")
    pub.add_argument("--upscaler", type=Path, help="its HD stage (python -m training upscaler-convert)")
    pub.add_argument("--sizes", help="with --upscaler: comma-separated sizes it draws (default 128,256,512)")
    pub.add_argument("--default", action="store_true", help="make it the default release (the old one stays served)")
    pub.add_argument("--notes", default="", help="one line for the manifest")
    golden = pub.add_mutually_exclusive_group()
    golden.add_argument(
        "--goldens", type=Path, help=f"goldens file (default {GOLDENS} when publishing into this repository's weights/)"
    )
    golden.add_argument(
        "--no-goldens", action="store_true", help="a weights folder outside this repository, with no tests"
    )
    goldens = actions.add_parser(
        "goldens",
        help="record the golden avatars of a release published with --no-goldens (e.g. by the training container)",
    )
    goldens.add_argument("name")
    goldens.add_argument("--goldens", type=Path, default=GOLDENS, help=f"goldens file (default {GOLDENS})")
    default = actions.add_parser("default", help="make a served release the default")
    default.add_argument("name")
    retire = actions.add_parser("retire", help="stop serving a release; its URLs answer 410 naming the successor")
    retire.add_argument("name")
    retire.add_argument("--successor", required=True, help="the served release that replaces it")
    check = actions.add_parser(
        "check",
        help="may CHECKPOINT replace a release? scores both on the same samples and judges the gates",
        description="Exit status 0 when every gate passes, 1 when one fails, 2 when the check cannot run "
        "(training/release_gate.py).",
        parents=[
            metric_flags(
                "cascade", "encoder-cache", "sr-lens", samples=1000, samples_help="generated images per generator"
            )
        ],
    )
    check.add_argument("checkpoint", type=Path, help="the candidate, an exported .safetensors")
    check.add_argument("--against", help="the release it would replace (default: the default release)")
    check.add_argument("--data", type=Path, required=True, help="the training images (held-out faces, real face rate)")
    check.add_argument("--out", type=Path, help="write release-check.{json,md} here")
    # defaults (None) are Gates' own, filled in by `check`: the gate module pulls in the metrics
    check.add_argument("--max-fd-ratio", type=float, help="FD against the baseline's (default 0.75)")
    check.add_argument("--min-face-rate-ratio", type=float, help="face rate against real images' rate (default 0.95)")
    check.add_argument("--max-copies-p1", type=float, help="share of near-copies (default 0.02)")
    check.add_argument("--min-speed-ratio", type=float, help="images/s against the baseline's (default 0.5)")
    check.add_argument("--max-second-fd-ratio", type=float, help="second-lens FD against the baseline's (default 1.1)")
    check.add_argument(
        "--max-precision-drop", type=float, help="precision below the baseline's, in each lens (default 0.03)"
    )
    check.add_argument("--max-recall-drop", type=float, help="recall below the baseline's, in each lens (default 0.03)")
    check.add_argument(
        "--face-rate-warn-ratio", type=float, help="warn above this face rate against real images' (default 1.1)"
    )
    check.add_argument("--upscaler", type=Path, help="the HD upscaler it ships with: report and gate each HD size")
    check.add_argument(
        "--min-hd-face-rate-ratio", type=float, help="HD face rate against Lanczos's, per size (default 0.95)"
    )
    actions.add_parser("list", help="print the manifest")
    actions.add_parser("verify", help="check every served release's file against its published hash")


def check(args: argparse.Namespace) -> int:
    """Judge a candidate against a release; every way the check cannot run is found before scoring."""
    from dataclasses import fields

    from training.release_gate import Gates, check_release, markdown

    manifest = read_manifest(args.weights_dir)
    name = args.against or manifest.default.name
    baseline = manifest.get(name)
    if baseline is None:
        raise ManifestError(manifest.path, f"no release {name!r} to check against")
    given = {f.name: getattr(args, f.name) for f in fields(Gates) if getattr(args, f.name, None) is not None}
    try:
        gates = Gates(**given)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if args.samples < 2:
        raise ConfigError("--samples must be >= 2")
    if args.out is not None:  # a folder that cannot be written should fail now, not after minutes of scoring
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {args.out}: {exc.strerror or exc}") from exc
    verify_files(manifest)  # the baseline as published, not as it may have been edited since
    resources = MetricResources.from_args(args)
    report = check_release(
        args.checkpoint, manifest.file_of(baseline), data=args.data, cascade=resources.cascade, samples=args.samples,
        encoder_cache=resources.encoder_cache, gates=gates, out_dir=args.out, upscaler=args.upscaler,
        sr_lens=resources.sr_lens,
    )  # fmt: skip
    print(markdown(report))  # the command's output
    return 0 if report["passed"] else 1


def publish_request(args: argparse.Namespace) -> PublishRequest:
    """The command line as a request; the rules live in training/publish.py."""
    if args.sizes is not None and args.upscaler is None:
        raise ConfigError("--sizes says which sizes an upscaler draws: pass --upscaler FILE with it")
    try:
        sizes = tuple(int(size) for size in (args.sizes or "128,256,512").split(","))
    except ValueError as exc:
        raise ConfigError(f"--sizes {args.sizes!r}: a comma-separated list of whole numbers") from exc
    goldens = args.goldens
    if goldens is None and not args.no_goldens:
        if args.weights_dir.resolve() != DEFAULT_FOLDER.resolve():
            raise ConfigError(f"--weights-dir {args.weights_dir} is not this repository's weights/: pass --goldens "
                              "FILE for its goldens, or --no-goldens for a folder no test suite checks")  # fmt: skip
        goldens = GOLDENS
    directions = None
    if args.data is not None or args.directions is not None:
        cascade = MetricResources.from_args(args).cascade
        directions = DirectionsSource(args.directions, args.data, cascade, args.directions_out)
    return PublishRequest(
        args.name, args.checkpoint, check_report=args.check, directions=directions, upscaler=args.upscaler,
        sizes=sizes, make_default=args.default, notes=args.notes, goldens=None if args.no_goldens else goldens,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int | None:
    folder: Path = args.weights_dir
    if args.action == "check":
        return check(args)
    if args.action == "publish":
        release = publish_release(publish_request(args), folder)
        logger.info("published %s (%s, model %s) in %s", release.name, release.status, release.model_version, folder)
    elif args.action == "goldens":
        record_goldens(args.name, folder, args.goldens)
        logger.info("recorded %s's goldens in %s", args.name, args.goldens)
        return None
    elif args.action == "default":
        set_status(folder, args.name, "default")
    elif args.action == "retire":
        set_status(folder, args.name, "retired", successor=args.successor)
    elif args.action == "verify":
        verify_files(read_manifest(folder))
    print(json.dumps(read_manifest(folder).to_dict(), indent=2))  # the command's output
