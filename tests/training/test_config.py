import json
import typing
from pathlib import Path

import pytest

from training.config import PRESETS, ConfigError, TrainConfig, parse_assignments, resolve_config


def test_presets_reproduce_the_recipes() -> None:
    small = resolve_config("dcgan-32")
    assert (small.resolution, small.latent_dim, small.batch_size) == (32, 128, 64)
    assert (small.lr_g, small.lr_d, small.beta1, small.beta2) == (2e-4, 1e-4, 0.5, 0.999)
    assert small.g_spectral_norm and small.d_dropout == 0.25
    assert (small.real_label, small.fake_label) == (0.9, 0.1)
    assert small.lr_decay_start == 50 and small.d_every == 2
    classic = resolve_config("dcgan-64")
    assert (classic.resolution, classic.latent_dim, classic.batch_size, classic.loss) == (64, 100, 128, "bce")
    assert classic.g_channels == classic.d_channels == 64 and classic.ema_decay == 0 and not classic.augment
    ours = resolve_config("sngan-64")
    assert ours.loss == "hinge" and ours.d_spectral_norm and ours.ema_decay > 0 and ours.augment
    assert set(PRESETS) == {"dcgan-32", "dcgan-64", "sngan-64"}


def test_file_then_overrides_win(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('preset = "dcgan-64"\n[train]\nepochs = 7\nlr_g = 0.001\n')
    # a [train] table takes precedence over top-level keys
    config = resolve_config(None, toml, parse_assignments(["lr_g=0.003", "hflip=false"]))
    assert config.epochs == 7 and config.lr_g == 0.003 and config.hflip is False
    yaml = tmp_path / "run.yaml"
    yaml.write_text("preset: dcgan-32\nepochs: 3\naugment: translation\n")
    config = resolve_config(None, yaml)
    assert config.preset == "dcgan-32" and config.epochs == 3 and config.augment == "translation"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"resolution": "48"}, "resolution must be one of"),
        ({"epochs": "ten"}, "epochs must be an integer"),
        ({"epochs": 2.5}, "epochs must be an integer"),
        ({"loss": "wasserstein"}, "loss must be one of"),
        ({"hflip": "maybe"}, "hflip must be true or false"),
        ({"learning_rate": "1"}, "unknown setting 'learning_rate'"),
        ({"augment": "rotate"}, "unknown transform"),
        ({"real_label": "0.1", "fake_label": "0.2"}, "fake_label < real_label"),
        ({"ema_decay": "1.0"}, "ema_decay must be in [0, 1)"),
        ({"keep_snapshots": "true", "eval_every": "0", "distribution_metric": "true"}, "keep_snapshots keeps"),
        ({"keep_snapshots": "true", "eval_every": "5"}, "needs eval_every >= 1 and a cascade or distribution_metric"),
    ],
)
def test_bad_settings_name_the_setting_and_the_rule(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(")", r"\)")):
        resolve_config("sngan-64", None, overrides)


def test_unknown_preset_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown preset 'stylegan'"):
        resolve_config("stylegan")
    with pytest.raises(ConfigError, match="config file not found"):
        resolve_config(None, tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3")
    with pytest.raises(ConfigError, match="bad.toml: cannot parse"):
        resolve_config(None, bad)
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignments(["epochs"])


def test_resolved_config_round_trips_through_json(tmp_path: Path) -> None:
    config = resolve_config("dcgan-32", None, {"epochs": "3"})
    config.save(tmp_path / "config.json")
    from training.config import load_run_config

    loaded = load_run_config(tmp_path / "config.json")
    assert loaded == config
    # JSON has no int/float distinction that survives every writer: the fields come back typed
    hints = typing.get_type_hints(TrainConfig)
    for name in ("lr_g", "r1_gamma", "max_minutes", "epochs", "batch_size", "hflip"):
        assert type(getattr(loaded, name)) is hints[name], name
    edited = json.loads((tmp_path / "config.json").read_text()) | {"lr_g": 1, "epochs": 3.0}
    (tmp_path / "config.json").write_text(json.dumps(edited))
    again = load_run_config(tmp_path / "config.json")
    assert (type(again.lr_g), type(again.epochs)) == (float, int)
