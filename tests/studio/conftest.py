"""The studio's browser fixtures: one live service over three tiny releases, one Chromium, fresh pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gan.checkpoint import save_generator
from gan.releases import add_upscaler, publish, set_status
from tests.conftest import make_generator, make_upscaler, publish_with_directions
from tests.live_server import live_service
from tests.studio.helpers import CARD, CHROMIUM, CHROMIUM_ARGS, DATA_LICENSE, SIZES

# what the pages of the running test reported: uncaught exceptions and console errors
JS_ERRORS: list[str] = []


def _watch(context) -> None:
    """Count a page's JavaScript errors: uncaught exceptions (and rejected promises) and console.error.
    A failed response (a 422 or 503 a test provokes) is logged by Chromium as "Failed to load resource":
    that is the network, not the page's code, and the studio says it in its own words."""
    context.on("weberror", lambda error: JS_ERRORS.append(f"uncaught: {error.error}"))
    context.on(
        "console",
        lambda message: (
            message.type == "error"
            and not message.text.startswith("Failed to load resource")
            and JS_ERRORS.append(f"console.error: {message.text}")
        ),
    )


class WatchedBrowser:
    """The browser, whose every new context has its JavaScript errors counted."""

    def __init__(self, browser) -> None:
        self._browser = browser

    def new_context(self, **options):
        context = self._browser.new_context(**options)
        _watch(context)
        return context

    def __getattr__(self, name: str):
        return getattr(self._browser, name)


@pytest.fixture(autouse=True)
def no_js_errors() -> Iterator[None]:
    """A JavaScript error in any page a test opened fails the test, whatever it asserted."""
    JS_ERRORS.clear()
    yield
    errors = list(JS_ERRORS)
    JS_ERRORS.clear()
    assert errors == [], f"JavaScript errors in the page: {errors}"


@pytest.fixture(params=sorted(SIZES))
def screen(request: pytest.FixtureRequest) -> str:
    """The screen size of a test that asks for one: each such test runs at every size."""
    return request.param


@pytest.fixture(scope="session")
def studio_releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder with v1 (the default, the card above, with directions), v2 (available, no
    directions and no data licence on its card, a tiny HD upscaler for 512 px only) and v0 (retired
    for v1)."""
    work = tmp_path_factory.mktemp("studio")
    folder = work / "weights"
    cards = {
        "v0": {"name": "studio-old", "notes": "the first try"},
        "v1": {**CARD, "data_license": DATA_LICENSE},
        "v2": {**CARD, "name": "studio-next", "notes": "the upgrade, other random weights"},
    }
    for seed, (name, card) in enumerate(cards.items()):
        checkpoint = work / f"{name}-checkpoint.safetensors"
        save_generator(make_generator(seed=seed), checkpoint, card=card)
        if name == "v1":  # the default release has sliders and hair colours; v2 shows a release without
            publish_with_directions(folder, name, checkpoint, make_default=True)
        else:
            publish(folder, name, checkpoint)
    set_status(folder, "v0", "retired", successor="v1")
    add_upscaler(folder, "v2", make_upscaler(work / "upscaler.safetensors"), (512,))
    return folder


@pytest.fixture(scope="session")
def server(studio_releases: Path) -> Iterator[str]:
    with live_service(studio_releases, encode_workers="2") as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright  # the test modules skip when it is missing

    # the suite shares 2 cores with the service it drives: assertions wait up to 15 s, not 5, so a
    # busy machine makes it slower, not red
    expect.set_options(timeout=15_000)
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield WatchedBrowser(instance)
        instance.close()


@pytest.fixture
def page(browser, server: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = context.new_page()
    page.goto(f"{server}/")
    yield page
    context.close()


@pytest.fixture
def blank(browser, server: str):
    """A desktop page that has not opened the studio yet: open it with the view a test needs."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()
