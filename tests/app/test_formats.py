"""Avatars in every served format: own URL and media type, deterministic bytes, the pixels kept."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.formats import BY_EXTENSION, FORMATS

LOSSY = [ext for ext, f in BY_EXTENSION.items() if f.lossy]


def pixels(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGB")).astype(int)


def test_png_webp_and_jpeg_are_always_offered() -> None:
    assert {"png", "webp", "jpg"} <= set(BY_EXTENSION)  # avif where Pillow can write it


@pytest.mark.parametrize("extension", sorted(BY_EXTENSION))
def test_each_format_has_its_own_url_media_type_and_etag(client: TestClient, extension: str) -> None:
    fmt = BY_EXTENSION[extension]
    url = f"/models/v1/avatars/7.{extension}?size=128"
    first, again = client.get(url), client.get(url)
    assert first.status_code == 200 and first.headers["content-type"] == fmt.media_type
    assert first.content == again.content  # deterministic
    assert Image.open(io.BytesIO(first.content)).format == fmt.pillow
    assert pixels(first.content).shape == (128, 128, 3)
    assert first.headers["cache-control"].endswith("immutable")
    assert client.get(url, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    png = client.get("/models/v1/avatars/7.png?size=128")
    if extension != "png":
        assert first.headers["etag"] != png.headers["etag"]  # no cache hands one format for another


def test_lossless_webp_keeps_the_exact_pixels_of_the_png(client: TestClient) -> None:
    png = client.get("/avatars/11.png?size=256").content
    webp = client.get("/avatars/11.webp?size=256").content
    assert np.array_equal(pixels(png), pixels(webp))


@pytest.mark.parametrize("extension", [*LOSSY, "webp"])
def test_lossy_formats_stay_close_to_the_pixels(client: TestClient, extension: str) -> None:
    query = "?size=256&quality=90" if extension == "webp" else "?size=256"
    png = pixels(client.get("/avatars/11.png?size=256").content)
    lossy = client.get(f"/avatars/11.{extension}{query}")
    assert np.abs(pixels(lossy.content) - png).mean() < 8, extension
    lower = client.get(f"/avatars/11.{extension}?size=256&quality=20")
    assert len(lower.content) < len(lossy.content)
    assert lower.headers["etag"] != lossy.headers["etag"]


def test_quality_where_it_means_nothing_redirects_to_the_one_url(client: TestClient) -> None:
    # a PNG has no quality: the avatar keeps one URL, so the parameter is dropped by a redirect
    r = client.get("/avatars/1.png?quality=80", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"].endswith("/avatars/1.png")
    assert client.get("/avatars/1.png?quality=80").content == client.get("/avatars/1.png").content
    for bad in ("0", "101", "high"):
        assert client.get(f"/avatars/1.jpg?quality={bad}").json()["detail"][0]["loc"] == ["query", "quality"]
    unknown = client.get("/avatars/1.gif")
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["path", "extension"]


def test_post_avatars_in_another_format(client: TestClient) -> None:
    one = client.post("/avatars", json={"seeds": [3], "format": "webp"})
    assert one.headers["content-type"] == "image/webp"
    assert one.content == client.get("/avatars/3.webp").content
    batch = client.post("/avatars", json={"player_ids": ["a", "b"], "format": "jpeg", "quality": 70}).json()
    assert (batch["format"], batch["media_type"]) == ("jpeg", "image/jpeg")
    assert all("png_base64" not in item for item in batch["avatars"])
    data = base64.b64decode(batch["avatars"][0]["image_base64"])
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    png = client.post("/avatars", json={"player_ids": ["a", "b"]}).json()  # the default, as before
    assert png["format"] == "png" and all("image_base64" not in item for item in png["avatars"])
    refused = client.post("/avatars", json={"seeds": [3], "quality": 50})
    assert refused.status_code == 422 and refused.json()["message"].startswith("body.quality:")
    assert client.post("/avatars", json={"seeds": [3], "format": "bmp"}).status_code == 422
    assert set(FORMATS) >= {"png", "webp", "jpeg"}


def test_etags_of_codec_formats_follow_the_pillow_version(client: TestClient, monkeypatch) -> None:
    """PNG bytes are pinned by the goldens; WebP/JPEG/AVIF bytes may change with the bundled codecs."""
    import PIL

    png, webp = client.get("/avatars/2.png").headers["etag"], client.get("/avatars/2.webp").headers["etag"]
    monkeypatch.setattr(PIL, "__version__", "0.0.0-other")
    assert client.get("/avatars/2.png").headers["etag"] == png
    assert client.get("/avatars/2.webp").headers["etag"] != webp
