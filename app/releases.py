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

from app.inference import AvatarModel, pick_device
from gan.directions import DirectionsError, DirectionSet, load_directions
from gan.releases import Manifest, ManifestError, Release, UpscalerEntry, read_manifest, verify_files
from gan.upscaler import Upscaler, UpscalerError, pick_upscaler_dtype

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
    upscaler: Upscaler | None = None

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def version(self) -> str:
        """The generator's model version, combined with the upscaler's hash where the release has one."""
        return self.entry.version

    @property
    def sizes(self) -> tuple[int, ...]:
        return self.entry.sizes

    @property
    def hd_lane(self) -> str:
        """The batching lane of this release's upscaler ('/' never occurs in a release name)."""
        return f"{self.name}/hd"

    def upscales(self, size: int) -> bool:
        """Whether avatars of `size` px are drawn by the upscaler (else: Lanczos from 64 px)."""
        return self.upscaler is not None and self.entry.upscaler is not None and size in self.entry.upscaler.sizes

    def work_pixels(self, images: int, size: int) -> int:
        """What `images` avatars of `size` px cost, in pixels encoded: the per-request cap's unit.
        Upscaled ones also cost the upscaler's work, in the same unit (gan/upscaler.py)."""
        per_image = size * size + (self.upscaler.cost_pixels if self.upscaler and self.upscales(size) else 0)
        return images * per_image

    @property
    def device_kind(self) -> str:
        """What decides the exact pixels besides the files: the generator's device kind, and the upscaler's dtype."""
        if self.upscaler is None:
            return self.model.device_kind
        return f"{self.model.device_kind}+{self.upscaler.device_kind}"

    def describe(self) -> dict[str, Any]:
        out = {
            **self.model.info.as_dict(),
            "name": self.name,
            "status": self.entry.status,
            "successor": None,
            "loaded": True,
            "published": self.entry.published,
            "device_kind": self.device_kind,
            "edits": self.directions is not None,
            "sizes": list(self.sizes),
            "upscaler": None,
        }
        if self.upscaler is not None and self.entry.upscaler is not None:
            out["generator_version"] = self.model.version
            out["model_version"] = self.version
            out["upscaler"] = {**self.upscaler.info.as_dict(), "sizes": list(self.entry.upscaler.sizes),
                               "sha256": self.entry.upscaler.sha256}  # fmt: skip
        return out


class ReleaseRegistry:
    """Name -> served release, plus the retired names and their successors."""

    def __init__(
        self,
        manifest: Manifest,
        models: dict[str, AvatarModel],
        directions: dict[str, DirectionSet] | None = None,
        upscalers: dict[str, Upscaler] | None = None,
    ) -> None:
        self.manifest = manifest
        found, hd = directions or {}, upscalers or {}
        self.served = {
            r.name: ServedRelease(r, models[r.name], found.get(r.name), hd.get(r.name)) for r in manifest.served
        }
        self.default = self.served[manifest.default.name]

    @classmethod
    def load(
        cls,
        weights_dir: Path,
        device: str = "auto",
        dtype: str = "auto",
        threads: int = 0,
        upscaler_dtype: str = "auto",
    ) -> ReleaseRegistry:
        """Read, verify and load every served release; raise `ManifestError` or `CheckpointError` on any problem."""
        manifest = read_manifest(weights_dir)
        verify_files(manifest)
        models: dict[str, AvatarModel] = {}
        directions: dict[str, DirectionSet] = {}
        upscalers: dict[str, Upscaler] = {}
        for release in manifest.served:
            if release.upscaler is not None:
                file = manifest.folder / release.upscaler.file
                torch_device = pick_device(device)
                try:
                    upscalers[release.name] = Upscaler.load(
                        file, torch_device, pick_upscaler_dtype(upscaler_dtype, torch_device)
                    )
                except UpscalerError as exc:
                    raise ManifestError(file, f"upscaler of release {release.name!r}: {exc.problem}") from exc
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
        registry = cls(manifest, models, directions, upscalers)
        logger.info("serving releases %s (default %s)", ", ".join(registry.served), registry.default.name)
        return registry

    @classmethod
    def of(
        cls,
        models: dict[str, AvatarModel],
        default: str | None = None,
        directions: dict[str, DirectionSet] | None = None,
        upscalers: dict[str, tuple[Upscaler, tuple[int, ...]]] | None = None,
    ) -> ReleaseRegistry:
        """Releases made in memory (tests, benchmarks): the first is the default unless named; an
        upscaler comes with the sizes it draws."""
        hd = upscalers or {}
        default = default or next(iter(models))
        releases = tuple(
            Release(
                name=name,
                file=f"{name}.safetensors",
                sha256="0" * 64,
                model_version=model.version,
                status="default" if name == default else "available",
                upscaler=UpscalerEntry(f"{name}.upscaler.safetensors", "0" * 64, hd[name][1]) if name in hd else None,
            )
            for name, model in models.items()
        )
        manifest = Manifest(Path("memory") / "releases.json", releases)
        return cls(manifest, models, directions, {name: up for name, (up, _) in hd.items()})

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

    @property
    def upscalers(self) -> dict[str, Upscaler]:
        """Each HD lane's upscaler."""
        return {s.hd_lane: s.upscaler for s in self.served.values() if s.upscaler is not None}

    def by_version(self, model_version: str) -> ServedRelease | None:
        """The served release of a model version; `RetiredRelease` (410) for a retired one's, as for its name."""
        served = next((s for s in self.served.values() if s.version == model_version), None)
        if served is None:
            retired = next((r for r in self.manifest.releases if r.status == "retired" and r.version == model_version),
                           None)  # fmt: skip
            if retired is not None and retired.successor:
                raise RetiredRelease(retired.name, retired.successor)
        return served

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
