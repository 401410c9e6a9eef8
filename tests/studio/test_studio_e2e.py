"""The studio as a person uses it: headless Chromium against the real service on a local port.

Screenshots land in test-artifacts/ (git-ignored) so a person can look at them.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from gan.checkpoint import save_generator
from tests.conftest import make_generator

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if not Path(CHROMIUM).exists():
    pytest.skip("needs Debian's chromium (apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# what `python -m training export` writes on a card, so the page shows a real one
CARD = {
    "name": "studio-test",
    "recipe": {"preset": "sngan-64", "loss": "hinge"},
    "data": {"source": "anime-faces-64.zip", "images": 19000, "resolution": 64},
    "training": {"steps": 12000, "epochs": 20.2, "device": "cpu (2 threads)", "wall_time_s": 6900},
    "metrics": {"face_rate": 0.412, "real_face_rate": 0.83},
    "notes": "random weights for the browser tests",
}


@pytest.fixture(scope="module")
def studio_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("studio") / "studio.safetensors"
    save_generator(make_generator(), path, card=CARD)
    return path


@pytest.fixture(scope="module")
def server(studio_weights: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ, "AVATARS_WEIGHTS_PATH": str(studio_weights), "AVATARS_PORT": str(port),
        "AVATARS_DEVICE": "cpu", "AVATARS_WARMUP": "false", "AVATARS_ENCODE_WORKERS": "2",
    }  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2):
                break
        except OSError:
            assert process.poll() is None, "the service exited during start-up"
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, server: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = context.new_page()
    page.goto(f"{server}/")
    yield page
    context.close()


def shoot(page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"studio-{name}.png"), full_page=full_page)


def sticking_out(page) -> list[str]:
    """Visible elements that reach past the right edge of their panel (or of the page)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.panel *, .top *')].filter(e => {
             const r = e.getBoundingClientRect();
             if (r.width === 0) return false;
             const box = (e.closest('.panel') || document.documentElement).getBoundingClientRect();
             return r.right > box.right + 1 || r.left < box.left - 1;
           }).map(e => e.id || e.className || e.tagName)"""
    )


def decoded_tiles(page) -> int:
    return page.evaluate(
        "[...document.querySelectorAll('#grid img')].filter(i => i.complete && i.naturalWidth > 0).length"
    )


def wait_for_tiles(page, count: int) -> None:
    page.wait_for_function(
        "n => [...document.querySelectorAll('#grid img')].filter(i => i.complete && i.naturalWidth > 0).length === n",
        arg=count,
        timeout=30_000,
    )


def test_grid_shows_the_requested_number_of_images(page) -> None:
    wait_for_tiles(page, 24)  # the default page
    page.fill("#count", "9")
    page.fill("#seed", "100")
    page.click("#show")
    wait_for_tiles(page, 9)
    assert page.locator("#grid .tile").count() == 9
    assert page.locator("#grid .tile").first.get_attribute("data-seed") == "100"
    page.click("#next")
    wait_for_tiles(page, 9)
    assert page.locator("#grid .tile").first.get_attribute("data-seed") == "109"
    assert "seed=109" in page.url
    expect = playwright_api.expect
    card = page.locator("#card")
    expect(card).to_contain_text("19,000 images (anime-faces-64.zip)")
    expect(card).to_contain_text("12,000 steps (20.2 epochs), on cpu (2 threads), 1 h 55 min")
    expect(card).to_contain_text("41.2% (real images 83.0%)")
    expect(page.locator("#model-line")).to_contain_text("64px")
    expect(page.locator("#walk-result")).to_be_hidden()  # nothing to show before a walk
    expect(page.locator("#blend-result")).to_be_hidden()
    assert sticking_out(page) == []
    shoot(page, "grid")


def test_pin_two_and_interpolate_shows_frames(page) -> None:
    wait_for_tiles(page, 24)
    page.locator("#grid .tile").nth(0).click()
    page.locator("#grid .tile").nth(3).click()
    expect = playwright_api.expect
    expect(page.locator("#pins .pin")).to_have_count(2)
    expect(page.locator("#pins")).to_contain_text("seed 3")
    page.fill("#walk-steps", "6")
    page.click("#walk")
    page.wait_for_function("document.getElementById('walk-strip').naturalWidth > 0", timeout=30_000)
    width, height = page.evaluate(
        "[document.getElementById('walk-strip').naturalWidth, document.getElementById('walk-strip').naturalHeight]"
    )
    assert (width, height) == (6 * 128, 128)  # six frames side by side
    page.wait_for_function("document.getElementById('walk-gif').naturalWidth === 128", timeout=30_000)
    with page.expect_download() as info:
        page.click("#walk-gif-download")
    assert info.value.suggested_filename == "interpolation.gif"
    gif = Image.open(io.BytesIO(Path(info.value.path()).read_bytes()))
    assert gif.format == "GIF" and gif.n_frames == 6 + 4  # there and back: the loop does not jump
    assert sticking_out(page) == []
    shoot(page, "interpolation")

    # blend A - B + C from three pins, then pin the result
    page.locator("#grid .tile").nth(5).click()
    expect(page.locator("#pins .pin")).to_have_count(3)
    page.select_option("#blend-c", label="#3 seed 5")
    page.click("#blend")
    page.wait_for_function("document.getElementById('blend-image').naturalWidth === 256", timeout=30_000)
    page.click("#blend-pin")
    expect(page.locator("#pins .pin")).to_have_count(4)
    expect(page.locator("#pins")).to_contain_text("blend #1 − #2 + #3")
    assert sticking_out(page) == []
    shoot(page, "blend")

    # a blended avatar downloads like any other (POST /avatars with its latent)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download #4 at 64 pixels").click()
    assert Image.open(info.value.path()).size == (64, 64)


def test_download_returns_a_png(page) -> None:
    wait_for_tiles(page, 24)
    page.locator("#grid .tile").nth(2).click()
    playwright_api.expect(page.locator("#pins .pin")).to_have_count(1)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download #1 at 256 pixels").click()
    download = info.value
    assert download.suggested_filename == "avatar-2-256.png"
    data = Path(download.path()).read_bytes()
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == (256, 256)
    page.get_by_role("button", name="Copy seed 2").click()
    playwright_api.expect(page.locator("#message")).to_contain_text("Seed 2 copied")


def test_bad_input_shows_a_message(page) -> None:
    wait_for_tiles(page, 24)
    page.fill("#count", "999")
    page.click("#show")
    message = page.locator("#message")
    playwright_api.expect(message).to_be_visible()
    playwright_api.expect(message).to_contain_text("Count must be a whole number from 1 to 256")
    playwright_api.expect(page.locator("#count")).to_be_focused()  # the field to fix, marked for screen readers
    playwright_api.expect(page.locator("#count")).to_have_attribute("aria-invalid", "true")
    shoot(page, "bad-input")
    page.fill("#count", "4")
    page.click("#show")
    playwright_api.expect(message).to_be_hidden()
    page.click("#walk")  # nothing pinned yet
    playwright_api.expect(message).to_contain_text("Pin at least two avatars")


def test_the_servers_own_refusal_is_shown_in_plain_words(page, server: str) -> None:
    page.goto(f"{server}/#count=3&seed=0&truncation=1&size=100")  # no such size: the API answers 422
    page.reload()  # the fixture's page was already open; a new hash alone does not reload it
    message = page.locator("#message")
    playwright_api.expect(message).to_contain_text("The server did not accept that: size")
    playwright_api.expect(message).to_contain_text("size must be one of 64, 128 or 256")
    assert "query." not in message.inner_text()


def test_api_errors_are_explained_in_plain_words(page) -> None:
    wait_for_tiles(page, 24)
    page.route(
        "**/avatars/*.png*",
        lambda route: route.fulfill(status=503, headers={"Retry-After": "3"}, json={"detail": "queue full"}),
    )
    page.click("#next")
    playwright_api.expect(page.locator("#message")).to_contain_text(
        "The server is busy right now. Please try again in 3 seconds"
    )


def test_usable_by_keyboard(page) -> None:
    wait_for_tiles(page, 24)
    page.locator("#grid .tile").nth(1).focus()
    page.keyboard.press("Enter")
    playwright_api.expect(page.locator("#pins .pin")).to_have_count(1)
    tile = page.locator("#grid .tile").nth(1)
    playwright_api.expect(tile).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Tab")  # the next avatar, then Space pins it too
    page.keyboard.press("Space")
    playwright_api.expect(page.locator("#pins .pin")).to_have_count(2)
    tile.focus()
    page.keyboard.press("Enter")  # pressing a pinned avatar again unpins it
    playwright_api.expect(page.locator("#pins .pin")).to_have_count(1)
    playwright_api.expect(tile).to_have_attribute("aria-pressed", "false")
    page.get_by_role("button", name="Unpin #2").focus()
    page.keyboard.press("Enter")
    playwright_api.expect(page.locator("#pins .pin")).to_have_count(0)
    playwright_api.expect(page.locator("#grid .tile").nth(2)).to_have_attribute("aria-pressed", "false")


def test_phone_layout(browser, server: str) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.goto(f"{server}/#count=6&seed=40&truncation=0.7&size=128")
    wait_for_tiles(page, 6)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0  # nothing wider than the phone
    columns = page.evaluate("getComputedStyle(document.getElementById('grid')).gridTemplateColumns.split(' ').length")
    assert columns == 3
    page.locator("#grid .tile").nth(0).tap()
    page.locator("#grid .tile").nth(1).tap()
    playwright_api.expect(page.locator("#pins .pin")).to_have_count(2)
    page.click("#walk")
    page.wait_for_function("document.getElementById('walk-gif').naturalWidth === 128", timeout=30_000)
    assert sticking_out(page) == []
    shoot(page, "phone")
    page.fill("#walk-steps", "99")  # far below the top of the page: the message must still be seen
    page.click("#walk")
    playwright_api.expect(page.locator("#message")).to_contain_text("Steps must be a whole number from 2 to 64")
    playwright_api.expect(page.locator("#message")).to_be_in_viewport()
    shoot(page, "phone-message", full_page=False)  # what the person sees
    page.get_by_role("button", name="Dismiss message").tap()
    playwright_api.expect(page.locator("#message")).to_be_hidden()
    context.close()
