"""`python -m bench.mixed`: the mixed-overload stage of `python -m bench` alone (about a minute).

One-seed GETs and 64-avatar 256 px POSTs, each offered at its own measured capacity (twice the
replica's capacity in all), against a server with the work budget off and one at its default.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from bench.__main__ import default_checkpoint
from bench.report import mixed_overload_table
from bench.runner import BenchConfig, mixed_overload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mixed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=default_checkpoint(), help="generator checkpoint")
    parser.add_argument("--seconds", type=float, default=5.0, help="capacity measurement per kind")
    parser.add_argument("--overload-seconds", type=float, default=6.0, help="the mixed open-loop phase")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    config = BenchConfig(weights=args.weights, seconds=args.seconds, overload_seconds=args.overload_seconds,
                         log_dir=args.out / "logs")  # fmt: skip
    runs = mixed_overload(config, {"max_batch_size": 64, "max_wait_ms": 0.0})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks-mixed.json").write_text(json.dumps(runs, indent=2) + "\n")
    print(mixed_overload_table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
