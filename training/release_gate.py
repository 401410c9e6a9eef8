"""Whether a candidate generator may replace the default release: measured gates, one verdict.

A new default changes every unversioned avatar, so "better" has to be shown, not felt. The
candidate and the release it would replace are scored here in one process on the same seeds,
against the same held-out faces in the same encoder, and timed in alternating rounds (one after
the other where their latent sizes differ); then each gate compares the two:

- FD in the primary lens (the data set's own encoder) at most `max_fd_ratio` of the baseline's
  (the v2 issue asks for 25% lower: 0.75),
- FD in the second lens (training/metrics/sr_lens.py, features nobody fitted to our faces) at most
  `max_second_fd_ratio` of the baseline's: better in one lens must not be bought by being worse in
  another,
- precision and recall in each lens at most `max_precision_drop` / `max_recall_drop` below the
  baseline's: a move along the fidelity/variety trade-off is not an improvement,
- the face-detection rate at least `min_face_rate_ratio` of real images' rate,
- `copies_p1` at most `max_copies_p1` in each lens (real held-out images score about 0.01),
- images per second at least `min_speed_ratio` of the baseline's, since the service pays for
  every extra GFLOP on every avatar.

The default margins come from the calibration in docs/training.md ("Two lenses"): each is several
times the spread between two seed sets of one generator, and well below the smallest real damage
the lens ranks (a blur to 32 px). A face rate far above real images' is reported as a warning
(`face_rate_warn_ratio`): more detected faces than real drawings have reads as stereotyped faces,
not as better ones. KID and GFLOP per image are reported beside the gates.

With `upscaler` (the HD stage the candidate would ship with), the candidate's samples are also
drawn at each HD size, Lanczos beside the upscaler (training/metrics/hd.py): consistency with the
64 px avatar, sharpness and face rate are reported per size, and one more gate per size asks that
the upscaler keep faces: its face rate at least `min_hd_face_rate_ratio` of Lanczos's.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan.checkpoint import load_generator
from gan.imaging import to_hwc
from gan.latents import seeds_latents
from gan.networks import count_flops, fuse_batchnorm
from gan.releases import HD_SIZES, file_sha256
from training.config import ConfigError
from training.evaluate import prepare_real, score
from training.metrics.distribution import KEY_COPIES_P1, KEY_FD, KEY_PRECISION, KEY_RECALL
from training.metrics.encoder import EncoderRecipe
from training.metrics.face_detection import resolve_cascade
from training.metrics.hd import LANCZOS, compare, upscaling
from training.metrics.hd import markdown as hd_markdown
from training.metrics.sr_lens import KEY_COPIES_P1 as SR_COPIES_P1
from training.metrics.sr_lens import KEY_FD as SR_FD
from training.metrics.sr_lens import KEY_PRECISION as SR_PRECISION
from training.metrics.sr_lens import KEY_RECALL as SR_RECALL
from training.sampling import generate_eval_samples

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gates:
    max_fd_ratio: float = 0.75
    min_face_rate_ratio: float = 0.95
    max_copies_p1: float = 0.02
    min_speed_ratio: float = 0.5
    min_hd_face_rate_ratio: float = 0.95
    # margins from the calibration (docs/training.md, "Two lenses"): about 3x the largest seed-set
    # spread of FD seen (3.3%) and 1.4x that of precision/recall (0.022), far below any ranked damage
    max_second_fd_ratio: float = 1.10
    max_precision_drop: float = 0.03
    max_recall_drop: float = 0.03
    face_rate_warn_ratio: float = 1.10  # a warning, not a gate
    # below this the detector does not read the data set's faces (a wrong cascade), so the face gate
    # would pass on 0 >= 0.95 x 0
    min_real_face_rate: float = 0.1

    def __post_init__(self) -> None:
        if not (self.max_fd_ratio > 0 and self.min_face_rate_ratio >= 0):
            raise ValueError("max_fd_ratio must be > 0 and min_face_rate_ratio >= 0")
        if not 0 <= self.min_real_face_rate <= 1:
            raise ValueError("min_real_face_rate must be in [0, 1]")
        if not (0 <= self.max_copies_p1 <= 1 and self.min_speed_ratio >= 0):
            raise ValueError("max_copies_p1 must be in [0, 1] and min_speed_ratio >= 0")
        if not (self.max_second_fd_ratio > 0 and 0 <= self.max_precision_drop <= 1 and 0 <= self.max_recall_drop <= 1):
            raise ValueError("max_second_fd_ratio must be > 0, max_precision_drop and max_recall_drop in [0, 1]")


@dataclass(frozen=True)
class GateResult:
    gate: str
    candidate: float
    baseline: float | None
    rule: str
    passed: bool


def judge(candidate: dict[str, Any], baseline: dict[str, Any], gates: Gates) -> list[GateResult]:
    """The verdict of each gate from two metric dicts (as `evaluate` returns them, plus
    `images_per_s`); a metric that is missing fails its gate rather than passing silently."""

    def get(metrics: dict[str, Any], key: str) -> float:
        value = metrics.get(key)
        return float("nan") if value is None else float(value)

    fd_c, fd_b = get(candidate, KEY_FD), get(baseline, KEY_FD)
    sr_c, sr_b = get(candidate, SR_FD), get(baseline, SR_FD)
    face_c, real = get(candidate, "face_rate"), get(candidate, "real_face_rate")
    speed_c, speed_b = get(candidate, "images_per_s"), get(baseline, "images_per_s")

    def drop(key: str, lens: str, margin: float) -> GateResult:
        c, b = get(candidate, key), get(baseline, key)
        return GateResult(f"{key.removeprefix('sr_')} ({lens})", c, b, f">= baseline - {margin:g}", c >= b - margin)

    def copies(key: str, lens: str) -> GateResult:
        c = get(candidate, key)
        return GateResult(f"copies_p1 ({lens})", c, get(baseline, key), f"<= {gates.max_copies_p1:g}",
                          c <= gates.max_copies_p1)  # fmt: skip

    # comparisons with NaN are False, so a missing number fails
    return [
        GateResult("FD", fd_c, fd_b, f"<= {gates.max_fd_ratio:g} x baseline", fd_c <= gates.max_fd_ratio * fd_b),
        GateResult("FD (lens 2)", sr_c, sr_b, f"<= {gates.max_second_fd_ratio:g} x baseline",
                   sr_c <= gates.max_second_fd_ratio * sr_b),
        drop(KEY_PRECISION, "lens 1", gates.max_precision_drop),
        drop(KEY_RECALL, "lens 1", gates.max_recall_drop),
        drop(SR_PRECISION, "lens 2", gates.max_precision_drop),
        drop(SR_RECALL, "lens 2", gates.max_recall_drop),
        GateResult(
            "face rate", face_c, get(baseline, "face_rate"),
            f">= {gates.min_face_rate_ratio:g} x real ({real:.3f}, which must be >= {gates.min_real_face_rate:g})",
            face_c >= gates.min_face_rate_ratio * real and real >= gates.min_real_face_rate,
        ),
        copies(KEY_COPIES_P1, "lens 1"),
        copies(SR_COPIES_P1, "lens 2"),
        GateResult(
            "images/s", speed_c, speed_b, f">= {gates.min_speed_ratio:g} x baseline",
            speed_c >= gates.min_speed_ratio * speed_b,
        ),
    ]  # fmt: skip


def warnings(candidate: dict[str, Any], gates: Gates) -> list[str]:
    """What a gate does not refuse but a reader should see: faces far more often than real drawings."""
    face, real = candidate.get("face_rate"), candidate.get("real_face_rate")
    if face is not None and real and face > gates.face_rate_warn_ratio * real:
        return [
            f"face rate {face:.3f} is {face / real:.2f}x real images' {real:.3f} (warning above "
            f"{gates.face_rate_warn_ratio:g}x): more detectable than real drawings reads as stereotyped faces"
        ]
    return []


def hd_judge(rows: list[dict[str, Any]], gates: Gates) -> list[GateResult]:
    """Per HD size: the upscaler's face rate against Lanczos's on the same avatars."""
    by = {(r["size"], r["method"]): r for r in rows}
    results = []
    for (size, method), row in by.items():
        if method == LANCZOS:
            continue
        lanczos = by[(size, LANCZOS)]["face_rate"]
        results.append(GateResult(f"HD face rate {size} px", row["face_rate"], lanczos,
                                  f">= {gates.min_hd_face_rate_ratio:g} x Lanczos",
                                  row["face_rate"] >= gates.min_hd_face_rate_ratio * lanczos))  # fmt: skip
    return results


def hd_rows(samples: torch.Tensor, upscaler_file: Path, cascade: str, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """The HD measures of `samples` (uint8 N x 3 x 64 x 64) with the upscaler as the service runs it."""
    from gan.upscaler import Upscaler, pick_upscaler_dtype
    from training.metrics.face_detection import FaceDetector

    cpu = torch.device("cpu")
    upscaler = Upscaler.load(upscaler_file, cpu, pick_upscaler_dtype("auto", cpu))
    detector = FaceDetector(Path(cascade))
    return compare(to_hwc(samples), {"upscaler": upscaling(upscaler)}, sizes, detector.detect)


def measure_speed(
    nets: dict[str, nn.Module], latent_dim: int, *, batch_size: int = 64, seconds: float = 1.0, rounds: int = 3
) -> dict[str, float]:
    """Images per second of each (batch-norm-folded) generator, the median of alternating rounds."""
    z = seeds_latents(range(batch_size), latent_dim)
    rates: dict[str, list[float]] = {name: [] for name in nets}
    with torch.inference_mode():
        for net in nets.values():
            net(z)  # allocator and kernel selection, not measured
        for _ in range(rounds):
            for name, net in nets.items():
                n, started = 0, time.perf_counter()
                while n < 2 or time.perf_counter() - started < seconds:
                    net(z)
                    n += 1
                rates[name].append(n * batch_size / (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in rates.items()}


def check_release(
    candidate: Path,
    baseline: Path,
    *,
    data: Path,
    cascade: str | None,
    samples: int = 1000,
    encoder_cache: str | None = None,
    encoder_recipe: EncoderRecipe | None = None,
    gates: Gates = Gates(),
    speed_seconds: float = 1.0,
    out_dir: Path | None = None,
    upscaler: Path | None = None,
    hd_sizes: tuple[int, ...] = HD_SIZES,
    sr_lens: str | None = None,
) -> dict[str, Any]:
    """Score both generators, time them, and judge; the report as a dict (and files in out_dir).

    The face gate needs the cascade, so a missing one stops here, before minutes of scoring.
    """
    cascade = str(resolve_cascade(cascade))
    loaded = {name: load_generator(path) for name, path in (("candidate", candidate), ("baseline", baseline))}
    sides = {info.config.resolution for _, info in loaded.values()}
    if len(sides) > 1:  # each resolution has its own encoder, whose FDs do not compare
        raise ConfigError(f"{candidate} and {baseline} draw different resolutions {sorted(sides)}: not comparable")
    real = prepare_real(data, sides.pop(), samples=samples, cascade=cascade, encoder_cache=encoder_cache,
                        encoder_recipe=encoder_recipe, second_lens=True, sr_lens=sr_lens)  # fmt: skip
    scored: dict[str, dict[str, Any]] = {}
    drawn: dict[str, torch.Tensor] = {}
    nets: dict[str, nn.Module] = {}
    dims: dict[str, int] = {}
    for name, (generator, info) in loaded.items():
        logger.info("scoring the %s %s on %d samples", name, info.path, samples)
        dims[name] = info.config.latent_dim
        generated = drawn[name] = generate_eval_samples(generator, dims[name], samples)
        scored[name] = {"model_version": info.model_version, "weights": str(info.path), "samples": samples}
        scored[name] |= score(generated, real)
        nets[name] = fuse_batchnorm(generator).eval()
        scored[name]["gflop_per_image"] = count_flops(nets[name], dims[name]) / 1e9
    if dims["candidate"] == dims["baseline"]:
        speeds = measure_speed(nets, dims["candidate"], seconds=speed_seconds)
    else:  # each timed on latents of its own size
        speeds = {n: measure_speed({n: net}, dims[n], seconds=speed_seconds)[n] for n, net in nets.items()}
    for name, rate in speeds.items():
        scored[name]["images_per_s"] = rate
    results = judge(scored["candidate"], scored["baseline"], gates)
    hd: list[dict[str, Any]] = []
    if upscaler is not None:
        logger.info("drawing the candidate's samples at %s px with %s", hd_sizes, upscaler)
        hd = hd_rows(drawn["candidate"], upscaler, cascade, hd_sizes)
        results += hd_judge(hd, gates)
    report = {
        "passed": all(r.passed for r in results),
        "gates": [asdict(r) for r in results],
        "warnings": warnings(scored["candidate"], gates),
        "gate_settings": asdict(gates),
        "candidate": scored["candidate"],
        "baseline": scored["baseline"],
        "torch_threads": torch.get_num_threads(),
        **({"hd": {"upscaler": str(upscaler), "sha256": file_sha256(upscaler), "rows": hd}} if upscaler else {}),
    }
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "release-check.json").write_text(json.dumps(report, indent=2) + "\n")
        (out_dir / "release-check.md").write_text(markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    """The gates, then the numbers behind them, as a table for a pull request or docs/model.md."""
    c, b = report["candidate"], report["baseline"]
    lines = [
        f"Release check: **{'PASS' if report['passed'] else 'FAIL'}** "
        f"(candidate `{c['model_version']}` against baseline `{b['model_version']}`, {c['samples']} samples each)",
        "",
        "| gate | candidate | baseline | rule | |",
        "|---|---|---|---|---|",
    ]
    for g in report["gates"]:
        base = "-" if g["baseline"] is None else f"{g['baseline']:.4g}"
        lines.append(
            f"| {g['gate']} | {g['candidate']:.4g} | {base} | {g['rule']} | {'pass' if g['passed'] else 'FAIL'} |"
        )
    lines += [f"\nWarning: {w}" for w in report.get("warnings", [])]
    lines += ["", "| metric | candidate | baseline |", "|---|---|---|"]
    for key in ("ssl_fd_content", "ssl_fd_palette", "ssl_kid", "copies_p5", "sr_kid", "sr_copies_p5",
                "face_rate_ratio", "colours_per_image", "gflop_per_image"):  # fmt: skip
        if key in c and key in b:
            lines.append(f"| {key} | {c[key]:.4g} | {b[key]:.4g} |")
    if "hd" in report:
        lines += [
            "",
            f"HD, the candidate's samples with `{report['hd']['upscaler']}`:",
            "",
            hd_markdown(report["hd"]["rows"]),
        ]
    return "\n".join(lines) + "\n"
