"""The golden avatars under each CPU path torch can be forced onto: which paths draw the same bytes.

torch picks its CPU kernels at start-up from the CPU's features, and a node with an older or other
CPU runs another path for real. Two environment variables force the older paths on this CPU:
`ATEN_CPU_CAPABILITY` (ATen's vectorised kernels: tanh, ReLU, the uint8 rounding) and
`ONEDNN_MAX_CPU_ISA` (oneDNN's convolutions, and whether it runs bfloat16 natively). Each path runs
in its own process (the variables are read once) and draws every golden of every served release as
the service would there, each under the device kind the service would report (which is part of
every ETag); what it drew is compared with `releases.json` wherever the kinds are equal.

    python -m tests.golden.cpu_paths            # every path this CPU can emulate, as a markdown table
    python -m tests.golden.cpu_paths --json     # the same as JSON

`tests/test_cpu_paths.py` runs a few of them and checks the rule: equal device kinds, equal bytes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from app.inference import AvatarModel
from gan.devices import cpu_path
from gan.releases import read_manifest
from tests.golden.goldens import (
    HD_CODE_SIZE,
    WEIGHTS,
    code_pixels,
    digest,
    load_goldens,
    release_directions,
    release_upscaler,
    render_case,
    upscales,
)

ROOT = Path(__file__).resolve().parents[2]
ATEN = ("default", "avx2", "avx512")
# oneDNN's ISA levels that change its kernels, oldest first ("ALL": no cap, the CPU's best)
ONEDNN = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_CORE_BF16",
          "AVX512_CORE_FP16", "AVX512_CORE_AMX", "ALL")  # fmt: skip


Drawn = dict[str, dict[str, dict[str, str]]]  # release -> device kind -> what -> SHA-256


def probe() -> dict[str, Any]:
    """This process's path: the hash of everything it drew, under the device kind each depends on
    (64 px images: the generator's kind; HD ones: the release's), and which differ from the goldens.
    The upscaler runs in the dtype the service picks here and, where that is not float32, in float32
    too (`AVATARS_UPSCALER_DTYPE=float32`), so both dtypes are compared across paths."""
    goldens, manifest = load_goldens(), read_manifest(WEIGHTS)
    drawn: Drawn = {}
    kinds: dict[str, str] = {}
    for release in manifest.served:
        entry = goldens[release.name]
        model = AvatarModel.load(manifest.file_of(release), device="cpu")
        auto = release_upscaler(release.name)
        upscalers = (
            [auto] if auto is None or auto.dtype == torch.float32 else [auto, release_upscaler(release.name, "float32")]
        )
        kinds[release.name] = model.device_kind + (f"+{auto.device_kind}" if auto else "")
        mine = drawn.setdefault(release.name, {})
        base = mine.setdefault(model.device_kind, {})
        directions = release_directions(release.name)
        codes = entry.get("codes", []) if directions else []
        images = {}
        for case in codes:
            base[f"code {case['code']} pixels"], images[case["code"]] = code_pixels(model, directions, case["code"])
        for upscaler in upscalers:
            hd = mine.setdefault(f"{model.device_kind}+{upscaler.device_kind}", {}) if upscaler else base
            for case in entry["cases"]:
                what = f"seed {case['seed']} {case['size']} px"
                drawn_in_hd = upscaler is not None and upscales(release, case["size"])
                pixels, png, hd_pixels = render_case(model, case, upscaler if drawn_in_hd else None)
                base[f"{what} pixels"] = pixels
                (hd if drawn_in_hd else base)[f"{what} PNG"] = png
                if hd_pixels is not None:
                    hd[f"{what} HD pixels"] = hd_pixels
            if upscaler is not None and upscales(release, HD_CODE_SIZE):
                for code, image in images.items():
                    hd[f"code {code} HD pixels"] = digest(upscaler.render(torch.from_numpy(image[None]))[0])
    recorded = recorded_hashes(goldens)
    return {"cpu_path": cpu_path(), "device_kinds": kinds, "drawn": drawn, "differ": differences(recorded, drawn)}


def recorded_hashes(goldens: dict[str, Any]) -> Drawn:
    """The goldens in `probe`'s shape: what was drawn on the recorded device kinds."""
    out: Drawn = {}
    for name, entry in goldens.items():
        base = out.setdefault(name, {}).setdefault(entry["device"], {})
        hd = (
            out[name].setdefault(f"{entry['device']}+upscaler-{entry['upscaler_dtype']}", {})
            if "upscaler_dtype" in entry
            else base
        )
        for case in entry["cases"]:
            what = f"seed {case['seed']} {case['size']} px"
            base[f"{what} pixels"] = case["pixels_sha256"]
            (hd if "hd_pixels_sha256" in case else base)[f"{what} PNG"] = case["png_sha256"]
            if "hd_pixels_sha256" in case:
                hd[f"{what} HD pixels"] = case["hd_pixels_sha256"]
        for case in entry.get("codes", []):
            base[f"code {case['code']} pixels"] = case["pixels_sha256"]
            if "hd_pixels_sha256" in case:
                hd[f"code {case['code']} HD pixels"] = case["hd_pixels_sha256"]
    return out


def differences(a: Drawn, b: Drawn) -> dict[str, list[str]]:
    """Per release, what `a` and `b` both drew under one device kind but with other bytes: what must
    never happen (equal kinds, equal bytes)."""
    out: dict[str, list[str]] = {}
    for name in a.keys() & b.keys():
        for kind in a[name].keys() & b[name].keys():
            x, y = a[name][kind], b[name][kind]
            out.setdefault(name, []).extend(
                f"{kind}: {what}" for what in sorted(x.keys() & y.keys()) if x[what] != y[what]
            )
    return out


def same_as_goldens(goldens: dict[str, Any], drawn: Drawn) -> dict[str, list[str]]:
    """Per release, the recorded kinds this path also drew under, and nothing else: the path draws
    the goldens' bytes wherever its device kind is the goldens'."""
    recorded = recorded_hashes(goldens)
    return {name: sorted(recorded[name].keys() & kinds.keys()) for name, kinds in drawn.items() if name in recorded}


def conflicts(rows: list[dict[str, Any]]) -> list[str]:
    """Every pair of paths (the goldens one of them) that drew other bytes under one device kind."""
    named = [("goldens", recorded_hashes(load_goldens()))]
    named += [(f"{r['aten_request']}/{r['onednn_request']}", r["drawn"]) for r in rows]
    out = []
    for (a, x), (b, y) in itertools.combinations(named, 2):
        out += [f"{a} and {b}, {name}, {what}" for name, found in differences(x, y).items() for what in found]
    return out


def path_env(aten: str, onednn: str) -> dict[str, str]:
    """The parent's environment with one CPU path forced, on one torch thread (the thread count does
    not change the bytes: the golden tests run on all cores and agree with these)."""
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")}
    env |= {"ATEN_CPU_CAPABILITY": aten, "OMP_NUM_THREADS": "1"}
    if onednn != "ALL":
        env["ONEDNN_MAX_CPU_ISA"] = onednn
    return env


def run_path(aten: str, onednn: str, timeout_s: float = 300.0) -> dict[str, Any]:
    """`probe()` in a fresh interpreter under one forced path."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.golden.cpu_paths", "--probe"],
        cwd=ROOT,
        env=path_env(aten, onednn),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=True,
    )
    return {"aten_request": aten, "onednn_request": onednn, **json.loads(done.stdout.strip().splitlines()[-1])}


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| ATEN_CPU_CAPABILITY | ONEDNN_MAX_CPU_ISA | in use (ATen, oneDNN) | v3 device kind "
        "| recorded kinds drawn | differ under an equal kind |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        path = row["cpu_path"]
        same = ", ".join(
            f"{name}: {len(kinds)}" for name, kinds in same_as_goldens(load_goldens(), row["drawn"]).items()
        )
        counts = ", ".join(f"{name} {len(found)}" for name, found in row["differ"].items() if found) or "none"
        lines.append(
            f"| {row['aten_request']} | {row['onednn_request']} | {path['aten']}, {path['onednn']} "
            f"| `{row['device_kinds'].get('v3', '')}` | {same} | {counts} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden.cpu_paths", description=__doc__.split("\n\n")[0])
    parser.add_argument("--probe", action="store_true", help="(internal) this process's path, as one JSON line")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    parser.add_argument("--aten", nargs="*", default=list(ATEN))
    parser.add_argument("--onednn", nargs="*", default=list(ONEDNN))
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe()))
        return 0
    rows = [run_path(a, o) for a, o in itertools.product(args.aten, args.onednn)]
    clashes = conflicts(rows)
    if args.json:
        print(json.dumps({"paths": rows, "conflicts": clashes}, indent=2))
    else:
        print(table(rows) + "\nOther bytes under one device kind: " + ("; ".join(clashes) or "none"))
    return 1 if clashes else 0


if __name__ == "__main__":
    sys.exit(main())
