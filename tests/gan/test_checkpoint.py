import json
import struct
from pathlib import Path

import pytest
import torch

from gan.checkpoint import CheckpointError, load_generator, read_checkpoint, save_generator, update_card
from gan.networks import Generator, GeneratorConfig
from tests.conftest import TINY, make_generator


def test_round_trip_keeps_weights_config_card_and_version(tmp_path: Path) -> None:
    g = make_generator()
    path = tmp_path / "g.safetensors"
    info = save_generator(g, path, card={"recipe": {"preset": "x"}}, dtype=torch.float32)
    loaded, read = load_generator(path)
    assert read.config == TINY
    assert read.model_version == info.model_version
    assert read.card["recipe"] == {"preset": "x"} and "created" in read.card
    z = torch.randn(5, TINY.latent_dim)
    torch.testing.assert_close(loaded(z), g(z))
    assert not loaded.training


def test_version_is_a_content_hash(tmp_path: Path) -> None:
    a = save_generator(make_generator(seed=0), tmp_path / "a.safetensors")
    b = save_generator(make_generator(seed=0), tmp_path / "b.safetensors", card={"other": "card"})
    c = save_generator(make_generator(seed=1), tmp_path / "c.safetensors")
    assert a.model_version == b.model_version  # the card is not part of the model
    assert a.model_version != c.model_version


def test_fp16_export_is_half_the_size(tmp_path: Path) -> None:
    g = make_generator()
    small = save_generator(g, tmp_path / "h.safetensors").path.stat().st_size
    big = save_generator(g, tmp_path / "f.safetensors", dtype=torch.float32).path.stat().st_size
    assert small < 0.6 * big


def test_update_card_keeps_tensors_and_version(tmp_path: Path) -> None:
    path = tmp_path / "g.safetensors"
    info = save_generator(make_generator(), path)
    updated = update_card(path, metrics={"face_rate": 0.5})
    again, _ = read_checkpoint(path)
    assert updated.model_version == info.model_version == again.model_version
    assert again.card["metrics"] == {"face_rate": 0.5}


def _rewrite_header(path: Path, edit) -> None:
    """Change the JSON header of a safetensors file in place (same tensors)."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    edit(header)
    raw = json.dumps(header).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "g.safetensors"
    save_generator(make_generator(), path)
    return path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nope\.safetensors: file not found"):
        read_checkpoint(tmp_path / "nope.safetensors")


def test_truncated_file(saved: Path) -> None:
    saved.write_bytes(saved.read_bytes()[:-1000])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        read_checkpoint(saved)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "notes.safetensors"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.safetensors"):
        read_checkpoint(path)


def test_foreign_safetensors_file_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not an avatar generator checkpoint"):
        read_checkpoint(path)


def test_metadata_that_does_not_match_the_tensors(saved: Path) -> None:
    def widen(header: dict) -> None:
        config = json.loads(header["__metadata__"]["generator"])
        config["channels"] = 8
        header["__metadata__"]["generator"] = json.dumps(config)

    _rewrite_header(saved, widen)
    with pytest.raises(CheckpointError, match="has shape .* the metadata implies"):
        read_checkpoint(saved)


def test_flipped_weight_bytes_fail_the_hash(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    data[-10] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match model_version"):
        read_checkpoint(saved)


def test_loader_never_needs_pickle(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    generator, _ = load_generator(saved)
    assert isinstance(generator, Generator)


def test_architecture_changes_are_rejected(tmp_path: Path) -> None:
    g = make_generator(config=GeneratorConfig(latent_dim=16, resolution=32, channels=4))
    path = tmp_path / "g.safetensors"
    save_generator(g, path)

    def claim_64(header: dict) -> None:
        config = json.loads(header["__metadata__"]["generator"])
        config["resolution"] = 64
        header["__metadata__"]["generator"] = json.dumps(config)

    _rewrite_header(path, claim_64)
    with pytest.raises(CheckpointError, match="tensors do not match the architecture"):
        read_checkpoint(path)


def test_saved_checkpoints_are_readable_by_other_users(saved: Path) -> None:
    # the container image copies weights/ as root and serves them as an unprivileged user
    assert saved.stat().st_mode & 0o777 == 0o644
