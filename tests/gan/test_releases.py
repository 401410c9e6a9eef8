"""The release manifest on its own: what publishing and status changes may and may not do."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from gan.releases import (
    ManifestError,
    add_upscaler,
    file_sha256,
    parse_manifest,
    publish,
    read_manifest,
    set_status,
    valid_name,
    verify_files,
)

TODAY = dt.date(2026, 12, 1)


@pytest.fixture
def folder(tmp_path: Path, tiny_weights: Path) -> Path:
    weights = tmp_path / "weights"
    publish(weights, "v1", tiny_weights, today=TODAY)
    return weights


def test_the_first_release_is_the_default_and_records_its_bytes(folder: Path, tiny_weights: Path) -> None:
    manifest = read_manifest(folder)
    (v1,) = manifest.releases
    assert (v1.name, v1.file, v1.status, v1.published) == ("v1", "v1.safetensors", "default", "2026-12-01")
    assert v1.sha256 == file_sha256(tiny_weights) == file_sha256(folder / "v1.safetensors")
    assert (folder / "v1.safetensors").stat().st_mode & 0o777 == 0o644  # readable by a non-root service


def test_a_published_name_is_never_reused(folder: Path, tiny_weights: Path) -> None:
    before = (folder / "releases.json").read_bytes()
    with pytest.raises(ManifestError, match="'v1' is already published; a new model needs a new name"):
        publish(folder, "v1", tiny_weights)
    assert (folder / "releases.json").read_bytes() == before


def test_an_existing_file_is_never_overwritten(folder: Path, tiny_weights: Path) -> None:
    (folder / "v2.safetensors").write_bytes(b"someone else's")
    with pytest.raises(ManifestError, match="already exists; refusing to overwrite"):
        publish(folder, "v2", tiny_weights)
    assert (folder / "v2.safetensors").read_bytes() == b"someone else's"


def test_a_checkpoint_that_does_not_load_is_not_published(folder: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 100)
    with pytest.raises(Exception, match="broken.safetensors"):
        publish(folder, "v2", broken)
    assert read_manifest(folder).get("v2") is None and not (folder / "v2.safetensors").exists()


def test_a_new_default_keeps_the_old_one_served(folder: Path, tiny_weights: Path) -> None:
    publish(folder, "v2", tiny_weights, make_default=True)
    manifest = read_manifest(folder)
    assert [(r.name, r.status) for r in manifest.releases] == [("v1", "available"), ("v2", "default")]
    assert [r.name for r in manifest.served] == ["v1", "v2"]


def test_retiring_needs_a_served_successor_and_never_the_default(folder: Path, tiny_weights: Path) -> None:
    publish(folder, "v2", tiny_weights)
    with pytest.raises(ManifestError, match="'v1' is the default release: make another one the default first"):
        set_status(folder, "v1", "retired", successor="v2")
    set_status(folder, "v2", "default")
    with pytest.raises(ManifestError, match="needs a successor that is served, got 'v9'"):
        set_status(folder, "v1", "retired", successor="v9")
    manifest = set_status(folder, "v1", "retired", successor="v2")
    assert [(r.name, r.status, r.successor) for r in manifest.releases] == [
        ("v1", "retired", "v2"),
        ("v2", "default", None),
    ]
    assert [r.name for r in manifest.served] == ["v2"]
    # the weights and hash of the retired release stay recorded: its name still means them
    assert manifest.get("v1").sha256 == file_sha256(folder / "v1.safetensors")  # type: ignore[union-attr]


def test_a_status_change_never_touches_hashes_or_files(folder: Path, tiny_weights: Path) -> None:
    publish(folder, "v2", tiny_weights)
    before = {r.name: (r.file, r.sha256, r.model_version) for r in read_manifest(folder).releases}
    set_status(folder, "v2", "default")
    after = {r.name: (r.file, r.sha256, r.model_version) for r in read_manifest(folder).releases}
    assert after == before


@pytest.mark.parametrize("name", ["v1", "v2", "2027-winter", "a", "x" * 32])
def test_valid_names(name: str) -> None:
    assert valid_name(name)


@pytest.mark.parametrize("name", ["", "V1", "v_1", "-v1", "v1-", "v 1", "x" * 33, "../v1", "v1.safetensors"])
def test_invalid_names(name: str) -> None:
    assert not valid_name(name)


def _manifest(*releases: dict[str, object]) -> dict[str, object]:
    return {"format": "anime-avatars/releases", "format_version": 1, "releases": list(releases)}


def _entry(name: str, status: str = "available", **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "file": f"{name}.safetensors",
        "sha256": "a" * 64,
        "model_version": "b" * 16,
        "status": status,
        **extra,
    }


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (_manifest(_entry("v1"), _entry("v2")), "exactly one release must have status 'default', found none"),
        (_manifest(_entry("v1", "default"), _entry("v1")), "duplicate release name(s) ['v1']"),
        (
            _manifest(_entry("v1", "default"), {**_entry("v2"), "file": "v1.safetensors"}),
            "file(s) ['v1.safetensors'] listed by more than one release",
        ),
        (_manifest(_entry("v1", "default", colour="red")), "has unknown field(s) ['colour']"),
        (_manifest(_entry("v1", "default"), _entry("v0", "retired")), "needs a successor that is served, got None"),
        (_manifest(_entry("v1", "default", successor="v2")), "only a retired release has a successor"),
        (_manifest(_entry("v1", "default", file="../v1.safetensors")), "file must be a .safetensors name inside"),
        (_manifest(_entry("v1", "default", sha256="abc")), "sha256 must be 64 lowercase hex digits"),
        (_manifest(_entry("v1", "shipped")), "status must be one of ['default', 'available', 'retired']"),
        ({**_manifest(_entry("v1", "default")), "extra": 1}, "unknown top-level field(s) ['extra']"),
        ({**_manifest(_entry("v1", "default")), "format_version": 2}, "not a release manifest of format"),
        (_manifest(), "releases must be a non-empty list"),
    ],
)
def test_manifest_rules(data: dict[str, object], problem: str, tmp_path: Path) -> None:
    path = tmp_path / "releases.json"
    with pytest.raises(ManifestError) as raised:
        parse_manifest(path, data)
    assert str(raised.value).startswith(f"{path}: ") and problem in str(raised.value)


def test_unreadable_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "releases.json").write_text("{not json")
    with pytest.raises(ManifestError, match=r"releases.json: not readable JSON"):
        read_manifest(tmp_path)


def test_the_written_manifest_reads_back_unchanged(folder: Path, tiny_weights: Path) -> None:
    publish(folder, "v2", tiny_weights, notes="second")
    text = (folder / "releases.json").read_text()
    assert parse_manifest(folder / "releases.json", json.loads(text)).to_dict() == json.loads(text)


def test_an_upscaler_is_added_once_and_makes_the_release_another_version(folder: Path, tiny_upscaler: Path) -> None:
    before = read_manifest(folder).get("v1")
    assert before is not None and before.version == before.model_version and before.sizes == (64, 128, 256)
    after = add_upscaler(folder, "v1", tiny_upscaler, (128, 256, 512))
    assert after.upscaler is not None
    assert after.upscaler.file == "v1.upscaler.safetensors"
    assert after.upscaler.sha256 == file_sha256(tiny_upscaler) == file_sha256(folder / after.upscaler.file)
    assert after.sizes == (64, 128, 256, 512)
    assert after.model_version == before.model_version and after.version != before.version
    assert read_manifest(folder).get("v1") == after  # written and read back the same
    verify_files(read_manifest(folder))
    with pytest.raises(ManifestError, match="already has an upscaler"):
        add_upscaler(folder, "v1", tiny_upscaler, (256,))
    (folder / "v1.upscaler.safetensors").write_bytes(b"changed")
    with pytest.raises(ManifestError, match="upscaler of release 'v1' changed since publication"):
        verify_files(read_manifest(folder))


@pytest.mark.parametrize(
    ("upscaler", "problem"),
    [
        ({"file": "u.safetensors", "sha256": "0" * 64}, "exactly file, sha256 and sizes"),
        ({"file": "u.safetensors", "sha256": "0" * 64, "sizes": [256], "x": 1}, "exactly file, sha256 and sizes"),
        ({"file": "v1.safetensors", "sha256": "0" * 64, "sizes": [256]}, "upscaler.file must be another"),
        ({"file": "../u.safetensors", "sha256": "0" * 64, "sizes": [256]}, "upscaler.file must be another"),
        ({"file": "u.safetensors", "sha256": "ABC", "sizes": [256]}, "upscaler.sha256 must be"),
        ({"file": "u.safetensors", "sha256": "0" * 64, "sizes": [64, 256]}, "ascending list of sizes from"),
        ({"file": "u.safetensors", "sha256": "0" * 64, "sizes": [512, 256]}, "ascending list of sizes from"),
        ({"file": "u.safetensors", "sha256": "0" * 64, "sizes": []}, "ascending list of sizes from"),
        ({"file": "u.safetensors", "sha256": "0" * 64, "sizes": ["256"]}, "ascending list of sizes from"),
        ({"file": "u.safetensors", "sha256": "0" * 64, "sizes": [True]}, "ascending list of sizes from"),
        ("u.safetensors", "must be an object"),
    ],
)
def test_a_bad_upscaler_entry_is_refused_naming_the_rule(folder: Path, upscaler: object, problem: str) -> None:
    data = json.loads((folder / "releases.json").read_text())
    data["releases"][0]["upscaler"] = upscaler
    with pytest.raises(ManifestError, match=problem):
        parse_manifest(folder / "releases.json", data)


def test_two_releases_never_share_an_upscaler_file(folder: Path, tiny_weights: Path, tiny_upscaler: Path) -> None:
    publish(folder, "v2", tiny_weights)
    add_upscaler(folder, "v1", tiny_upscaler, (256,))
    data = json.loads((folder / "releases.json").read_text())
    data["releases"][1]["upscaler"] = data["releases"][0]["upscaler"]
    with pytest.raises(ManifestError, match="listed by more than one release"):
        parse_manifest(folder / "releases.json", data)
