"""The studio as a person uses it: headless Chromium against the real service on a local port.

Screenshots land in test-artifacts/ (git-ignored) so a person can look at them.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from tests.studio.helpers import CHROMIUM, field_error, open_studio, pins, shoot, sticking_out, wait_for_tiles

pytestmark = pytest.mark.e2e

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if not Path(CHROMIUM).exists():
    pytest.skip("needs Debian's chromium (apt-get install chromium)", allow_module_level=True)


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
    expect(page.locator("#model-line")).to_contain_text("Release v1")
    expect(page.locator("#model-line")).to_contain_text("64px")
    expect(page.locator("#model")).to_have_value("v1")  # the default release
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
    page.select_option("#blend-c", label="#3 seed 5 · v1")
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
    assert download.suggested_filename == "avatar-2-v1-256.png"  # two releases are served: it says which
    data = Path(download.path()).read_bytes()
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == (256, 256)
    page.get_by_role("button", name="Copy seed 2").click()
    playwright_api.expect(page.locator("#message")).to_contain_text("Seed 2 copied")


def test_bad_input_shows_a_message(page) -> None:
    wait_for_tiles(page, 24)
    page.fill("#count", "999")
    page.click("#show")
    error = field_error(page)
    playwright_api.expect(error).to_be_visible()
    playwright_api.expect(error).to_contain_text("Count must be a whole number from 1 to 256")
    playwright_api.expect(page.locator("#count")).to_be_focused()  # the field to fix, marked for screen readers
    playwright_api.expect(page.locator("#count")).to_have_attribute("aria-invalid", "true")
    playwright_api.expect(page.locator("#count")).to_have_attribute("aria-describedby", "field-error")
    shoot(page, "bad-input")
    page.fill("#count", "4")
    page.click("#show")
    playwright_api.expect(error).to_be_hidden()
    message = page.locator("#message")
    page.click("#walk")  # nothing pinned yet
    playwright_api.expect(message).to_contain_text("Pin at least two avatars")


def test_the_servers_own_refusal_is_shown_in_plain_words(page) -> None:
    wait_for_tiles(page, 24)
    # the page never asks for a size the API refuses (test_a_bad_link_falls_back_to_defaults_visibly):
    # change its requests on the way to provoke the server's own 422
    page.route(
        lambda url: "/avatars/" in url,
        lambda route: route.continue_(url=route.request.url.replace("size=128", "size=100")),
    )
    page.click("#next")
    error = field_error(page)  # the refusal names the query's size: said at the Size box
    playwright_api.expect(error).to_contain_text("The server did not accept Size: ")
    playwright_api.expect(error).to_contain_text("size must be one of 64, 128, 256 or 512")
    playwright_api.expect(page.locator("#size")).to_have_attribute("aria-invalid", "true")
    assert "query." not in error.inner_text()


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
    # the focus stays in the list: the next pin's Unpin, else the previous one's, else the heading
    for n in (4, 5, 6):
        page.locator("#grid .tile").nth(n).focus()
        page.keyboard.press("Enter")
        playwright_api.expect(page.locator("#pins .pin")).to_have_count(n - 3)
    page.get_by_role("button", name="Unpin #4").focus()
    page.keyboard.press("Enter")
    playwright_api.expect(page.get_by_role("button", name="Unpin #5")).to_be_focused()
    page.keyboard.press("Enter")
    playwright_api.expect(page.get_by_role("button", name="Unpin #3")).to_be_focused()  # #5 was the last
    page.keyboard.press("Enter")
    playwright_api.expect(page.locator("#pins-title")).to_be_focused()
    # Escape closes a message
    page.locator("#walk").focus()
    page.keyboard.press("Enter")
    playwright_api.expect(page.locator("#message")).to_contain_text("Pin at least two avatars")
    page.keyboard.press("Escape")
    playwright_api.expect(page.locator("#message")).to_be_hidden()


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
    tiles = page.locator("#grid .tile")
    before = tiles.nth(4).bounding_box()
    tiles.nth(0).tap()
    # the pinned list is far below: a toast says where the pin went, over the page, moving nothing
    message = page.locator("#message")
    playwright_api.expect(message).to_contain_text("Pinned #1, seed 40")
    playwright_api.expect(message).to_be_in_viewport()
    assert tiles.nth(4).bounding_box() == before
    shoot(page, "phone-pinned", full_page=False)
    tiles.nth(1).tap()
    playwright_api.expect(page.locator("#pins .pin")).to_have_count(2)
    page.click("#walk")
    page.wait_for_function("document.getElementById('walk-gif').naturalWidth === 128", timeout=30_000)
    assert sticking_out(page) == []
    shoot(page, "phone")
    page.fill("#walk-steps", "99")  # far below the top of the page: the error must still be seen
    page.click("#walk")
    playwright_api.expect(field_error(page)).to_contain_text("Steps must be a whole number from 2 to 64")
    playwright_api.expect(field_error(page)).to_be_in_viewport()
    shoot(page, "phone-message", full_page=False)  # what the person sees
    page.fill("#walk-steps", "4")
    page.click("#walk")
    playwright_api.expect(field_error(page)).to_be_hidden()
    context.close()


# ------------------------------------------------------------------------ issue 15: review defects
def pin_first_two(page, server: str) -> None:
    """Open a 4-avatar grid and pin its first two avatars."""
    open_studio(page, server, "seed=0&count=4&size=64", tiles=4)
    page.locator("#grid .tile").nth(0).click()
    page.locator("#grid .tile").nth(1).click()
    playwright_api.expect(pins(page)).to_have_count(2)


# The page's requests as it sends them: each fetch is logged (method and URL) when the page calls it, and
# one whose URL matches window.holdFetch waits until the test lets it go. A tile's click sends its pin's
# requests (thumbnail and code) as it is handled, so the log says at once whether a click asked for a pin:
# no fixed wait is needed to show that a second pin is not on its way.
LOG_FETCHES = """() => {
  window.fetched = [];
  window.heldFetches = [];
  const send = window.fetch.bind(window);
  window.fetch = (input, init = {}) => {
    const url = String(input);
    window.fetched.push(`${init.method || "GET"} ${url}`);
    if (window.holdFetch && window.holdFetch.test(url)) {
      return new Promise((resolve) => { window.heldFetches.push(() => resolve(send(input, init))); });
    }
    return send(input, init);
  };
}"""


def fetched(page, pattern: str) -> int:
    """How many of the page's requests so far match pattern ("METHOD URL")."""
    return page.evaluate("(pattern) => window.fetched.filter((f) => new RegExp(pattern).test(f)).length", pattern)


def test_a_double_click_pins_once(blank, server: str) -> None:
    expect = playwright_api.expect
    thumbnail = r"^GET /models/v1/avatars/{}\.png\?size=128&"
    open_studio(blank, server, "seed=0&count=4&size=64", tiles=4)
    blank.evaluate(LOG_FETCHES)
    tiles = blank.locator("#grid .tile")
    tiles.nth(0).dblclick()
    expect(pins(blank)).to_have_count(1)
    # both clicks are handled by now, and only one asked for a pin: no second pin can follow
    assert fetched(blank, thumbnail.format(0)) == 1
    assert fetched(blank, r"^POST /codes$") == 1
    expect(tiles.nth(0)).to_have_attribute("aria-pressed", "true")

    # two separate clicks while the first pin's thumbnail is still on its way: still one pin
    blank.evaluate(r"() => { window.holdFetch = /\/avatars\/1\.png\?size=128&/; }")
    tiles.nth(1).click()
    tiles.nth(1).click()
    assert fetched(blank, thumbnail.format(1)) == 1  # the second click asked for nothing
    assert blank.evaluate("window.heldFetches.length") == 1
    blank.evaluate("() => { window.holdFetch = null; window.heldFetches.forEach((go) => go()); }")
    expect(pins(blank)).to_have_count(2)
    # and nothing more is on its way that could pin a third
    assert fetched(blank, thumbnail.format(1)) == 1
    assert fetched(blank, r"^POST /codes$") == 2


def test_pins_are_numbered_in_click_order_whichever_answer_comes_first(blank, server: str) -> None:
    expect = playwright_api.expect
    open_studio(blank, server, "seed=0&count=4&size=64", tiles=4)
    held = []
    blank.route(lambda url: "/avatars/0.png" in url and "size=128" in url, lambda route: held.append(route))
    tiles = blank.locator("#grid .tile")
    tiles.nth(0).click()  # its thumbnail is held back, so the second click's pin arrives first
    tiles.nth(1).click()
    expect(pins(blank)).to_have_count(1)
    assert len(held) == 1
    held[0].continue_()
    expect(pins(blank)).to_have_count(2)
    expect(pins(blank).nth(0)).to_contain_text("#1 · seed 0")
    expect(pins(blank).nth(1)).to_contain_text("#2 · seed 1")
    expect(blank.locator("#blend-b option").nth(0)).to_contain_text("#1 seed 0")


def test_a_long_interpolation_is_shown_frame_by_frame(blank, server: str) -> None:
    expect = playwright_api.expect
    pin_first_two(blank, server)
    blank.fill("#walk-steps", "64")
    blank.click("#walk")
    blank.wait_for_function("document.getElementById('walk-strip').naturalWidth === 64 * 128", timeout=30_000)
    frames = blank.locator("#walk-frames .frame")
    expect(frames).to_have_count(64)
    # every frame is a readable square, not a 5 px sliver of an 8192 px strip
    sizes = frames.evaluate_all("fs => fs.map(f => f.getBoundingClientRect()).map(r => [r.width, r.height])")
    assert all(w >= 48 and abs(w - h) < 1 for w, h in sizes), sizes[:3]
    first, last = frames.evaluate_all("fs => [fs[0], fs[63]].map(f => getComputedStyle(f).backgroundPositionX)")
    assert (first, last) == ("0%", "100%")  # each frame shows its own part of the strip
    expect(frames.nth(9)).to_have_attribute("aria-label", "Frame 10 of 64")
    assert sticking_out(blank) == []
    blank.locator("#walk-result").scroll_into_view_if_needed()
    shoot(blank, "interpolation-64")


def test_back_and_forward_show_the_grid_of_the_url(blank, server: str) -> None:
    expect = playwright_api.expect
    open_studio(blank, server, "seed=100&count=4&size=64", tiles=4)
    first = blank.locator("#grid .tile").first
    blank.click("#next")
    expect(first).to_have_attribute("data-seed", "104")
    blank.click("#next")
    expect(first).to_have_attribute("data-seed", "108")
    blank.go_back()
    expect(first).to_have_attribute("data-seed", "104")
    expect(blank.locator("#seed")).to_have_value("104")
    wait_for_tiles(blank, 4)
    blank.go_back()
    expect(first).to_have_attribute("data-seed", "100")
    blank.go_forward()
    expect(first).to_have_attribute("data-seed", "104")
    expect(blank.locator("#message")).to_be_hidden()
    # an address edited by hand is followed too
    blank.evaluate("location.hash = 'seed=7&count=2&size=64&truncation=0.5'")
    expect(first).to_have_attribute("data-seed", "7")
    expect(blank.locator("#grid .tile")).to_have_count(2)
    expect(blank.locator("#truncation-value")).to_have_text("0.50")


def test_a_bad_link_falls_back_to_defaults_visibly(blank, server: str) -> None:
    expect = playwright_api.expect
    bad_responses: list[str] = []
    image_urls: list[str] = []
    blank.on("response", lambda r: r.status >= 400 and bad_responses.append(f"{r.status} {r.url}"))
    blank.on("request", lambda r: "/avatars/" in r.url and image_urls.append(r.url))
    open_studio(blank, server, "seed=0&count=4&size=999&truncation=abc", tiles=4)
    message = blank.locator("#message")
    expect(message).to_contain_text("size=999")
    expect(message).to_contain_text("truncation=abc")
    expect(blank.locator("#size")).to_have_value("128")
    expect(blank.locator("#truncation-value")).to_have_text("1.00")
    assert "size=128" in blank.url and "truncation=1" in blank.url  # the address is corrected too
    assert image_urls and all("size=128&truncation=1" in url for url in image_urls), image_urls
    assert blank.evaluate("[...document.querySelectorAll('#grid img')].every(i => i.naturalWidth === 128)")
    shoot(blank, "bad-link", full_page=False)
    assert bad_responses == []  # no invalid request, and the favicon is there

    # counts, seeds and releases the studio cannot show; a retired release leads to its successor
    blank.goto("about:blank")  # a fresh load of the link, not a hash change of the page on screen
    open_studio(blank, server, "model=v9&seed=-4&count=0&size=64", tiles=24)
    for named in ("model=v9", "seed=-4", "count=0"):
        expect(message).to_contain_text(named)
    expect(blank.locator("#model")).to_have_value("v1")
    blank.goto("about:blank")
    open_studio(blank, server, "model=v0&count=2&size=64", tiles=2)
    expect(message).to_contain_text("model=v0 (a retired release), so v1")
    assert bad_responses == []


def test_blend_weights_and_pins_are_checked(blank, server: str) -> None:
    expect = playwright_api.expect
    pin_first_two(blank, server)
    message = blank.locator("#message")
    error = field_error(blank)
    blank.fill("#weight-b", "")
    blank.click("#blend")
    expect(error).to_contain_text("Weight of B is blank")
    expect(blank.locator("#weight-b")).to_be_focused()
    blank.locator("#weight-b").press_sequentially("1e")  # what a number field holds but cannot read
    blank.click("#blend")
    expect(error).to_contain_text("Weight of B is not a number")
    blank.fill("#weight-b", "-1")
    blank.fill("#weight-a", "1e6")
    blank.click("#blend")
    expect(error).to_contain_text("Weight of A must be a number from −10 to 10")
    blank.fill("#weight-a", "9")  # in range, but the blend leaves what the model takes: refused, not clamped
    blank.click("#blend")
    expect(error).to_contain_text("These weights go too far")
    expect(blank.locator("#blend-result")).to_be_hidden()

    blank.fill("#weight-a", "1")
    blank.select_option("#blend-b", label="#1 seed 0 · v1")  # A − A: nothing left but a grey blur
    blank.click("#blend")
    expect(error).to_contain_text("A and B are the same pin (#1) and the weights cancel out")
    expect(blank.locator("#blend-result")).to_be_hidden()
    blank.fill("#weight-b", "-0.5")  # A − 0.5 A: allowed, and said plainly
    blank.click("#blend")
    blank.wait_for_function("document.getElementById('blend-image').naturalWidth === 256", timeout=30_000)
    expect(message).to_contain_text("so this blend is 0.5×#1")


def test_random_with_a_bad_count_changes_nothing(blank, server: str) -> None:
    expect = playwright_api.expect
    open_studio(blank, server, "seed=12&count=4&size=64", tiles=4)
    blank.fill("#count", "999")
    blank.click("#random")
    expect(field_error(blank)).to_contain_text("Count must be a whole number from 1 to 256")
    expect(blank.locator("#seed")).to_have_value("12")
    expect(blank.locator("#grid .tile").first).to_have_attribute("data-seed", "12")


def test_a_message_covers_nothing_it_would_move(blank, server: str) -> None:
    expect = playwright_api.expect
    open_studio(blank, server, "seed=0&count=24&size=64", tiles=24)
    tiles = blank.locator("#grid .tile")
    before = [tiles.nth(i).bounding_box() for i in (0, 23)]
    blank.fill("#walk-steps", "1")
    blank.click("#walk")
    message = blank.locator("#message")
    expect(message).to_contain_text("Pin at least two avatars")
    assert [tiles.nth(i).bounding_box() for i in (0, 23)] == before
    assert blank.evaluate("getComputedStyle(document.getElementById('message')).position") == "fixed"
    tiles.nth(0).click()  # the toast does not stand in the way either
    expect(pins(blank)).to_have_count(1)
    shoot(blank, "toast", full_page=False)


def test_release_picker_and_compare_view(blank, server: str) -> None:
    """An artist picks a release (kept in the URL) and compares it with another on the same seeds."""
    expect = playwright_api.expect
    image_urls: list[str] = []
    blank.on("request", lambda r: "/avatars/" in r.url and image_urls.append(r.url))
    open_studio(blank, server, "model=v2&seed=10&count=4&size=64", tiles=4)
    expect(blank.locator("#model")).to_have_value("v2")
    assert image_urls and all("/models/v2/avatars/" in url for url in image_urls), image_urls
    # the retired v0 is not offered; v1 and v2 are, and compare never offers the release shown
    options = blank.locator("#model option").evaluate_all("os => os.filter(o => !o.disabled).map(o => o.value)")
    assert "v0" not in options and {"v1", "v2"} <= set(options), options
    compare = blank.locator("#compare option").evaluate_all("os => os.map(o => o.value)")
    assert "v2" not in compare and "v1" in compare, compare

    image_urls.clear()
    blank.select_option("#compare", "v1")
    wait_for_tiles(blank, 8)
    assert "model=v2" in blank.url and "compare=v1" in blank.url
    pairs = blank.locator("#grid .pair")
    expect(pairs).to_have_count(4)
    expect(pairs.nth(0).locator("figcaption")).to_have_text("seed 10")
    expect(pairs.nth(0).locator(".tile")).to_have_count(2)
    assert [t.get_attribute("data-model") for t in pairs.nth(0).locator(".tile").all()] == ["v2", "v1"]
    assert sorted(u.split("/models/")[1].split("/")[0] for u in image_urls) == ["v1"] * 4 + ["v2"] * 4
    # the two releases really draw different faces for the same seed
    differ = blank.evaluate(
        """() => {
             const [a, b] = document.querySelectorAll('#grid .pair')[0].querySelectorAll('img');
             const pixels = (img) => {
               const c = document.createElement('canvas');
               c.width = c.height = 64;
               const g = c.getContext('2d');
               g.drawImage(img, 0, 0, 64, 64);
               return g.getImageData(0, 0, 64, 64).data;
             };
             const p = pixels(a), q = pixels(b);
             let d = 0;
             for (let i = 0; i < p.length; i++) d += Math.abs(p[i] - q[i]);
             return d / p.length;
           }"""
    )
    assert differ > 5, differ
    expect(blank.locator("#compare-hint")).to_be_visible()
    assert sticking_out(blank) == []
    shoot(blank, "compare-releases", full_page=False)

    # a shared link restores the comparison; Back returns to the single release
    blank.goto("about:blank")
    open_studio(blank, server, "model=v2&compare=v1&seed=10&count=4&size=64", tiles=8)
    expect(blank.locator("#compare")).to_have_value("v1")
    blank.select_option("#compare", "")
    wait_for_tiles(blank, 4)
    expect(blank.locator("#grid .pair")).to_have_count(0)
    blank.go_back()
    expect(blank.locator("#grid .pair")).to_have_count(4)


def test_hd_releases_show_and_download_512_px_and_others_say_why_not(blank, server: str) -> None:
    """v2 has an HD upscaler for 512 px: its large view and downloads use it; v1 explains the 422 before asking."""
    open_studio(blank, server, "model=v2&seed=0&count=4&size=512", tiles=4)
    assert blank.evaluate("document.querySelector('#grid img').naturalWidth") == 512
    blank.locator("#grid .tile").nth(1).click()
    playwright_api.expect(blank.locator("#pins .pin")).to_have_count(1)
    blank.wait_for_function("document.querySelectorAll('#pins [data-code]').length === 1")
    blank.get_by_role("button", name="View #1 large").click()
    blank.wait_for_function("document.getElementById('detail-image').naturalWidth === 512", timeout=30_000)
    playwright_api.expect(blank.locator("#detail-image")).to_have_attribute("alt", re.compile("512 pixels"))
    shoot(blank, "hd-detail", full_page=False)
    blank.keyboard.press("Escape")
    with blank.expect_download() as info:
        blank.get_by_role("button", name="Download #1 at 512 pixels").click()
    assert Image.open(info.value.path()).size == (512, 512)
    # v1 draws no 512 px: the studio says so, naming the release that does, and asks nothing
    blank.select_option("#model", "v1")
    blank.click("#show")
    error = field_error(blank)
    playwright_api.expect(error).to_contain_text("Release v1 serves 64, 128, 256 px; 512 px needs an HD upscaler")
    playwright_api.expect(error).to_contain_text("(v2 has one)")
    playwright_api.expect(blank.locator("#size")).to_have_attribute("aria-invalid", "true")
