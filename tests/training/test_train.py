"""A few real training steps per preset, exact resume, export into the service, CLI errors, Ctrl-C, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from gan.checkpoint import CheckpointInfo, load_generator, read_checkpoint
from gan.networks import count_parameters
from tests.conftest import free_port
from tests.training.synthetic_faces import TINY_RECIPE, save_faces
from training.cli import main
from training.config import ConfigError, TrainConfig
from training.export import export_run
from training.loop import resume_config, train
from training.nets import build_networks, uses_bf16, uses_channels_last
from training.snapshot import SnapshotError, kept_epochs, kept_snapshot_path, load_snapshot

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("preset", ["dcgan-32", "dcgan-64", "sngan-64"])
def test_each_preset_trains_and_writes_its_outputs(
    preset: str, tiny_config: Callable[..., TrainConfig], tmp_path: Path
) -> None:
    config = tiny_config(preset, max_steps=4)  # 16 images / batch 8: two epochs
    run = train(config)
    names = {p.name for p in run.iterdir()}
    assert {"config.json", "data.json", "environment.json", "stats.jsonl", "snapshot.pt", "log.txt"} <= names
    assert {"losses.png", "evolution.gif"} <= names
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch-0001.png", "epoch-0002.png"]
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(torch.isfinite(torch.tensor([v for k, v in r.items() if k.startswith("loss")])).all() for r in rows)
    d_steps = [r["step"] for r in rows if "loss_d" in r]
    assert d_steps == ([1, 3] if preset == "dcgan-32" else [1, 2, 3, 4])  # the 32px recipe updates D half as often
    snapshot = load_snapshot(run / "snapshot.pt")
    assert snapshot["step"] == 4 and snapshot["epoch"] == 2
    assert (snapshot["g_ema"] != {}) == (preset == "sngan-64")


def _states(run: Path) -> dict:
    snap = load_snapshot(run / "snapshot.pt")
    return {k: snap[k] for k in ("g", "d", "g_ema", "opt_g", "opt_d", "step", "epoch", "batch_in_epoch")}


def _assert_same(a: object, b: object, where: str = "") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


@pytest.mark.parametrize("preset", ["dcgan-32", "sngan-64"])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(
    preset: str, tiny_config: Callable[..., TrainConfig]
) -> None:
    # stop mid-epoch (step 3 of 2-step epochs) so the data order and the step seeds must be restored
    straight = train(tiny_config(preset, max_steps=5, run_name="straight"))
    interrupted = train(tiny_config(preset, max_steps=3, run_name="resumed"))
    resumed = train(resume_config(interrupted, {"max_steps": 5}), resume=interrupted)
    _assert_same(_states(straight), _states(resumed))


def test_same_seed_same_weights_other_seed_other_weights(tiny_config: Callable[..., TrainConfig]) -> None:
    a = _states(train(tiny_config(max_steps=2, run_name="a")))
    b = _states(train(tiny_config(max_steps=2, run_name="b")))
    c = _states(train(tiny_config(max_steps=2, run_name="c", seed=1)))
    _assert_same(a["g"], b["g"])
    assert not torch.equal(a["g"]["stem.0.weight"], c["g"]["stem.0.weight"])


def test_export_loads_in_the_service(tiny_config: Callable[..., TrainConfig], tmp_path: Path) -> None:
    run = train(tiny_config("sngan-64", max_steps=2, notes="test run"))
    out = tmp_path / "weights" / "exported.safetensors"
    info = export_run(run, out)
    card = info.card
    assert card["recipe"]["preset"] == "sngan-64" and card["training"]["steps"] == 2
    assert card["training"]["images_seen"] == 16 and card["data"]["images"] == 16
    assert card["notes"] == "test run" and card["training"]["device"].startswith("cpu")
    assert card["training"]["precision"] == "fp32"  # auto means fp32 on the CPU
    generator, loaded = load_generator(out)
    assert out.stat().st_size < 2 * count_parameters(generator) + 20_000  # stored as fp16
    assert loaded.model_version == info.model_version
    publishing = ["publish", "v1", str(out), "--no-directions", "--no-goldens"]  # the folder's first release
    assert main(["release", "--weights-dir", str(tmp_path / "weights"), *publishing]) == 0
    settings = Settings(_env_file=None, weights_dir=tmp_path / "weights", device="cpu", warmup=False)
    with TestClient(create_app(settings)) as client:
        assert client.get("/model").json()["card"]["recipe"]["loss"] == "hinge"
        r = client.get("/avatars/3.png")
        assert r.status_code == 200 and r.headers["x-model-version"] == info.model_version


@pytest.fixture
def measured_config(
    tiny_config: Callable[..., TrainConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., TrainConfig]:
    """Runs that write real metrics rows: 40 faces (5 steps an epoch) and a tiny feature encoder."""
    from training import loop

    monkeypatch.setattr(loop, "EncoderRecipe", lambda resolution: TINY_RECIPE)
    folder = save_faces(tmp_path / "faces40", 40, seed=1)
    common = {"data": str(folder), "eval_samples": 8, "distribution_metric": True}
    return lambda **overrides: tiny_config("sngan-64", **common, encoder_cache=str(tmp_path / "enc"), **overrides)


def _tensors(info: CheckpointInfo) -> dict[str, torch.Tensor]:
    return read_checkpoint(info.path)[1]


def test_kept_epochs_export_with_their_own_weights_and_metrics(
    measured_config: Callable[..., TrainConfig], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = train(measured_config(max_steps=15, eval_every=1, keep_snapshots=True))  # 3 epochs
    assert kept_epochs(run) == [1, 2, 3]
    assert [load_snapshot(kept_snapshot_path(run, e))["step"] for e in (1, 2, 3)] == [5, 10, 15]
    rows = {r["epoch"]: r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())}
    second = export_run(run, tmp_path / "epoch2.safetensors", dtype=torch.float32, epoch=2)
    third = export_run(run, tmp_path / "epoch3.safetensors", dtype=torch.float32, epoch=3)
    last = export_run(run, tmp_path / "last.safetensors", dtype=torch.float32)
    assert second.card["training"]["steps"] == 10 and second.card["training"]["snapshot"] == "snapshots/epoch-0002.pt"
    assert second.card["metrics"] == rows[2] and last.card["metrics"] == rows[3] != rows[2]
    assert last.card["training"]["snapshot"] == "snapshot.pt"
    _assert_same(_tensors(third), _tensors(last))  # the last kept epoch is the latest snapshot
    assert not all(torch.equal(a, b) for a, b in zip(_tensors(second).values(), _tensors(last).values(), strict=True))
    assert main(["export", str(run), "--epoch", "5", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "no snapshot kept for epoch 5; kept epochs: [1, 2, 3]" in capsys.readouterr().err
    # without --out an export lands beside its run, never as an unlisted file in weights/
    assert main(["export", str(run), "--fp32"]) == 0 and main(["export", str(run), "--fp32", "--epoch", "2"]) == 0
    _assert_same(read_checkpoint(run / "generator.safetensors")[1], _tensors(last))
    _assert_same(read_checkpoint(run / "generator-epoch2.safetensors")[1], _tensors(second))
    # a stop between the end-of-epoch save and its copy: the resume keeps what was missed
    kept_snapshot_path(run, 3).unlink()
    train(resume_config(run, {"max_steps": 20}), resume=run)
    assert kept_epochs(run) == [1, 2, 3, 4] and load_snapshot(kept_snapshot_path(run, 3))["step"] == 15


def test_only_measured_epochs_are_kept(measured_config: Callable[..., TrainConfig]) -> None:
    run = train(measured_config(max_steps=15, eval_every=2, keep_snapshots=True))
    assert kept_epochs(run) == [2]


def test_export_of_an_epoch_that_was_not_kept(tiny_config: Callable[..., TrainConfig], tmp_path: Path) -> None:
    run = train(tiny_config("sngan-64", max_steps=2, eval_every=1))
    assert kept_epochs(run) == [] and not (run / "snapshots").exists()
    with pytest.raises(SnapshotError, match="kept epochs: none .train with --set keep_snapshots=true"):
        export_run(run, tmp_path / "g.safetensors", epoch=1)


def test_export_bakes_spectral_norm_of_the_32px_recipe(tiny_config: Callable[..., TrainConfig], tmp_path: Path) -> None:
    run = train(tiny_config("dcgan-32", max_steps=2))
    generator, info = load_generator(export_run(run, tmp_path / "g32.safetensors").path)
    assert info.config.resolution == 32
    assert generator(torch.randn(2, info.config.latent_dim)).shape == (2, 3, 32, 32)


def test_a_full_resolution_head_trains_and_exports(tiny_config: Callable[..., TrainConfig], tmp_path: Path) -> None:
    run = train(tiny_config("sngan-64", max_steps=2, g_head_channels=4))
    info = export_run(run, tmp_path / "headed.safetensors")
    generator, loaded = load_generator(info.path)
    assert loaded.config.head_channels == 4 and info.card["recipe"]["g_head_channels"] == 4
    assert generator(torch.randn(2, loaded.config.latent_dim)).shape == (2, 3, 64, 64)


def _published(tiny_config: Callable[..., TrainConfig], tmp_path: Path) -> Path:
    """A small published generator (fp32, so a fine-tune starts from exactly its weights)."""
    return export_run(train(tiny_config("sngan-64", max_steps=2, run_name="base")), tmp_path / "base.safetensors",
                      dtype=torch.float32).path  # fmt: skip


def test_bf16_on_the_cpu_is_opt_in_and_trains(tiny_config: Callable[..., TrainConfig]) -> None:
    cpu = torch.device("cpu")
    default = tiny_config()
    assert not uses_bf16(default, cpu) and not uses_channels_last(default, cpu)  # fp32 stays bit-exact
    assert not uses_channels_last(tiny_config(precision="bf16", channels_last=False), cpu)
    config = tiny_config(precision="bf16", max_steps=2)
    assert uses_bf16(config, cpu) and uses_channels_last(config, cpu)
    run = train(config)
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(torch.isfinite(torch.tensor(r["loss_g"])) for r in rows)
    snap = load_snapshot(run / "snapshot.pt")
    torch.manual_seed(config.seed)  # the run's own initial weights
    before = build_networks(config, cpu).g.state_dict()
    # autocast computes in bf16 but keeps fp32 master weights, and they did move
    assert all(t.dtype == torch.float32 for t in snap["g"].values() if t.is_floating_point())
    assert any(not torch.equal(snap["g"][k], before[k]) for k in before if before[k].is_floating_point())


def test_fine_tune_starts_from_a_checkpoint_and_warms_up_d_alone(
    tiny_config: Callable[..., TrainConfig], tmp_path: Path
) -> None:
    base = _published(tiny_config, tmp_path)
    _, tensors = read_checkpoint(base)
    config = tiny_config("sngan-64", max_steps=2, init_generator=str(base), d_warmup_steps=2, run_name="warm")
    torch.manual_seed(config.seed)
    initial_d = build_networks(config, torch.device("cpu")).d.state_dict()
    run = train(config)
    warm = load_snapshot(run / "snapshot.pt")
    weights = {n: t for n, t in tensors.items() if "running_" not in n and "num_batches" not in n}  # BN stats move
    for name, t in weights.items():  # two D-only steps: G and its EMA are still the checkpoint, D has moved
        assert torch.equal(warm["g"][name], t) and torch.equal(warm["g_ema"][name], t), name
    assert any(not torch.equal(warm["d"][k], t) for k, t in initial_d.items() if t.is_floating_point())
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert all("loss_d" in r and "loss_g" not in r for r in rows)
    tuned = train(tiny_config("sngan-64", max_steps=3, init_generator=str(base), d_warmup_steps=2, run_name="tuned"))
    assert not torch.equal(load_snapshot(tuned / "snapshot.pt")["g"]["stem.0.weight"], tensors["stem.0.weight"])
    card = export_run(tuned, tmp_path / "tuned.safetensors").card
    assert card["recipe"]["init_generator"] == str(base) and card["recipe"]["d_warmup_steps"] == 2


def test_fine_tune_refuses_a_checkpoint_of_another_shape(
    tiny_config: Callable[..., TrainConfig], tmp_path: Path
) -> None:
    base = _published(tiny_config, tmp_path)
    with pytest.raises(ConfigError, match=r"init_generator: .*base.safetensors is a .*set latent_dim"):
        train(tiny_config("sngan-64", max_steps=1, g_channels=16, init_generator=str(base), run_name="wide"))
    with pytest.raises(ConfigError, match=r"init_generator: .*missing.safetensors: file not found"):
        train(tiny_config("sngan-64", max_steps=1, init_generator=str(tmp_path / "missing.safetensors")))
    with pytest.raises(ConfigError, match=r"trained with g_spectral_norm=False; set g_spectral_norm=false"):
        train(tiny_config("sngan-64", max_steps=1, g_spectral_norm=True, init_generator=str(base), run_name="sn"))
    assert not (tmp_path / "runs" / "wide").exists()  # refused before a run folder was made: a rerun can use the name


# ------------------------------------------------------------------------------------------ CLI
def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def test_cli_missing_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = run_cli(["train", "--data", str(tmp_path / "nowhere"), "--set", f"out_dir={tmp_path}"], capsys)
    assert code == 2 and err.strip() == f"error: {tmp_path / 'nowhere'}: no such file or folder"


def test_cli_folder_without_images(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, err = run_cli(["train", "--data", str(tmp_path / "empty"), "--set", f"out_dir={tmp_path}/runs"], capsys)
    assert code == 2 and "empty: no usable images" in err


def test_cli_only_corrupt_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "face.jpg").write_bytes(b"\xff\xd8\xff not really")
    code, err = run_cli(["train", "--data", str(tmp_path / "bad"), "--set", f"out_dir={tmp_path}/runs"], capsys)
    assert code == 2 and "none decodable" in err


def test_cli_unknown_preset(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--preset", "stylegan3"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'stylegan3'" in capsys.readouterr().err


def test_cli_wrong_resolution_and_unknown_setting(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(["train", "--set", "resolution=48"], capsys)
    assert code == 2 and "resolution must be one of (16, 32, 64, 128, 256)" in err
    code, err = run_cli(["train", "--set", "colour=blue"], capsys)
    assert code == 2 and "unknown setting 'colour'" in err


def test_cli_fewer_images_than_a_batch(capsys: pytest.CaptureFixture[str], faces64: Path, tmp_path: Path) -> None:
    code, err = run_cli(
        ["train", "--data", str(faces64), "--set", "batch_size=64", "--set", f"out_dir={tmp_path}"], capsys
    )
    assert code == 2 and "16 images is fewer than one batch of 64" in err


def test_cli_resume_of_a_folder_without_snapshot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = run_cli(["train", "--resume", str(tmp_path)], capsys)
    assert code == 2 and "config.json" in err


def test_cli_sample_and_evaluate(
    tiny_config: Callable[..., TrainConfig], tmp_path: Path, faces64: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = train(tiny_config(max_steps=2))
    weights = tmp_path / "g.safetensors"
    export_run(run, weights)
    assert main(["sample", str(weights), "--out", str(tmp_path / "grid.png"), "--n", "9"]) == 0
    assert main(["sample", str(weights), "--out", str(tmp_path / "walk.png"), "--interpolate", "1", "2"]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 0 and (tmp_path / "walk.png").stat().st_size > 0
    import cv2
    from PIL import Image

    cascade = str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml")
    out = tmp_path / "eval"
    code = main(
        ["evaluate", str(weights), "--data", str(faces64), "--out", str(out), "--samples", "8", "--cascade", cascade,
         "--no-distribution"]
    )  # fmt: skip
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["samples"] == 8 and 0 <= metrics["face_rate"] <= 1 and "real_face_rate" in metrics
    assert {p.name for p in out.iterdir()} == {
        "metrics.json",
        "samples.png",
        "real-vs-generated.png",
        "interpolation.png",
    }
    tame = main(["evaluate", str(weights), "--samples", "8", "--truncation", "0.5", "--out", str(tmp_path / "tame"),
                 "--cascade", cascade])  # fmt: skip
    assert tame == 0 and json.loads((tmp_path / "tame" / "metrics.json").read_text())["truncation"] == 0.5
    assert Image.open(tmp_path / "tame" / "samples.png").tobytes() != Image.open(out / "samples.png").tobytes()
    code, err = run_cli(["evaluate", str(weights), "--truncation", "0"], capsys)
    assert code == 2 and "--truncation must be in (0, 1], got 0.0" in err
    code, err = run_cli(["evaluate", str(weights), "--cascade", str(tmp_path / "none.xml")], capsys)
    assert code == 2 and "none.xml not found" in err
    code, err = run_cli(["evaluate", str(weights), "--data", str(faces64), "--fid", "--no-distribution"], capsys)
    assert code == 2 and "no Inception weights" in err
    code, err = run_cli(["evaluate", str(weights), "--data", str(faces64)], capsys)  # 16 faces: too few to hold out
    assert code == 2 and "16 images are too few" in err


def test_cli_report_writes_small_docs_pictures(
    tiny_config: Callable[..., TrainConfig], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = train(tiny_config(max_steps=4))  # two epochs: two grids
    out = tmp_path / "docs"
    assert main(["report", str(run), "--out", str(out), "--scale", "0.5", "--tiles", "0"]) == 0
    from PIL import Image

    with Image.open(out / "evolution.gif") as gif, Image.open(run / "samples" / "epoch-0001.png") as grid:
        assert gif.n_frames == 2
        assert gif.width == round(grid.width * 0.5)
    assert main(["report", str(run), "--out", str(out), "--tiles", "2"]) == 0
    with Image.open(out / "evolution.gif") as gif:
        assert gif.width == 2 * (64 + 2) + 2  # two 64 px faces and their padding, at full size
    assert (out / "losses.png").stat().st_size > 0
    code, err = run_cli(["report", str(tmp_path / "nowhere"), "--out", str(out)], capsys)
    assert code == 2 and "no samples/epoch-*.png" in err


# ------------------------------------------------------------------------------ processes
def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_ctrl_c_saves_a_snapshot_before_exiting(faces64: Path, tmp_path: Path) -> None:
    cmd = [
        sys.executable, "-m", "training", "train", "--preset", "sngan-64", "--data", str(faces64),
        "--set", "g_channels=8", "--set", "d_channels=8", "--set", "batch_size=8", "--set", "epochs=100000",
        "--set", "eval_every=0", "--set", f"out_dir={tmp_path}", "--set", "run_name=run", "--set", "log_every=1",
    ]  # fmt: skip
    process = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stats = tmp_path / "run" / "stats.jsonl"
    deadline = time.monotonic() + 120
    while not (stats.exists() and len(stats.read_text().splitlines()) >= 3):
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read() if process.stdout else ""
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert "stop requested" in output and "training stopped (interrupted)" in output
    snapshot = load_snapshot(tmp_path / "run" / "snapshot.pt")
    assert snapshot["step"] >= 3


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(faces64: Path, tmp_path: Path) -> None:
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
        "-m", "training", "train", "--preset", "sngan-64", "--data", str(faces64),
        "--set", "g_channels=8", "--set", "d_channels=8", "--set", "batch_size=8", "--set", "max_steps=4",
        "--set", "eval_every=0", "--set", f"out_dir={tmp_path}", "--set", "run_name=ddp", "--set", "log_every=1",
    ]  # fmt: skip
    result = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    run = tmp_path / "ddp"
    environment = json.loads((run / "environment.json").read_text())
    assert environment["processes"] == 2
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]  # one writer: rank 0
    snapshot = load_snapshot(run / "snapshot.pt")
    assert snapshot["step"] == 4 and snapshot["epoch"] == 2  # global batch 8 = 2 ranks x 4
    assert "all 2 ranks agree on the generator weights" in result.stdout + result.stderr
