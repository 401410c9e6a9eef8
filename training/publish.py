"""Publishing a release in one step: weights, directions, HD upscaler, goldens and the published record.

A release is a promise to games (README "Releases"), so publishing is all or nothing. Everything is
checked before anything is written: the name is free, the checkpoint loads, a new generator has
passed `release check`, the directions and upscaler are files the service would load. The release is
then assembled in a scratch folder, its golden avatars are drawn from there through the service's own
code, and only then are the new files copied into the weights folder, the goldens written and, last,
the manifest (what makes the release live). A failure on the way leaves the weights folder as it was.

The goldens file (tests/golden/releases.json) doubles as the record of every release's published
file hashes, which `tests/test_shipped_weights.py` holds the manifest to forever.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan.checkpoint import read_checkpoint
from gan.releases import (
    HD_SIZES,
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    Release,
    add_directions,
    add_upscaler,
    file_sha256,
    publish,
    read_manifest,
    valid_name,
    verify_files,
    write_manifest,
)

logger = logging.getLogger(__name__)
GOLDENS = Path("tests/golden/releases.json")


@dataclass(frozen=True)
class DirectionsSource:
    """Where a release's directions come from: a file already computed for this checkpoint, or the
    data and cascade to compute them now (minutes, docs/creator.md)."""

    file: Path | None = None
    data: Path | None = None
    cascade: str | None = None
    out_dir: Path | None = None  # report and pictures of a computation (default runs/directions/NAME)


@dataclass(frozen=True)
class PublishRequest:
    name: str
    checkpoint: Path
    check_report: Path | None = None  # release-check.json of a passing `release check` of this checkpoint
    directions: DirectionsSource | None = None  # None: a release without edits or hair colours
    upscaler: Path | None = None
    sizes: tuple[int, ...] = (128, 256, 512)
    make_default: bool = False
    notes: str = ""
    goldens: Path | None = GOLDENS  # None: a weights folder outside this repository (no test suite)


def require_passed_check(
    report_path: Path | None, model_version: str, manifest: Manifest, upscaler: Path | None = None
) -> str:
    """Why this generator may be published (for the log), or an error saying what is missing.

    A generator some served release already uses (an HD release of it, for example) was judged when
    it was first published; the first release of an empty folder has nothing to be judged against.
    Every other generator must have passed `release check` against a served release, with the very
    upscaler it ships with when it ships with one (the check judged the HD sizes with that file).
    """
    served = {r.model_version: r.name for r in manifest.served}
    if model_version in served:
        return f"its generator is {served[model_version]}'s, already published"
    if not manifest.releases:
        return "the first release of this folder: nothing to check it against"
    if report_path is None:
        raise ManifestError(
            manifest.path,
            "a new generator is published only through the release check: run `python -m training release "
            "check CHECKPOINT --data ... --out DIR` and pass --check DIR/release-check.json",
        )
    try:
        report = json.loads(Path(report_path).read_text())
        passed, candidate, baseline = report["passed"], report["candidate"], report["baseline"]
        checked, against = candidate["model_version"], baseline["model_version"]
        failed = [g["gate"] for g in report.get("gates", []) if not g.get("passed")]
        hd = report.get("hd")
        judged_upscaler = None if hd is None else hd.get("sha256", "")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(report_path, f"not a release check report ({exc})") from exc
    if checked != model_version:
        raise ManifestError(report_path, f"checks model {checked}, not this checkpoint's {model_version}")
    if against not in served:
        raise ManifestError(report_path, f"was judged against model {against}, which no served release is")
    if passed is not True:
        failing = ", ".join(failed) or "see the report"
        raise ManifestError(report_path, f"the candidate failed the release check ({failing})")
    if upscaler is not None and judged_upscaler != file_sha256(upscaler):
        said = "judged no upscaler" if judged_upscaler is None else "judged another upscaler file"
        raise ManifestError(report_path, f"{said}: run `release check ... --upscaler {upscaler}` so the HD sizes "
                            "this release will draw are checked too")  # fmt: skip
    return f"passed the release check against {served[against]} ({report_path})"


def read_goldens(path: Path) -> dict[str, Any]:
    """The goldens file as {release: entry} ({} when it does not exist yet), or a clear error."""
    if not path.parent.is_dir():
        raise ManifestError(path, "its folder does not exist: pass --goldens FILE, or --no-goldens")
    if not path.exists():
        return {}
    try:
        goldens = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ManifestError(path, f"not a readable JSON file ({exc})") from exc
    if not isinstance(goldens, dict):
        raise ManifestError(path, "not a goldens file: it must hold one object, release name -> entry")
    return goldens


def record_goldens(name: str, folder: Path, goldens_path: Path) -> dict[str, Any]:
    """Goldens for a release published without them (the training container publishes with
    --no-goldens, having no test suite): drawn from the files as published, never replaced."""
    from training.goldens import record

    manifest = read_manifest(folder)
    if manifest.get(name) is None:
        raise ManifestError(manifest.path, f"no release {name!r}; known: {[r.name for r in manifest.releases]}")
    verify_files(manifest)  # pin the files as published, not as they may have been edited since
    goldens = read_goldens(goldens_path)
    if name in goldens:
        raise ManifestError(goldens_path, f"already holds goldens of {name!r}; they never change")
    logger.info("drawing %s's golden avatars", name)
    goldens[name] = record(name, folder)
    _write_atomic(goldens_path, json.dumps(goldens, indent=2) + "\n")
    return goldens[name]


def _preflight(request: PublishRequest, folder: Path) -> tuple[Manifest, str, dict[str, Any]]:
    """Everything that can refuse the request, before minutes of work or any write."""
    manifest_path = folder / MANIFEST_NAME
    manifest = read_manifest(manifest_path) if manifest_path.exists() else Manifest(manifest_path, ())
    verify_files(manifest)  # never build on a folder whose files moved
    name = request.name
    if not valid_name(name):
        raise ManifestError(manifest_path, f"release name {name!r} is not valid (lowercase letters, digits, '-')")
    if manifest.get(name) is not None:
        raise ManifestError(manifest_path, f"release {name!r} is already published; a new model needs a new name")
    for existing in sorted(folder.glob(f"{request.name}.*safetensors")):
        raise ManifestError(existing, "already exists; refusing to overwrite a file in the weights folder")
    info, _ = read_checkpoint(request.checkpoint)  # what the service could not load is refused here
    if request.upscaler is not None:
        from gan.upscaler import UpscalerError, read_upscaler

        try:
            read_upscaler(request.upscaler)
        except UpscalerError as exc:
            raise ManifestError(request.upscaler, exc.problem) from exc
        sizes = list(request.sizes)
        if not sizes or sizes != sorted(set(sizes)) or any(size not in HD_SIZES for size in sizes):
            raise ManifestError(request.upscaler, f"--sizes {','.join(map(str, sizes))}: an ascending list of "
                                f"sizes from {list(HD_SIZES)}")  # fmt: skip
    reason = require_passed_check(request.check_report, info.model_version, manifest, request.upscaler)
    goldens = read_goldens(request.goldens) if request.goldens is not None else {}
    if request.name in goldens:
        raise ManifestError(request.goldens or GOLDENS, f"already holds goldens of {request.name!r}; they never change")
    source = request.directions
    if source is not None and source.file is None and (source.data is None or not Path(source.data).exists()):
        raise ManifestError(source.data or Path("--data"), "the training images are needed to compute directions")
    if source is not None and source.file is not None:
        from gan.directions import DirectionsError, load_directions

        try:  # refuse a file the service would refuse at start-up
            load_directions(source.file, info.model_version)
        except DirectionsError as exc:
            raise ManifestError(source.file, exc.problem) from exc
    return manifest, reason, goldens


def _directions_file(request: PublishRequest, source: DirectionsSource) -> Path:
    """The directions to publish: the given file, or computed for the checkpoint now."""
    if source.file is not None:
        return source.file
    from training.directions import DirectionsConfig, compute_directions, measure_real_faces
    from training.metrics.face_detection import FaceDetector, resolve_cascade

    assert source.data is not None  # the preflight refused a request without data
    detector = FaceDetector(resolve_cascade(source.cascade))
    real, shares = measure_real_faces(source.data, detector)
    out = source.out_dir or Path("runs") / "directions" / request.name
    logger.info("computing %s's directions (minutes; report in %s)", request.name, out)
    compute_directions(request.checkpoint, release=request.name, real_face_rate=real.overall, detector=detector,
                       out_dir=out, config=DirectionsConfig(), real_rate_by_color=real.by_color,
                       real_color_shares=shares)  # fmt: skip
    return out / "directions.safetensors"


def publish_release(request: PublishRequest, folder: Path) -> Release:
    """Publish `request` into the weights `folder`, all or nothing; the new release."""
    # Read before the preflight reads them: the commit refuses if another release command changed
    # either since, rather than writing over its change with a stale copy.
    read_at_preflight = _contents(folder / MANIFEST_NAME, request.goldens)
    manifest, reason, goldens = _preflight(request, folder)
    logger.info("publishing %s: %s", request.name, reason)
    directions = _directions_file(request, request.directions) if request.directions is not None else None
    with tempfile.TemporaryDirectory(prefix="publish-") as scratch:
        staged = Path(scratch)
        if (manifest_bytes := read_at_preflight[manifest.path]) is not None:
            (staged / MANIFEST_NAME).write_bytes(manifest_bytes)
        release = publish(staged, request.name, request.checkpoint, make_default=request.make_default,
                          notes=request.notes)  # fmt: skip
        if directions is not None:
            release = add_directions(staged, request.name, directions)
        if request.upscaler is not None:
            release = add_upscaler(staged, request.name, request.upscaler, request.sizes)
        if request.goldens is not None:
            from training.goldens import record

            logger.info("drawing %s's golden avatars", request.name)
            goldens[request.name] = record(request.name, staged)
        _commit(staged, folder, request, goldens, read_at_preflight)
    logger.info("published %s (%s, model %s) in %s", release.name, release.status, release.model_version, folder)
    return release


def _contents(*paths: Path | None) -> dict[Path, bytes | None]:
    return {path: path.read_bytes() if path.exists() else None for path in paths if path is not None}


def _commit(
    staged: Path, folder: Path, request: PublishRequest, goldens: dict[str, Any], preflight: dict[Path, bytes | None]
) -> None:
    """Copy the staged release in: new files first, then the goldens, the manifest last.

    Directions and goldens can take many minutes; a `release default` or `release goldens` run in
    that time would be lost if this wrote its preflight copies back, so it refuses instead (a
    check, not a lock: two publishers finishing in the same instant are not covered)."""
    for path, before in preflight.items():
        if _contents(path)[path] != before:
            raise ManifestError(path, "changed while publishing (another release command?); nothing was "
                                "published: run the command again")  # fmt: skip
    new_files = [p for p in sorted(staged.iterdir()) if p.name != MANIFEST_NAME]
    copied: list[Path] = []
    old_goldens = preflight.get(request.goldens) if request.goldens is not None else None  # checked unchanged
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path in new_files:
            target = folder / path.name
            if target.exists():
                raise ManifestError(target, "appeared while publishing; refusing to overwrite it")
            partial = target.with_name(target.name + ".partial")  # a killed copy leaves no file under the name
            shutil.copyfile(path, partial)
            partial.chmod(0o644)
            partial.replace(target)
            copied.append(target)
        if request.goldens is not None:
            _write_atomic(request.goldens, json.dumps(goldens, indent=2) + "\n")
        write_manifest(Manifest(folder / MANIFEST_NAME, read_manifest(staged / MANIFEST_NAME).releases))
    except BaseException:
        for path in copied:  # the manifest never listed them: remove what this attempt added
            path.unlink(missing_ok=True)
        for path in new_files:
            (folder / (path.name + ".partial")).unlink(missing_ok=True)
        if request.goldens is not None:  # and the goldens of a release that was never published
            if old_goldens is None:
                request.goldens.unlink(missing_ok=True)
            else:
                request.goldens.write_bytes(old_goldens)
        raise


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
