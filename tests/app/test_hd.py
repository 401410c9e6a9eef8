"""HD avatars through the service: a release's upscaler draws its sizes, batched in its own lane.

The releases here are the tiny generator twice (tests/conftest.py `hd_release_dir`): v1 without an
upscaler, v2 with a tiny random upscaler that draws 256 and 512 px (128 px stays Lanczos).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from app.batching import BatchQueue, LaneLimits, QueueFull
from app.config import Settings
from app.main import create_app
from app.releases import ReleaseRegistry
from gan.imaging import resize
from gan.latents import seeds_latents
from gan.releases import ManifestError
from gan.upscaler import Upscaler
from tests.app.conftest import decode, sample_value


@pytest.fixture
def hd_settings(hd_release_dir: Path, settings_for: Callable[..., Settings]) -> Callable[..., Settings]:
    def build(**overrides: object) -> Settings:
        return settings_for(weights_dir=hd_release_dir, upscaler_dtype="float32", **overrides)

    return build


@pytest.fixture
def hd_client(hd_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(hd_settings())) as client:
        yield client


def served(client: TestClient):
    return client.app.state.service.releases.served  # type: ignore[attr-defined]


def test_the_upscaler_draws_the_sizes_it_lists_and_lanczos_the_rest(hd_client: TestClient) -> None:
    releases = served(hd_client)
    upscaler = releases["v2"].upscaler
    small = releases["v2"].model.render(seeds_latents([7], releases["v2"].model.latent_dim))
    hd = upscaler.render(torch.from_numpy(small))[0]
    for size, expected in ((64, small[0]), (128, np.asarray(resize(small[0], 128))), (256, hd),
                           (512, np.asarray(resize(hd, 512)))):  # fmt: skip
        answer = hd_client.get(f"/models/v2/avatars/7.png?size={size}")
        assert answer.status_code == 200, answer.text
        assert np.array_equal(decode(answer.content), expected), size


def test_an_hd_release_at_64_px_is_its_generator_and_lanczos_releases_are_untouched(hd_client: TestClient) -> None:
    plain, hd = (hd_client.get(f"/models/{name}/avatars/11.png") for name in ("v1", "v2"))
    assert plain.content == hd.content
    lanczos = hd_client.get("/models/v1/avatars/11.png?size=256")
    upscaled = hd_client.get("/models/v2/avatars/11.png?size=256")
    assert not np.array_equal(decode(lanczos.content), decode(upscaled.content))
    # the same generator with an upscaler is another version: caches never mix their HD bytes
    assert hd.headers["x-model-version"] != plain.headers["x-model-version"]
    assert hd.headers["etag"] != plain.headers["etag"]


def test_512_px_is_refused_for_a_release_without_an_upscaler(hd_client: TestClient) -> None:
    for url in ("/models/v1/avatars/3.png?size=512", "/models/v1/grid?n=4&size=512"):
        answer = hd_client.get(url)
        assert answer.status_code == 422, url
        detail = answer.json()["detail"][0]
        assert detail["loc"] == ["query", "size"]
        assert detail["type"] == "size_not_served"
        assert "release 'v1' serves 64, 128, 256 px, not 512" in detail["msg"]
        assert "drawn by v2" in detail["msg"]
    answer = hd_client.post("/avatars", json={"seeds": [1], "size": 512, "model": "v1"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "size"]


def test_the_cost_cap_counts_the_upscalers_work(hd_client: TestClient) -> None:
    releases = served(hd_client)
    cost = releases["v2"].upscaler.cost_pixels
    assert cost > 0
    assert releases["v2"].work_pixels(2, 256) == 2 * (256 * 256 + cost)
    assert releases["v2"].work_pixels(2, 128) == 2 * 128 * 128  # Lanczos here
    assert releases["v1"].work_pixels(2, 256) == 2 * 256 * 256
    limit = hd_client.app.state.settings.max_request_pixels  # type: ignore[attr-defined]
    fits = limit // (512 * 512 + cost)
    for url in (f"/models/v2/grid?n={fits + 1}&size=512", f"/models/v2/interpolate?start=1&end=2&steps={fits + 1}"
                "&size=512&format=gif"):  # fmt: skip
        answer = hd_client.get(url)
        assert answer.status_code == 422, url
        assert "with the HD upscaler's work" in answer.text
        assert "AVATARS_MAX_REQUEST_PIXELS" in answer.text
    assert hd_client.get(f"/models/v2/grid?n={fits}&size=512").status_code == 200


def test_hd_avatars_of_concurrent_requests_share_upscaler_batches(hd_settings: Callable[..., Settings]) -> None:
    app = create_app(hd_settings(max_wait_ms=100, upscale_batch_size=8))
    with TestClient(app) as client:

        async def burst() -> list[int]:
            import httpx

            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                answers = await asyncio.gather(*(http.get(f"/models/v2/avatars/{s}.png?size=256") for s in range(6)))
            return [a.status_code for a in answers]

        assert client.portal.call(burst) == [200] * 6  # type: ignore[union-attr]
        text = client.get("/metrics").text
        assert sample_value(text, "avatars_images_generated_total", release="v2/hd") == 6
        assert sample_value(text, "avatars_forward_passes_total", release="v2/hd") < 6  # some batch held several


def test_a_failing_upscaler_fails_its_requests_only(hd_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = hd_client.app.state.service.queue  # type: ignore[attr-defined]

    def broken(rows: torch.Tensor) -> np.ndarray:
        raise RuntimeError("upscaler exploded")

    monkeypatch.setattr(queue._lanes["v2/hd"], "render", broken)
    answer = hd_client.get("/models/v2/avatars/5.png?size=256")
    assert answer.status_code == 500  # as a failed generator batch: the request's own failure, named
    assert "upscaler exploded" in answer.json()["detail"]
    assert hd_client.get("/models/v2/avatars/5.png").status_code == 200  # 64 px never touches it
    assert hd_client.get("/models/v1/avatars/5.png?size=256").status_code == 200


def test_out_of_memory_in_the_upscaler_halves_its_batch(hd_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = hd_client.app.state.service.queue  # type: ignore[attr-defined]
    lane = queue._lanes["v2/hd"]
    real = lane.render
    tried: list[int] = []

    def small_only(rows: torch.Tensor) -> np.ndarray:
        tried.append(len(rows))
        if len(rows) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(rows)

    monkeypatch.setattr(lane, "render", small_only)
    answer = hd_client.post("/avatars", json={"seeds": [1, 2, 3, 4], "size": 256, "model": "v2"})
    assert answer.status_code == 200, answer.text
    assert max(tried) > 2 and sum(n for n in tried if n <= 2) == 4  # refused whole, then drawn in halves


def test_models_describe_the_upscaler(hd_client: TestClient) -> None:
    v2 = hd_client.get("/models/v2").json()
    assert v2["sizes"] == [64, 128, 256, 512]
    assert v2["upscaler"]["sizes"] == [256, 512]
    assert v2["upscaler"]["scale"] == 4
    assert v2["upscaler"]["architecture"] == "RealESRGAN Compact"
    assert v2["generator_version"] != v2["model_version"]
    assert v2["device_kind"].endswith("+upscaler-float32")
    v1 = hd_client.get("/models/v1").json()
    assert v1["sizes"] == [64, 128, 256] and v1["upscaler"] is None


def test_start_up_refuses_a_missing_or_changed_upscaler(hd_release_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "weights"
    folder.mkdir()
    for file in hd_release_dir.iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    upscaler = folder / "v2.upscaler.safetensors"
    data = upscaler.read_bytes()
    upscaler.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ManifestError, match=r"v2\.upscaler\.safetensors: upscaler of release 'v2' changed"):
        ReleaseRegistry.load(folder, device="cpu")
    upscaler.unlink()
    with pytest.raises(ManifestError, match=r"v2\.upscaler\.safetensors: upscaler of release 'v2' not found"):
        ReleaseRegistry.load(folder, device="cpu")


def test_the_upscaler_dtype_setting_reaches_the_upscaler(hd_release_dir: Path) -> None:
    registry = ReleaseRegistry.load(hd_release_dir, device="cpu", upscaler_dtype="float32")
    upscaler = registry.served["v2"].upscaler
    assert isinstance(upscaler, Upscaler) and upscaler.dtype == torch.float32
    assert registry.upscalers == {"v2/hd": upscaler}


def test_each_lane_has_its_own_bound_and_an_upscaler_row_its_own_rate() -> None:
    """A full HD lane refuses at once (the HTTP layer's 503 with Retry-After) while the generator's
    lane still takes work; Retry-After counts each lane's backlog at that lane's rate."""

    async def scenario() -> None:
        queue = BatchQueue(
            {"v2": lambda rows: np.zeros((len(rows), 64, 64, 3), np.uint8),
             "v2/hd": lambda rows: np.zeros((len(rows), 256, 256, 3), np.uint8)},
            max_batch_size=64, max_wait_s=0.0, max_pending_rows=2048, timeout_s=5.0,
            lane_limits={"v2/hd": LaneLimits(max_batch_size=4, max_pending_rows=8)},
        )  # fmt: skip
        queue.submit(torch.zeros(8, 64, 64, 3, dtype=torch.uint8), "v2/hd")  # not started: rows stay queued
        with pytest.raises(QueueFull) as refused:
            queue.submit(torch.zeros(1, 64, 64, 3, dtype=torch.uint8), "v2/hd")
        assert refused.value.retry_after >= 1
        queue.submit(torch.zeros(100, 16), "v2")  # the generator's lane has room
        queue._lanes["v2"].rows_per_s, queue._lanes["v2/hd"].rows_per_s = 1000.0, 2.0
        assert queue.retry_after() == 5  # 100 rows at 1,000/s + 8 rows at 2/s = 4.1 s
        queue.start()
        await queue.close(5.0)

    asyncio.run(scenario())


def test_metrics_count_the_hd_lane_apart_from_the_generator(hd_client: TestClient) -> None:
    assert hd_client.get("/models/v2/avatars/9.png?size=512").status_code == 200
    text = hd_client.get("/metrics").text
    assert sample_value(text, "avatars_images_generated_total", release="v2/hd") == 1
    assert sample_value(text, "avatars_images_generated_total", release="v2") == 1
    assert sample_value(text, "avatars_queue_depth_images", release="v2/hd") == 0
