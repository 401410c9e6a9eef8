"""Direction files and their place in the release manifest: published once, then fixed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from gan.checkpoint import read_checkpoint
from gan.directions import DirectionsError, load_directions, save_directions
from gan.releases import ManifestError, add_directions, publish, read_manifest, verify_files
from tests.conftest import make_directions


def test_a_direction_file_round_trips(tmp_path: Path) -> None:
    made = make_directions(16, "0123456789abcdef")
    save_directions(tmp_path / "d.safetensors", made)
    back = load_directions(tmp_path / "d.safetensors", "0123456789abcdef")
    assert back.directions == made.directions and back.hair == made.hair
    assert all(torch.equal(back.vectors[k], made.vectors[k]) for k in made.vectors)


def test_edits_are_checked_against_name_and_range() -> None:
    made = make_directions(16, "0123456789abcdef")
    assert made.check_edit("explore_1", -2.0) is None
    assert "between -2 and 1" in (made.check_edit("explore_1", 1.5) or "")
    assert "unknown direction 'nope'" in (made.check_edit("nope", 0.0) or "")
    assert made.check_edit("explore_0", float("nan")) is not None


def test_a_file_for_other_weights_or_of_another_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.safetensors"
    save_directions(path, make_directions(16, "0123456789abcdef"))
    with pytest.raises(DirectionsError, match="made for model 0123456789abcdef"):
        load_directions(path, "fedcba9876543210")
    save_file({"x": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(DirectionsError, match="not a direction file"):
        load_directions(tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(DirectionsError, match="not a readable safetensors"):
        load_directions(tmp_path / "junk.safetensors")


def test_directions_are_published_once_and_verified_like_weights(tmp_path: Path, tiny_weights: Path) -> None:
    folder = tmp_path / "weights"
    publish(folder, "v1", tiny_weights)
    info, _ = read_checkpoint(tiny_weights)
    source = tmp_path / "d.safetensors"
    save_directions(source, make_directions(info.config.latent_dim, info.model_version))
    entry = add_directions(folder, "v1", source)
    assert entry.directions == "v1.directions.safetensors" and len(entry.directions_sha256) == 64
    manifest = read_manifest(folder)
    assert manifest.get("v1") == entry
    verify_files(manifest)
    with pytest.raises(ManifestError, match="already has published directions"):
        add_directions(folder, "v1", source)
    (folder / entry.directions).write_bytes(b"changed")
    with pytest.raises(ManifestError, match="directions of release 'v1' changed since publication"):
        verify_files(read_manifest(folder))


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"directions": "v1.directions.safetensors"}, "come together"),
        ({"directions": "../x.safetensors", "directions_sha256": "0" * 64}, "another .safetensors name"),
        ({"directions": "v1.directions.safetensors", "directions_sha256": "xyz"}, "64 lowercase hex"),
    ],
)
def test_the_manifest_refuses_broken_direction_fields(
    tmp_path: Path, tiny_weights: Path, fields: dict, problem: str
) -> None:
    folder = tmp_path / "weights"
    publish(folder, "v1", tiny_weights)
    path = folder / "releases.json"
    data = json.loads(path.read_text())
    data["releases"][0].update(fields)
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=problem):
        read_manifest(folder)
