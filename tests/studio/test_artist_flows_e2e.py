"""Issue 30, "Studio and creator": the studio as an artist uses it, at 1280 x 800 and 375 x 667.

Seeds to the top of the range, focus and the keyboard, errors tied to their fields, the hair colour
across releases, captions and tile sizes, labels, the editor in the URL (Back, reload, share) and
the preview kept in view. Screenshots land in test-artifacts/studio-artist-*.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.studio.helpers import CHROMIUM, open_studio, pins, shoot, wait_for_tiles

pytestmark = pytest.mark.e2e

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if not Path(CHROMIUM).exists():
    pytest.skip("needs Debian's chromium (apt-get install chromium)", allow_module_level=True)

expect = playwright_api.expect

MAX_SEED = 2**63 - 1  # gan.latents.MAX_SEED: the API takes 0 <= seed < 2**63

SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 375, "height": 667}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
    },
}  # fmt: skip


@pytest.fixture(params=sorted(SIZES))
def screen(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def studio(browser, screen: str):
    context = browser.new_context(accept_downloads=True, **SIZES[screen])
    yield context.new_page()
    context.close()


def snap(page, screen: str, name: str, full_page: bool = False) -> None:
    shoot(page, f"artist-{name}-{screen}", full_page=full_page)


def tile_seeds(page) -> list[str]:
    return page.locator("#grid .tile").evaluate_all("ts => ts.map(t => t.dataset.seed)")


# ------------------------------------------------------------------------- 1. seeds to the top
def test_seeds_at_the_top_of_the_range_survive_next_and_reload(studio, server: str, screen: str) -> None:
    start = MAX_SEED - 107  # 9223372036854775700
    open_studio(studio, server, f"seed={start}&count=24&size=64", tiles=24)
    assert tile_seeds(studio)[0] == str(start)
    studio.click("#next")
    studio.click("#next")
    expect(studio.locator("#grid .tile").first).to_have_attribute("data-seed", str(start + 48))
    wait_for_tiles(studio, 24)
    assert f"seed={start + 48}" in studio.url  # 9223372036854775748, digit for digit
    expect(studio.locator("#seed")).to_have_value(str(start + 48))

    studio.reload()  # the studio's own URL is taken back as it is
    wait_for_tiles(studio, 24)
    expect(studio.locator("#message")).to_be_hidden()
    assert tile_seeds(studio) == [str(start + 48 + i) for i in range(24)]
    expect(studio.locator("#seed")).to_have_value(str(start + 48))

    # Next at the end stops at the last page: its last avatar is the largest seed there is
    studio.click("#next")
    expect(studio.locator("#grid .tile").first).to_have_attribute("data-seed", str(start + 72))
    studio.click("#next")
    expect(studio.locator("#grid .tile").last).to_have_attribute("data-seed", str(MAX_SEED))
    wait_for_tiles(studio, 24)
    studio.reload()
    wait_for_tiles(studio, 24)
    assert tile_seeds(studio)[-1] == str(MAX_SEED)
    expect(studio.locator("#message")).to_be_hidden()

    # a pin of the largest seed keeps every digit (its label, its code's seed)
    studio.locator("#grid .tile").last.click()
    expect(pins(studio)).to_have_count(1)
    expect(pins(studio).first).to_contain_text(f"seed {MAX_SEED}")


def test_a_seed_past_the_range_is_refused_with_the_right_rule(blank, server: str) -> None:
    open_studio(blank, server, f"seed={MAX_SEED - 3}&count=24&size=64", tiles=24)
    message = blank.locator("#message")
    # 24 avatars from MAX_SEED - 3 would pass the end: the rule names the real bound
    expect(message).to_contain_text(f"seed={MAX_SEED - 3} (a whole number from 0 to {MAX_SEED - 23} for 24 avatars)")
    blank.goto("about:blank")
    open_studio(blank, server, f"seed={MAX_SEED + 1}&count=1&size=64", tiles=1)
    expect(message).to_contain_text(f"(a whole number from 0 to {MAX_SEED} for 1 avatar)")
