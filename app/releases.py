"""The releases this instance serves: every non-retired entry of `weights/releases.json`, loaded.

Start-up refuses (one line naming the file and the problem) a manifest that breaks a rule, a
release file that is missing or differs from what was published, and a checkpoint whose own
content hash is not the manifest's model version. After that, lookups by name answer with the
loaded model, or say why not: unknown (404, naming the known releases) or retired (410, naming
the successor).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.inference import AvatarModel
from gan.directions import DirectionsError, DirectionSet, load_directions
from gan.releases import Manifest, ManifestError, Release, read_manifest, verify_files

logger = logging.getLogger(__name__)


class UnknownRelease(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown release {name!r}; known releases: {', '.join(known)}")


class RetiredRelease(LookupError):
    def __init__(self, name: str, successor: str) -> None:
        super().__init__(f"release {name!r} is retired; its successor is {successor!r}")
        self.successor = successor


@dataclass(frozen=True)
class ServedRelease:
    """A release's manifest entry bound to its loaded generator and, if published, its directions."""

    entry: Release
    model: AvatarModel
    directions: DirectionSet | None = None

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def version(self) -> str:
        return self.model.version

    def describe(self) -> dict[str, Any]:
        return {
            **self.model.info.as_dict(),
            "name": self.name,
            "status": self.entry.status,
            "successor": None,
            "loaded": True,
            "published": self.entry.published,
            "device_kind": self.model.device_kind,
            "edits": self.directions is not None,
        }


class ReleaseRegistry:
    """Name -> served release, plus the retired names and their successors."""

    def __init__(
        self, manifest: Manifest, models: dict[str, AvatarModel], directions: dict[str, DirectionSet] | None = None
    ) -> None:
        self.manifest = manifest
        found = directions or {}
        self.served = {r.name: ServedRelease(r, models[r.name], found.get(r.name)) for r in manifest.served}
        self.default = self.served[manifest.default.name]

    @classmethod
    def load(cls, weights_dir: Path, device: str = "auto", dtype: str = "auto", threads: int = 0) -> ReleaseRegistry:
        """Read, verify and load every served release; raise `ManifestError` or `CheckpointError` on any problem."""
        manifest = read_manifest(weights_dir)
        verify_files(manifest)
        models: dict[str, AvatarModel] = {}
        directions: dict[str, DirectionSet] = {}
        for release in manifest.served:
            path = manifest.file_of(release)
            models[release.name] = AvatarModel.load(path, device, dtype, threads, release.model_version)
            if release.directions:
                file = manifest.folder / release.directions
                try:
                    found = load_directions(file, release.model_version)
                except DirectionsError as exc:
                    raise ManifestError(file, f"directions of release {release.name!r}: {exc.problem}") from exc
                if found.latent_dim != models[release.name].latent_dim:
                    raise ManifestError(file, f"directions of release {release.name!r} have the wrong latent size")
                directions[release.name] = found
        registry = cls(manifest, models, directions)
        logger.info("serving releases %s (default %s)", ", ".join(registry.served), registry.default.name)
        return registry

    @classmethod
    def of(
        cls,
        models: dict[str, AvatarModel],
        default: str | None = None,
        directions: dict[str, DirectionSet] | None = None,
    ) -> ReleaseRegistry:
        """Releases made in memory (tests, benchmarks): the first is the default unless named."""
        default = default or next(iter(models))
        releases = tuple(
            Release(
                name=name,
                file=f"{name}.safetensors",
                sha256="0" * 64,
                model_version=model.version,
                status="default" if name == default else "available",
            )
            for name, model in models.items()
        )
        return cls(Manifest(Path("memory") / "releases.json", releases), models, directions)

    @property
    def names(self) -> list[str]:
        return list(self.served)

    def resolve(self, name: str | None) -> ServedRelease:
        """The release called `name` (None: the default)."""
        if name is None:
            return self.default
        served = self.served.get(name)
        if served is not None:
            return served
        entry = self.manifest.get(name)
        if entry is not None and entry.status == "retired" and entry.successor:
            raise RetiredRelease(name, entry.successor)
        raise UnknownRelease(name, [r.name for r in self.manifest.releases])

    def by_version(self, model_version: str) -> ServedRelease | None:
        return next((s for s in self.served.values() if s.version == model_version), None)

    def listing(self) -> list[dict[str, Any]]:
        """Every release of the manifest, served or retired, for `GET /models`."""
        out = []
        for entry in self.manifest.releases:
            served = self.served.get(entry.name)
            if served is not None:
                out.append(served.describe())
            else:
                out.append({"name": entry.name, "status": entry.status, "model_version": entry.model_version,
                            "successor": entry.successor, "loaded": False, "file": entry.file})  # fmt: skip
        return out
