"""Batching under concurrency, overload, disconnects, failing batches, timeouts, start-up and shutdown."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.batching import BatchQueue, Job
from app.config import Settings
from app.main import create_app
from gan.releases import ManifestError, file_sha256, publish
from tests.app.conftest import metric, sample_value, until
from tests.conftest import GatedModel, one_release


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, on this event loop, behind an in-process HTTP client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.mark.anyio
async def test_concurrent_single_requests_share_forward_passes(settings_for: Callable[..., Settings]) -> None:
    app = create_app(settings_for(max_batch_size=32, max_wait_ms=200))
    async with running(app) as client:
        responses = await asyncio.gather(*(client.post("/avatars", json={"seeds": [s]}) for s in range(32)))
        assert [r.status_code for r in responses] == [200] * 32
        text = (await client.get("/metrics")).text
        assert sample_value(text, "avatars_images_generated_total", release="v1") == 32
        # the point of the queue: requests share forward passes
        assert sample_value(text, "avatars_forward_passes_total", release="v1") < 32


@pytest.mark.anyio
async def test_a_large_request_spans_batches(settings_for: Callable[..., Settings], gated_model: GatedModel) -> None:
    app = create_app(settings_for(max_batch_size=8), one_release(gated_model))
    async with running(app) as client:
        r = await client.get("/grid?n=20")
        assert r.status_code == 200
        assert gated_model.calls == [8, 8, 4]


def watch_submissions(queue: BatchQueue) -> threading.Condition:
    """A condition notified after every job the queue takes, for a test thread to wait on (the queue
    lives on the app's event loop, in another thread) instead of polling with sleeps."""
    condition = threading.Condition()
    submit = queue.submit

    def notifying(*args: Any, **kwargs: Any) -> Job:
        job = submit(*args, **kwargs)
        with condition:
            condition.notify_all()
        return job

    queue.submit = notifying  # type: ignore[method-assign]
    return condition


def test_overload_gets_503_with_retry_after_and_the_service_recovers(
    settings_for: Callable[..., Settings], gated_model: GatedModel
) -> None:
    settings = settings_for(max_batch_size=1, queue_max_images=256, max_grid=64, max_avatars_per_request=64)
    with TestClient(create_app(settings, one_release(gated_model))) as client:
        gated_model.gate.clear()
        import concurrent.futures

        queue = client.app.state.service.queue
        queued = watch_submissions(queue)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            held = pool.submit(client.get, "/grid?n=64")  # 64 images: 63 wait behind the gate
            assert gated_model.entered.wait(5)
            waiting = [pool.submit(client.get, f"/grid?n=64&seed={s}") for s in (100, 200, 300)]
            with queued:  # woken by each submission; fails, instead of carrying on, if the queue never fills
                assert queued.wait_for(lambda: queue.pending_rows >= 63 + 3 * 64, timeout=10), queue.pending_rows
            refused = client.get("/grid?n=64&seed=900")
            assert refused.status_code == 503
            assert int(refused.headers["retry-after"]) >= 1
            assert "queue is full" in refused.json()["detail"]
            assert client.app.state.service.queue.pending_rows <= 256  # bounded
            gated_model.gate.set()
            assert held.result().status_code == 200
            assert [f.result().status_code for f in waiting] == [200, 200, 200]
        assert client.get("/grid?n=64&seed=900").status_code == 200  # recovered
        assert metric(client, "avatars_rejected_requests_total", reason="queue_full") == 1.0


@pytest.mark.anyio
async def test_a_disconnected_client_s_work_is_dropped(
    settings_for: Callable[..., Settings], gated_model: GatedModel
) -> None:
    app = create_app(settings_for(max_batch_size=1), one_release(gated_model))
    async with running(app) as client:
        gated_model.gate.clear()
        blocker = asyncio.ensure_future(client.get("/avatars/1.png"))
        await until(gated_model.entered.is_set, what="the first request at the gate")

        # a raw ASGI request whose client hangs up while its 5 images wait in the queue
        hang_up = asyncio.Event()
        body = json.dumps({"seeds": [11, 12, 13, 14, 15]}).encode()
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict:
            if messages:
                return messages.pop(0)
            await hang_up.wait()
            return {"type": "http.disconnect"}

        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/avatars", "raw_path": b"/avatars", "query_string": b"", "root_path": "",
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 5000), "server": ("test", 80),
        }  # fmt: skip
        request = asyncio.ensure_future(app(scope, receive, send))
        queue = app.state.service.queue
        await until(lambda: queue.pending_rows == 5, what="5 rows queued")
        hang_up.set()
        await asyncio.wait_for(request, 5)
        assert queue.pending_rows == 0  # the 5 rows are counted as dropped below

        gated_model.gate.set()
        assert (await blocker).status_code == 200
        assert gated_model.calls == [1]  # only the blocker's image was ever generated
        text = (await client.get("/metrics")).text
        assert sample_value(text, "avatars_dropped_images_total", release="v1", reason="client_gone") == 5.0
        assert sample_value(text, "avatars_rejected_requests_total", reason="client_disconnected") == 1.0


def test_a_failing_batch_fails_its_requests_and_the_service_stays_healthy(
    settings_for: Callable[..., Settings], gated_model: GatedModel
) -> None:
    with TestClient(create_app(settings_for(), one_release(gated_model))) as client:
        gated_model.fail_next = RuntimeError("CUDA error: an illegal memory access was encountered")
        r = client.get("/avatars/1.png")
        assert r.status_code == 500
        assert "generator failed" in r.json()["detail"] and "illegal memory access" in r.json()["detail"]
        assert client.get("/readyz").status_code == 200
        assert client.get("/avatars/1.png").status_code == 200
        assert metric(client, "avatars_batch_failures_total", release="v1") == 1.0


def test_out_of_memory_batches_are_retried_smaller(
    settings_for: Callable[..., Settings], gated_model: GatedModel
) -> None:
    gated_model.fail_above = 4
    with TestClient(create_app(settings_for(max_batch_size=16), one_release(gated_model))) as client:
        r = client.get("/grid?n=16")
        assert r.status_code == 200
        assert max(gated_model.calls) <= 4 and sum(gated_model.calls) == 16  # 16 -> 8 + 8 -> 4 x 4


def test_a_request_that_waits_too_long_gets_503(settings_for: Callable[..., Settings], gated_model: GatedModel) -> None:
    app = create_app(settings_for(max_batch_size=1, request_timeout_s=0.3), one_release(gated_model))
    with TestClient(app) as client:
        gated_model.gate.clear()
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(client.get, "/avatars/1.png")
            assert gated_model.entered.wait(5)
            late = client.get("/avatars/2.png")
            assert late.status_code == 503 and "timed out" in late.json()["detail"]
            assert "retry-after" in late.headers
            gated_model.gate.set()
            first.result()
        assert client.get("/avatars/2.png").status_code == 200


@pytest.mark.anyio
async def test_shutdown_finishes_queued_work_and_refuses_new_work(
    settings_for: Callable[..., Settings], gated_model: GatedModel
) -> None:
    app = create_app(settings_for(max_batch_size=2), one_release(gated_model))
    async with app.router.lifespan_context(app):
        service = app.state.service
        gated_model.gate.clear()
        work = [asyncio.ensure_future(service.queue.generate(__import__("torch").zeros(1, 16))) for _ in range(5)]
        await until(gated_model.entered.is_set, what="the first batch at the gate")
        closing = asyncio.ensure_future(service.stop())
        await until(lambda: not service.ready and not service.queue.accepting, what="shutdown begun")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/readyz")).status_code == 503
            refused = await client.get("/avatars/3.png")
            assert refused.status_code == 503 and "shutting down" in refused.json()["detail"]
        gated_model.gate.set()
        await closing
        assert all(w.done() and w.result().shape == (1, 64, 64, 3) for w in work)


# ------------------------------------------------------------------------------------- start-up
def test_startup_refuses_a_missing_manifest(settings_for: Callable[..., Settings], tmp_path: Path) -> None:
    app = create_app(settings_for(weights_dir=tmp_path))
    with pytest.raises(ManifestError, match="releases.json: release manifest not found"), TestClient(app):
        pass


def _release_dir(tiny_weights: Path, folder: Path) -> Path:
    publish(folder, "v1", tiny_weights)
    return folder


def _corrupt_but_republished(path: Path) -> None:
    """A damaged file whose manifest hash was (wrongly) updated to match: the checkpoint check still refuses it."""
    path.write_bytes(path.read_bytes()[:-500])
    manifest = path.parent / "releases.json"
    data = json.loads(manifest.read_text())
    data["releases"][0]["sha256"] = file_sha256(path)
    manifest.write_text(json.dumps(data))


def _edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        manifest = path.parent / "releases.json"
        data = json.loads(manifest.read_text())
        change(data)
        manifest.write_text(json.dumps(data))

    return apply


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda p: p.unlink(), "v1.safetensors: file of release 'v1' not found"),
        (lambda p: p.write_bytes(p.read_bytes()[:-500]), "v1.safetensors: file of release 'v1' changed since"),
        (lambda p: p.write_bytes(b"\x00" * 64), "v1.safetensors: file of release 'v1' changed since publication"),
        (_corrupt_but_republished, "v1.safetensors: not a readable safetensors file (truncated or corrupted?)"),
        (_edit_manifest(lambda d: d["releases"].append(dict(d["releases"][0]))), "duplicate release name(s) ['v1']"),
        (_edit_manifest(lambda d: d["releases"][0].update(color="red")), "has unknown field(s) ['color']"),
        (
            _edit_manifest(lambda d: d["releases"].append({**d["releases"][0], "name": "v2", "file": "b.safetensors"})),
            "exactly one release must have status 'default', found ['v1', 'v2']",
        ),
        (
            _edit_manifest(lambda d: d["releases"][0].update(model_version="0123456789abcdef")),
            "is not 0123456789abcdef, the one it was published with",
        ),
    ],
)
def test_python_m_app_prints_one_clear_line(tiny_weights: Path, tmp_path: Path, damage, problem: str) -> None:
    folder = _release_dir(tiny_weights, tmp_path / "weights")
    damage(folder / "v1.safetensors")
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        env={"AVATARS_WEIGHTS_DIR": str(folder), "AVATARS_DEVICE": "cpu", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: cannot start: {folder}/") and problem in lines[0], lines[0]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AVATARS_MAX_BATCH_SIZE": "zero"}, "error: invalid setting AVATARS_MAX_BATCH_SIZE"),
        ({"AVATARS_QUEUE_MAX_IMAGES": "10"}, "error: invalid settings: Value error, queue_max_images (10)"),
    ],
)
def test_invalid_settings_are_refused_in_one_line(env: dict[str, str], expected: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr


def test_settings_reject_a_queue_smaller_than_the_largest_request(settings_for: Callable[..., Settings]) -> None:
    with pytest.raises(ValueError, match="queue_max_images"):
        settings_for(queue_max_images=10)


def test_cpu_refuses_half_precision(settings_for: Callable[..., Settings]) -> None:
    from app.inference import DeviceError

    with (
        pytest.raises(DeviceError, match="not supported on the CPU"),
        TestClient(create_app(settings_for(dtype="float16"))),
    ):
        pass


@pytest.mark.anyio
async def test_past_the_in_flight_limit_requests_are_refused_at_once(
    settings_for: Callable[..., Settings], gated_model: GatedModel
) -> None:
    app = create_app(settings_for(max_batch_size=1, max_inflight_requests=2), one_release(gated_model))
    async with running(app) as client:
        gated_model.gate.clear()
        held = [asyncio.ensure_future(client.get(f"/avatars/{seed}.png")) for seed in (1, 2)]
        await until(lambda: app.state.service.queue.pending_rows == 1, what="two requests in progress")
        # the third is refused before any work: no body read, nothing queued
        refused = await client.post("/avatars", json={"seeds": [3]})
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
        assert "AVATARS_MAX_INFLIGHT_REQUESTS" in refused.json()["detail"]
        assert app.state.service.queue.pending_rows == 1
        # probes and metrics still answer, so the replica stays observable and alive
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        text = (await client.get("/metrics")).text
        assert sample_value(text, "avatars_rejected_requests_total", reason="overloaded") == 1
        assert sample_value(text, "avatars_http_requests_total", route="unmatched", status="503") == 1
        gated_model.gate.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        assert (await client.get("/avatars/4.png")).status_code == 200  # room again


@pytest.mark.anyio
async def test_no_in_flight_limit_when_set_to_zero(settings_for: Callable[..., Settings]) -> None:
    app = create_app(settings_for(max_inflight_requests=0))
    async with running(app) as client:
        responses = await asyncio.gather(*(client.get(f"/avatars/{s}.png") for s in range(20)))
        assert {r.status_code for r in responses} == {200}
