"""Model releases: the manifest that gives published generators short, immutable names.

A game stores a player's avatar as (release, seed) and asks for it again for years, so a release
name must always mean the same weights. `weights/releases.json` lists every release: its name, its
checkpoint file, the SHA-256 of that file as published, the model version (the checkpoint's own
content hash of its tensors) and a status. Only the status may change after publication
(`default` -> `available` -> `retired` with a successor), and a release's latent directions may be
added once (`directions` + `directions_sha256`, then as fixed as the weights); a name never moves
to other bytes, and `verify_files` refuses to start on a file that differs from what was published.

Like the checkpoint format, this module needs only the standard library (and `gan.checkpoint` when
adding a release), so the training CLI and the service share one reader and one writer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from gan.errors import FileError

MANIFEST_NAME = "releases.json"
FORMAT = "anime-avatars/releases"
FORMAT_VERSION = 1
# lowercase letters, digits and inner hyphens, at most 32 characters: safe in a URL path segment,
# a file name and a Prometheus label value
NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$"
Status = Literal["default", "available", "retired"]
STATUSES: tuple[Status, ...] = ("default", "available", "retired")
_REQUIRED = ("name", "file", "sha256", "model_version", "status")
_OPTIONAL = ("successor", "published", "notes", "directions", "directions_sha256", "upscaler")
BASE_SIZES = (64, 128, 256)  # what every release serves: its own 64 px, Lanczos above
HD_SIZES = (128, 256, 512)  # what an upscaler may serve (512 only with one)


class ManifestError(FileError):
    """A manifest or release file that cannot be served; the message names the file and the problem."""


def valid_name(name: str) -> bool:
    return re.fullmatch(NAME_PATTERN, name) is not None


@dataclass(frozen=True)
class UpscalerEntry:
    """A release's HD stage: the upscaler file, its SHA-256 as published, and the sizes it draws."""

    file: str
    sha256: str
    sizes: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "sizes": list(self.sizes)}


@dataclass(frozen=True)
class Release:
    """One manifest entry. `sha256` covers the whole file (tensors and model card)."""

    name: str
    file: str
    sha256: str
    model_version: str
    status: Status
    successor: str | None = None
    published: str = ""
    notes: str = ""
    directions: str = ""
    directions_sha256: str = ""
    upscaler: UpscalerEntry | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("successor", "directions", "directions_sha256", "upscaler"):
            if not out[key]:
                del out[key]
        if self.upscaler is not None:
            out["upscaler"] = self.upscaler.to_dict()
        return out

    @property
    def sizes(self) -> tuple[int, ...]:
        """Every size this release serves: 64-256 px, and 512 px where an upscaler draws it."""
        return tuple(sorted({*BASE_SIZES, *(self.upscaler.sizes if self.upscaler else ())}))

    @property
    def version(self) -> str:
        """What decides this release's pixels, as 16 hex digits: the generator's model version, and
        the upscaler's bytes where it has one (so its HD avatars never share a version, an ETag or a
        cache entry with those of a release that has the same generator without it)."""
        if self.upscaler is None:
            return self.model_version
        return hashlib.sha256(f"{self.model_version}+{self.upscaler.sha256}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Manifest:
    path: Path
    releases: tuple[Release, ...]

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def default(self) -> Release:
        return next(r for r in self.releases if r.status == "default")

    @property
    def served(self) -> tuple[Release, ...]:
        """Every release the service loads: all but the retired ones."""
        return tuple(r for r in self.releases if r.status != "retired")

    def get(self, name: str) -> Release | None:
        return next((r for r in self.releases if r.name == name), None)

    def file_of(self, release: Release) -> Path:
        return self.folder / release.file

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "releases": [r.to_dict() for r in self.releases],
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _release(path: Path, index: int, raw: object) -> Release:
    where = f"releases[{index}]"
    if not isinstance(raw, dict):
        raise ManifestError(path, f"{where} must be an object")
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ManifestError(path, f"{where} has unknown field(s) {unknown}; known: {[*_REQUIRED, *_OPTIONAL]}")
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise ManifestError(path, f"{where} lacks required field(s) {missing}")
    upscaler = _upscaler(path, where, raw.get("upscaler"), raw.get("file"))
    for key, value in raw.items():
        if key == "upscaler":
            continue
        if not (isinstance(value, str) or (key == "successor" and value is None)):
            raise ManifestError(path, f"{where}.{key} must be a string, got {value!r}")
    name = raw["name"]
    where = f"release {name!r}"
    if not valid_name(name):
        raise ManifestError(path, f"{where}: a name must match {NAME_PATTERN} (lowercase, digits, '-', <= 32)")
    if raw["status"] not in STATUSES:
        raise ManifestError(path, f"{where}: status must be one of {list(STATUSES)}, got {raw['status']!r}")
    file = raw["file"]
    if Path(file).name != file or not file.endswith(".safetensors"):
        raise ManifestError(path, f"{where}: file must be a .safetensors name inside {path.parent}, got {file!r}")
    if not re.fullmatch(r"[0-9a-f]{64}", raw["sha256"]):
        raise ManifestError(path, f"{where}: sha256 must be 64 lowercase hex digits")
    if not re.fullmatch(r"[0-9a-f]{16}", raw["model_version"]):
        raise ManifestError(path, f"{where}: model_version must be 16 lowercase hex digits")
    if ("directions" in raw) != ("directions_sha256" in raw):
        raise ManifestError(path, f"{where}: directions and directions_sha256 come together")
    if "directions" in raw:
        directions = raw["directions"]
        if Path(directions).name != directions or not directions.endswith(".safetensors") or directions == file:
            raise ManifestError(path, f"{where}: directions must be another .safetensors name, got {directions!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", raw["directions_sha256"]):
            raise ManifestError(path, f"{where}: directions_sha256 must be 64 lowercase hex digits")
    return Release(**{**raw, "upscaler": upscaler})


def _upscaler(path: Path, where: str, raw: object, weights: object) -> UpscalerEntry | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"file", "sha256", "sizes"}:
        raise ManifestError(path, f"{where}.upscaler must be an object with exactly file, sha256 and sizes")
    file, sha, sizes = raw["file"], raw["sha256"], raw["sizes"]
    if not isinstance(file, str) or Path(file).name != file or not file.endswith(".safetensors") or file == weights:
        raise ManifestError(path, f"{where}.upscaler.file must be another .safetensors name, got {file!r}")
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise ManifestError(path, f"{where}.upscaler.sha256 must be 64 lowercase hex digits")
    if (
        not isinstance(sizes, list)
        or not sizes
        or any(type(s) is not int or s not in HD_SIZES for s in sizes)
        or sizes != sorted(set(sizes))
    ):
        raise ManifestError(path, f"{where}.upscaler.sizes must be an ascending list of sizes from {list(HD_SIZES)}")
    return UpscalerEntry(file, sha, tuple(sizes))


def parse_manifest(path: Path, data: object) -> Manifest:
    """Check a decoded manifest: structure, names, one default, successors; no file access."""
    if not isinstance(data, dict):
        raise ManifestError(path, "expected a JSON object")
    unknown = sorted(set(data) - {"format", "format_version", "releases"})
    if unknown:
        raise ManifestError(path, f"unknown top-level field(s) {unknown}")
    if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
        raise ManifestError(
            path, f"not a release manifest of format {FORMAT!r} version {FORMAT_VERSION} "
            f"(got {data.get('format')!r} version {data.get('format_version')!r})"
        )  # fmt: skip
    raw = data.get("releases")
    if not isinstance(raw, list) or not raw:
        raise ManifestError(path, "releases must be a non-empty list")
    releases = tuple(_release(path, i, entry) for i, entry in enumerate(raw))

    names = [r.name for r in releases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ManifestError(path, f"duplicate release name(s) {duplicates}")
    files = [r.file for r in releases] + [r.directions for r in releases if r.directions]
    files += [r.upscaler.file for r in releases if r.upscaler]
    shared = sorted({f for f in files if files.count(f) > 1})
    if shared:
        raise ManifestError(path, f"file(s) {shared} listed by more than one release")
    defaults = [r.name for r in releases if r.status == "default"]
    if len(defaults) != 1:
        raise ManifestError(path, f"exactly one release must have status 'default', found {defaults or 'none'}")
    by_name = {r.name: r for r in releases}
    for r in releases:
        if r.status == "retired":
            successor = by_name.get(r.successor or "")
            if successor is None or successor.status == "retired":
                raise ManifestError(
                    path, f"retired release {r.name!r} needs a successor that is served, got {r.successor!r}"
                )
        elif r.successor is not None:
            raise ManifestError(path, f"release {r.name!r} is {r.status}: only a retired release has a successor")
    return Manifest(path, releases)


def read_manifest(folder_or_file: str | os.PathLike[str]) -> Manifest:
    """The manifest in a weights folder (or at a path); structure checked, files not yet."""
    path = Path(folder_or_file)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(path, "release manifest not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(path, f"not readable JSON: {exc}") from exc
    return parse_manifest(path, data)


def _verify(path: Path, expected: str, what: str) -> None:
    if not path.is_file():
        raise ManifestError(path, f"{what} not found")
    actual = file_sha256(path)
    if actual != expected:
        raise ManifestError(
            path, f"{what} changed since publication (sha256 {actual[:16]}..., manifest {expected[:16]}...)"
        )


def verify_files(manifest: Manifest) -> None:
    """Every served release's files exist and have exactly the bytes they were published with."""
    for release in manifest.served:
        _verify(manifest.file_of(release), release.sha256, f"file of release {release.name!r}")
        if release.directions:
            _verify(manifest.folder / release.directions, release.directions_sha256,
                    f"directions of release {release.name!r}")  # fmt: skip
        if release.upscaler:
            _verify(manifest.folder / release.upscaler.file, release.upscaler.sha256,
                    f"upscaler of release {release.name!r}")  # fmt: skip


def write_manifest(manifest: Manifest) -> None:
    """Atomic write: a reader sees the old manifest or the new one, never half of one."""
    manifest.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = manifest.path.with_name(manifest.path.name + ".tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.chmod(0o644)
    tmp.replace(manifest.path)


def _with(manifest: Manifest, releases: list[Release]) -> Manifest:
    updated = Manifest(manifest.path, tuple(releases))
    parse_manifest(manifest.path, updated.to_dict())  # the same rules as on reading
    return updated


def publish(
    folder: str | os.PathLike[str],
    name: str,
    checkpoint: str | os.PathLike[str],
    *,
    make_default: bool = False,
    notes: str = "",
    today: dt.date | None = None,
) -> Release:
    """Copy `checkpoint` into `folder` as `<name>.safetensors` and list it in the manifest.

    Refuses a name that is already listed (published names never point at other weights), a file
    that already exists, and a checkpoint that does not load. The first release of a new folder
    becomes the default; later ones are `available` unless `make_default`.
    """
    from gan.checkpoint import read_checkpoint  # torch only when publishing

    folder = Path(folder)
    manifest_path = folder / MANIFEST_NAME
    manifest = read_manifest(manifest_path) if manifest_path.exists() else Manifest(manifest_path, ())
    if not valid_name(name):
        raise ManifestError(manifest_path, f"release name {name!r} must match {NAME_PATTERN}")
    if manifest.get(name) is not None:
        raise ManifestError(manifest_path, f"release {name!r} is already published; a new model needs a new name")
    target = folder / f"{name}.safetensors"
    if target.exists():
        raise ManifestError(target, "already exists; refusing to overwrite a file in the weights folder")
    info, _ = read_checkpoint(checkpoint)  # refuse what the service could not load
    _copy_in(Path(checkpoint), target)

    default = make_default or not manifest.releases
    existing = [replace(r, status="available") if default and r.status == "default" else r for r in manifest.releases]
    release = Release(
        name=name,
        file=target.name,
        sha256=file_sha256(target),
        model_version=info.model_version,
        status="default" if default else "available",
        published=(today or dt.datetime.now(dt.UTC).date()).isoformat(),
        notes=notes,
    )
    write_manifest(_with(manifest, [*existing, release]))
    return release


def add_directions(folder: str | os.PathLike[str], name: str, directions: str | os.PathLike[str]) -> Release:
    """Publish a release's latent directions: copy the file beside its weights, record its hash.

    Once only: published directions are part of what edited avatars and their codes mean, so a
    release that has directions refuses new ones (a new direction set needs a new release).
    """
    manifest = read_manifest(folder)
    target = _entry(manifest, name)
    if target.directions:
        raise ManifestError(manifest.path, f"release {name!r} already has published directions ({target.directions})")
    destination = manifest.folder / f"{name}.directions.safetensors"
    _copy_in(Path(directions), destination)
    updated = replace(target, directions=destination.name, directions_sha256=file_sha256(destination))
    write_manifest(_with(manifest, [updated if r.name == name else r for r in manifest.releases]))
    return updated


def add_upscaler(
    folder: str | os.PathLike[str], name: str, upscaler: str | os.PathLike[str], sizes: tuple[int, ...]
) -> Release:
    """Give a release its HD stage: copy the upscaler file beside its weights, record its hash and sizes.

    Once only, and only before the release has served HD: the upscaler decides every HD avatar's
    pixels (and the release's version), so a release that has one refuses another. The caller checks
    that the file loads (`gan.upscaler.read_upscaler`); this module stays free of torch.
    """
    manifest = read_manifest(folder)
    target = _entry(manifest, name)
    if target.upscaler:
        raise ManifestError(manifest.path, f"release {name!r} already has an upscaler ({target.upscaler.file})")
    destination = manifest.folder / f"{name}.upscaler.safetensors"
    entry = UpscalerEntry(destination.name, file_sha256(Path(upscaler)), tuple(sizes))
    updated = replace(target, upscaler=entry)
    checked = _with(manifest, [updated if r.name == name else r for r in manifest.releases])  # sizes checked
    _copy_in(Path(upscaler), destination)
    write_manifest(checked)
    return updated


def _entry(manifest: Manifest, name: str) -> Release:
    """The release called `name`, or an error naming the known ones."""
    target = manifest.get(name)
    if target is None:
        raise ManifestError(manifest.path, f"no release {name!r}; known: {[r.name for r in manifest.releases]}")
    return target


def _copy_in(source: Path, destination: Path) -> None:
    """Copy a file into the weights folder atomically, world-readable, never over an existing file."""
    if destination.exists():
        raise ManifestError(destination, "already exists; refusing to overwrite a file in the weights folder")
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(destination.name + ".tmp")
    shutil.copyfile(source, tmp)
    tmp.chmod(0o644)
    tmp.replace(destination)


def set_status(folder: str | os.PathLike[str], name: str, status: Status, successor: str | None = None) -> Manifest:
    """Change a release's status: make it the default, available again, or retire it in favour of `successor`."""
    manifest = read_manifest(folder)
    target = _entry(manifest, name)
    if target.status == "default" and status != "default":
        raise ManifestError(manifest.path, f"{name!r} is the default release: make another one the default first")
    releases = []
    for r in manifest.releases:
        if r.name == name:
            r = replace(r, status=status, successor=successor if status == "retired" else None)
        elif status == "default" and r.status == "default":
            r = replace(r, status="available")
        releases.append(r)
    updated = _with(manifest, releases)
    write_manifest(updated)
    return updated
