"""`python -m bench`: run the load benchmark, print its tables, write JSON + markdown + plot to --out."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from app.config import DEFAULT_WEIGHTS_DIR
from bench.report import markdown, write
from bench.runner import BenchConfig, quick, run_benchmark
from bench.servers import ServerFailed
from gan.releases import ManifestError, read_manifest


def default_checkpoint() -> Path:
    """The default release's file, or the path it would have when the manifest cannot be read."""
    try:
        manifest = read_manifest(DEFAULT_WEIGHTS_DIR)
    except ManifestError:
        return DEFAULT_WEIGHTS_DIR / "v1.safetensors"
    return manifest.file_of(manifest.default)


def default_upscalers() -> list[str]:
    """The default release's upscaler, as LABEL=FILE, if it has one."""
    try:
        manifest = read_manifest(DEFAULT_WEIGHTS_DIR)
    except ManifestError:
        return []
    up = manifest.default.upscaler
    return [f"{manifest.default.name}={manifest.folder / up.file}"] if up else []


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    default_weights = default_checkpoint()
    defaults = BenchConfig(weights=default_weights)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--weights",
        type=Path,
        default=default_weights,
        help="generator checkpoint (.safetensors; default: the default release of weights/releases.json)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench"), help="folder for benchmarks-*.{json,md,png}")
    parser.add_argument("--log-dir", type=Path, default=Path("runs/bench/logs"), help="one log file per server started")
    parser.add_argument("--quick", action="store_true", help="smoke-sized run: every stage, a fraction of a second")
    parser.add_argument("--seconds", type=float, default=None, help=f"per scenario (default {defaults.seconds})")
    parser.add_argument(
        "--max-requests", type=int, default=None, help=f"per scenario (default {defaults.max_requests})"
    )
    parser.add_argument(
        "--soak-requests", type=int, default=None, help=f"between RSS readings (default {defaults.soak_requests})"
    )
    parser.add_argument(
        "--client", choices=["raw", "httpx"], default="raw", help="load generator's HTTP client (see bench/http.py)"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip LitServe (when it is not installed)")
    parser.add_argument(
        "--upscaler",
        action="append",
        metavar="LABEL=FILE",
        help="an upscaler for the HD stage (repeatable; default: the default release's, with the default --weights)",
    )
    parser.add_argument("--no-hd", action="store_true", help="skip the HD stage")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr, only the tables")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    if not args.weights.is_file():
        print(f"error: no checkpoint at {args.weights} (pass --weights)", file=sys.stderr)
        return 2
    specs = (
        args.upscaler
        if args.upscaler is not None
        else default_upscalers()
        if args.weights == default_checkpoint()
        else []
    )
    upscalers = tuple((label, Path(file)) for label, _, file in (spec.partition("=") for spec in specs))
    if any(not label or not file.is_file() for label, file in upscalers):
        print(f"error: --upscaler takes LABEL=FILE of an existing file, got {specs}", file=sys.stderr)
        return 2
    config = BenchConfig(weights=args.weights, peer=not args.no_peer, client=args.client, log_dir=args.log_dir,
                         upscalers=() if args.no_hd else upscalers)  # fmt: skip
    if args.quick:
        config = quick(config)
    overrides = {
        "seconds": args.seconds,
        "max_requests": args.max_requests,
        "soak_requests": args.soak_requests,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    try:
        results = run_benchmark(config, command)
    except ServerFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    paths = write(results, args.out)
    print(markdown(results))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
