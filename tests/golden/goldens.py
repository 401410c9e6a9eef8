"""Golden avatars of the shipped releases: what players see, pinned by hash.

`releases.json` in this folder holds one entry per published release, written once by
`python -m training release publish` (what an entry holds: training/goldens.py).
`tests/test_golden_images.py` compares the avatars, `tests/test_shipped_weights.py` the files.

The one rewrite allowed, in the same commit as an encoder change made on purpose:

    python -m tests.golden.goldens rewrite-png v1

It refuses to run if any pixel hash differs, so only the bytes of an encoding change can be
re-recorded; pixels never are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from training.goldens import (  # noqa: F401  (the tests' vocabulary)
    HD_CODE_SIZE,
    PNG_LEVEL,
    WEIGHTS,
    cases_for,
    code_pixels,
    digest,
    release_directions,
    release_upscaler,
    render_case,
    upscales,
)

GOLDEN_FILE = Path(__file__).with_name("releases.json")


def load_goldens() -> dict[str, Any]:
    return json.loads(GOLDEN_FILE.read_text()) if GOLDEN_FILE.exists() else {}


def main(argv: list[str] | None = None) -> int:
    from app.inference import AvatarModel
    from gan.releases import read_manifest

    parser = argparse.ArgumentParser(prog="python -m tests.golden.goldens", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["rewrite-png"])
    parser.add_argument("release")
    args = parser.parse_args(argv)
    goldens = load_goldens()
    manifest = read_manifest(WEIGHTS)
    release = manifest.get(args.release)
    if release is None or args.release not in goldens:
        print(f"no published release {args.release!r} with goldens", file=sys.stderr)
        return 1
    model = AvatarModel.load(manifest.file_of(release), device="cpu")
    upscaler = release_upscaler(args.release)
    entry = goldens[args.release]
    for case in entry["cases"]:
        px, png, hd = render_case(model, case, upscaler if upscales(release, case["size"]) else None)
        if case["pixels_sha256"] != px or case.get("hd_pixels_sha256") != hd:
            print(f"pixels of seed {case['seed']} changed: refusing to re-record", file=sys.stderr)
            return 1
        case["png_sha256"] = png
    entry["png_compress_level"] = PNG_LEVEL
    GOLDEN_FILE.write_text(json.dumps(goldens, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
