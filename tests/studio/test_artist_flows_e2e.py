"""Issue 30, "Studio and creator": the studio as an artist uses it, at 1280 x 800 and 375 x 667.

Seeds to the top of the range, focus and the keyboard, errors tied to their fields, the hair colour
across releases, captions and tile sizes, labels, the editor in the URL (Back, reload, share) and
the preview kept in view. Screenshots land in test-artifacts/studio-artist-*.png.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from tests.studio.helpers import CHROMIUM, SIZES, open_studio, pins, shoot, wait_for_tiles

pytestmark = pytest.mark.e2e

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if not Path(CHROMIUM).exists():
    pytest.skip("needs Debian's chromium (apt-get install chromium)", allow_module_level=True)

expect = playwright_api.expect

MAX_SEED = 2**63 - 1  # gan.latents.MAX_SEED: the API takes 0 <= seed < 2**63


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


# ------------------------------------------------------------------------ 3. focus and keyboard
def focused(page) -> str:
    """What has the keyboard: the focused element's id, else its accessible label, else its tag."""
    return page.evaluate(
        """() => { const e = document.activeElement;
                   return e.id || e.getAttribute('aria-label') || e.textContent.trim() || e.tagName; }"""
    )


def pin_and_edit(page, server: str, view: str = "seed=0&count=4&size=64", tile: int = 0) -> None:
    open_studio(page, server, view, tiles=4)
    page.locator("#grid .tile").nth(tile).click()
    expect(pins(page)).to_have_count(1)
    page.wait_for_function("document.querySelectorAll('#pins [data-code]').length === 1")
    page.get_by_role("button", name="Edit #1", exact=True).click()
    wait_preview(page)


def wait_preview(page, part: str = "") -> str:
    page.wait_for_function(
        """part => { const img = document.getElementById('editor-preview');
                     return img.dataset.shown && img.dataset.shown === img.dataset.path
                       && img.dataset.shown.includes(part) && img.complete && img.naturalWidth === 256; }""",
        arg=part,
        timeout=30_000,
    )
    return page.locator("#editor-preview").get_attribute("data-shown")


def wait_children(page, count: int = 16) -> list[str]:
    page.wait_for_function(
        """n => { const imgs = [...document.querySelectorAll('#variations img')];
                  return document.getElementById('variations').getAttribute('aria-busy') === 'false'
                    && imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0); }""",
        arg=count,
        timeout=30_000,
    )
    return page.locator("#variations .tile").evaluate_all("ts => ts.map(t => t.dataset.code)")


def test_focus_follows_picks_undo_and_closing(studio, server: str, screen: str) -> None:
    pin_and_edit(studio, server)
    expect(studio.locator("#editor-title")).to_be_focused()
    studio.get_by_role("button", name="Show variations").click()
    children = wait_children(studio)

    # a pick by click: the keyboard goes to the new preview, not to <body> with the vanished tile
    studio.get_by_role("button", name="Variation 2: go on from it").click()
    wait_preview(studio, children[1])
    grandchildren = wait_children(studio)
    expect(studio.locator("#editor-detail")).to_be_focused()
    # and by Enter
    studio.get_by_role("button", name="Variation 5: go on from it").focus()
    studio.keyboard.press("Enter")
    wait_preview(studio, grandchildren[4])
    wait_children(studio)
    expect(studio.locator("#editor-detail")).to_be_focused()
    assert focused(studio) != "BODY"

    # Undo down to the start disables Undo: the keyboard goes to the preview, not to <body>
    studio.get_by_role("button", name="Undo (2)").click()
    wait_preview(studio, children[1])
    studio.get_by_role("button", name="Undo (1)").focus()
    studio.keyboard.press("Enter")
    expect(studio.locator("#editor-undo")).to_be_disabled()
    expect(studio.locator("#editor-detail")).to_be_focused()
    wait_children(studio)

    # Close editor: back to the Edit button that opened it
    studio.get_by_role("button", name="Close editor").click()
    expect(studio.locator("#editor")).to_be_hidden()
    expect(studio.get_by_role("button", name="Edit #1", exact=True)).to_be_focused()

    # Escape closes it too, focus back on the opener
    studio.get_by_role("button", name="Edit #1", exact=True).click()
    wait_preview(studio)
    studio.get_by_role("slider", name="hair lightness").focus()
    studio.keyboard.press("Escape")
    expect(studio.locator("#editor")).to_be_hidden()
    expect(studio.get_by_role("button", name="Edit #1", exact=True)).to_be_focused()


def test_escape_in_the_large_view_closes_only_the_large_view(blank, server: str) -> None:
    pin_and_edit(blank, server)
    blank.get_by_role("button", name="Open the large view").click()
    expect(blank.locator("#detail")).to_be_visible()
    blank.keyboard.press("Escape")
    expect(blank.locator("#detail")).to_be_hidden()
    expect(blank.locator("#editor")).to_be_visible()


def test_a_skip_link_passes_the_avatars(studio, server: str, screen: str) -> None:
    open_studio(studio, server, "seed=0&count=256&size=64", tiles=256)
    studio.keyboard.press("Tab")  # the first stop on the page
    skip = studio.get_by_role("link", name="Skip to Pinned and the tools")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    snap(studio, screen, "skip-link")
    studio.keyboard.press("Enter")
    expect(studio.locator("#pins-title")).to_be_focused()
    assert "pins-title" not in studio.url  # the address stays the grid's
    studio.keyboard.press("Tab")
    assert studio.evaluate("document.activeElement.closest('.side') !== null")
    # another one where the avatars begin, for whoever has just changed the grid's controls
    studio.locator("#random").focus()
    studio.keyboard.press("Tab")
    expect(studio.get_by_role("link", name="Skip the avatars")).to_be_focused()
    expect(studio.get_by_role("link", name="Skip the avatars")).to_be_in_viewport()
    snap(studio, screen, "skip-avatars")
    studio.keyboard.press("Enter")
    expect(studio.locator("#pins-title")).to_be_focused()
    expect(studio.locator("#message")).to_be_hidden()


# ------------------------------------------------------------------- 7. errors tied to their fields
def boxes_meet(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_a_server_422_is_tied_to_its_field(studio, server: str, screen: str) -> None:
    open_studio(studio, server, "seed=0&count=4&size=64", tiles=4)
    field = studio.get_by_label("Player ids")
    field.fill(f"alice, {'x' * 129}")  # the API takes ids of 1 to 128 characters; the page does not check
    with studio.expect_response(lambda r: r.url.endswith("/avatars") and r.request.method == "POST") as info:
        studio.get_by_role("button", name="Create", exact=True).click()
    assert info.value.status == 422  # the server's own refusal, naming body.player_ids.1
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    described = field.get_attribute("aria-describedby").split()
    assert "player-ids-hint" in described  # the hint is still read, with the error
    error = studio.locator(f"#{described[-1]}")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Player ids")
    expect(error).to_contain_text("the 2nd")
    expect(error).to_contain_text("at most 128 characters")
    assert "body." not in error.inner_text() and "player_ids" not in error.inner_text()
    expect(studio.locator("#message")).to_be_hidden()  # said beside the field, not in a toast over the page
    expect(error).to_be_in_viewport()
    snap(studio, screen, "field-error", full_page=False)
    # fixed and sent again: the mark goes
    field.fill("alice")
    studio.get_by_role("button", name="Create", exact=True).click()
    expect(studio.locator("#created li")).to_have_count(1)
    expect(field).not_to_have_attribute("aria-invalid", "true")
    assert field.get_attribute("aria-describedby") == "player-ids-hint"

    # a size the server refuses on the grid (sent changed on the way): the Size box is marked
    studio.route(
        lambda url: "/avatars/" in url and "size=64" in url,
        lambda route: route.continue_(url=route.request.url.replace("size=64", "size=100")),
    )
    studio.click("#next")
    expect(studio.locator("#size")).to_have_attribute("aria-invalid", "true")
    size_error = studio.locator(f"#{studio.locator('#size').get_attribute('aria-describedby')}")
    expect(size_error).to_contain_text("Size")
    expect(size_error).to_contain_text("64, 128, 256 or 512")


@pytest.mark.parametrize("where", ["end", "start"])
def test_a_message_never_covers_the_control_that_raised_it(studio, server: str, screen: str, where: str) -> None:
    open_studio(studio, server, "seed=0&count=24&size=64", tiles=24)
    studio.route(
        lambda url: url.endswith("/avatars"),
        lambda route: route.fulfill(status=503, headers={"Retry-After": "2"}, json={"detail": "queue full"}),
    )
    create = studio.get_by_role("button", name="Create", exact=True)
    create.evaluate("(e, where) => e.scrollIntoView({block: where})", where)
    create.click()
    message = studio.locator("#message")
    expect(message).to_contain_text("The server is busy right now")
    expect(message).to_be_in_viewport()
    for control in (create, studio.get_by_label("Player ids"), studio.get_by_label("Hair colour")):
        assert not boxes_meet(message.bounding_box(), control.bounding_box()), control
    snap(studio, screen, f"toast-{where}", full_page=False)


# --------------------------------------------------------------- 6. the hair colour across releases
def test_switching_release_says_when_the_hair_colour_changes(studio, server: str, screen: str) -> None:
    # v2 is given hair colours here (its real listing has none), red among them, which v1 lacks
    studio.route(
        "**/models/v2/directions",
        lambda route: route.fulfill(json={"directions": [], "hair_colors": ["pink", "red"]}),
    )
    open_studio(studio, server, "model=v2&seed=0&count=4&size=64", tiles=4)
    hair = studio.get_by_label("Hair colour")
    expect(hair.locator("option")).to_have_count(2)
    hair.select_option("red")
    note = studio.locator("#hair-note")
    expect(note).to_be_hidden()

    studio.select_option("#model", "v1")
    expect(hair).not_to_have_value("red")
    now = hair.input_value()
    expect(note).to_be_visible()  # said, next to the picker
    expect(note).to_contain_text(f"Release v1 has no red hair, so Create uses {now}")
    assert studio.evaluate(
        "() => { const a = document.getElementById('hair-note').getBoundingClientRect();"
        " const b = document.getElementById('hair-color').getBoundingClientRect();"
        " return Math.abs(a.top - b.bottom) < 200; }"
    )
    studio.locator("#create-form").scroll_into_view_if_needed()
    snap(studio, screen, "hair-note")

    # back on v2 the colour picked there comes back, and the note goes
    studio.select_option("#model", "v2")
    expect(hair).to_have_value("red")
    expect(note).to_be_hidden()


def test_a_hair_colour_picked_comes_back_after_a_release_without_any(blank, server: str) -> None:
    open_studio(blank, server, "model=v1&seed=0&count=4&size=64", tiles=4)
    hair = blank.get_by_label("Hair colour")
    expect(hair.locator("option")).to_have_count(2)
    colours = hair.locator("option").evaluate_all("os => os.map(o => o.value)")
    hair.select_option(colours[1])  # not the first, which a refill would pick
    blank.select_option("#model", "v2")  # v2 offers none
    expect(blank.locator("#create-unavailable")).to_be_visible()
    blank.select_option("#model", "v1")
    expect(hair).to_have_value(colours[1])
    expect(blank.locator("#hair-note")).to_be_hidden()


# ------------------------------------------------------------------------------- 2. large seeds
CAPTIONS = """() => [...document.querySelectorAll('#grid .tile .seed')].map(c => {
    const box = c.getBoundingClientRect();
    const tail = c.querySelector('.tail').getBoundingClientRect();
    const head = c.querySelector('.head');
    return { title: c.title, tail: c.querySelector('.tail').textContent,
             clipped: c.scrollWidth > c.clientWidth + 1, tailInside: tail.right <= box.right + 0.5 && tail.width > 0,
             whole: !c.classList.contains('cut') && head.scrollWidth <= head.clientWidth + 1,
             lines: Math.round(box.height / tail.height) };
  })"""


@pytest.mark.parametrize("size", [64, 128, 256])
def test_large_seeds_read_whole_or_readably(studio, server: str, screen: str, size: int) -> None:
    first = 49888513345619685 * 100  # 19 digits, like the issue's
    open_studio(studio, server, f"seed={first}&count=6&size={size}", tiles=6)
    captions = studio.evaluate(CAPTIONS)
    assert [c["title"] for c in captions] == [str(first + i) for i in range(6)]  # the whole seed on hover
    assert all(not c["clipped"] and c["tailInside"] and c["lines"] == 1 for c in captions), captions
    # the end of each seed is always shown: six neighbours read differently, not six times the same
    assert len({c["tail"] for c in captions}) == 6
    assert all(str(first + i).endswith(c["tail"]) for i, c in enumerate(captions))
    if size == 256 and screen == "desktop":
        assert all(c["whole"] for c in captions), captions  # room enough: every digit
    # the First seed box shows every digit of the largest seed
    studio.fill("#seed", str(MAX_SEED))
    assert studio.evaluate("(e => e.scrollWidth <= e.clientWidth)(document.getElementById('seed'))")
    snap(studio, screen, f"large-seeds-{size}")


def test_a_compare_caption_wraps_a_large_seed(blank, server: str) -> None:
    open_studio(blank, server, f"model=v2&compare=v1&seed={MAX_SEED - 3}&count=4&size=64", tiles=8)
    assert blank.evaluate(
        "[...document.querySelectorAll('#grid figcaption')].every(f => f.scrollWidth <= f.clientWidth + 1)"
    )
    expect(blank.locator("#grid figcaption").first).to_have_text(f"seed {MAX_SEED - 3}")


# ----------------------------------------------------------------- 8. tile sizes and the pin mark
def tile_width(page, size: int) -> float:
    page.select_option("#size", str(size))
    page.click("#show")
    # the tile's box is the layout's, whatever the image: no need to wait for 512 px upscales (which a
    # busy machine may answer with 503 and Retry-After)
    page.wait_for_function(
        "n => new URLSearchParams(location.hash.slice(1)).get('size') === String(n)"
        " && document.querySelectorAll('#grid img').length === 2"
        " && [...document.querySelectorAll('#grid img')].every(i => i.getAttribute('width') === String(n))",
        arg=size,
    )
    return page.locator("#grid .tile").first.bounding_box()["width"]


def test_larger_sizes_draw_larger_tiles(studio, server: str, screen: str) -> None:
    open_studio(studio, server, "model=v2&seed=0&count=2&size=64", tiles=2)
    widths = {}
    for size in (64, 128, 256, 512):
        widths[size] = tile_width(studio, size)
        if size == 256:
            snap(studio, screen, "tiles-256")
    assert widths[64] < widths[128] < widths[256] <= widths[512], widths
    if screen == "desktop":
        assert widths[128] < 160 and widths[256] >= 250 and widths[512] >= 500, widths  # at least their size
    else:
        assert widths[256] >= 1.4 * widths[128], widths  # two a row, not three


OVERLAYS = """t => {
    const tile = t.getBoundingClientRect();
    const caption = t.querySelector('.seed').getBoundingClientRect();
    const mark = getComputedStyle(t, '::after');
    return { tile: tile.height, caption: caption.height, text: t.querySelector('.seed').textContent,
             mark: mark.content, markWidth: parseFloat(mark.width) || 0, markHeight: parseFloat(mark.height) || 0,
             markTop: parseFloat(mark.top), markRight: parseFloat(mark.right) };
  }"""


def test_the_pinned_mark_leaves_the_face_alone(studio, server: str, screen: str) -> None:
    open_studio(studio, server, "seed=40&count=8&size=64", tiles=8)
    tile = studio.locator("#grid .tile").nth(1)
    before = tile.evaluate(OVERLAYS)
    tile.click()
    expect(tile).to_have_attribute("aria-pressed", "true")
    after = tile.evaluate(OVERLAYS)
    assert after["caption"] == before["caption"] <= 0.3 * after["tile"], (before, after)  # one line, as before
    assert "pinned" not in after["text"]
    # a small mark in the top right corner, away from the face in the middle
    assert after["mark"] not in ("none", "normal"), after
    assert after["markWidth"] * after["markHeight"] <= 0.1 * after["tile"] ** 2, after
    assert after["markTop"] <= 4 and after["markRight"] <= 4, after
    snap(studio, screen, "pinned-64")


# --------------------------------------------------------------------------- 9. labels and details
def test_how_different_never_reaches_zero(blank, server: str) -> None:
    pin_and_edit(blank, server)
    strength = blank.get_by_label("How different")
    strength.focus()
    blank.keyboard.press("Home")  # as far as it goes: not 0, which gives 16 copies of the parent
    expect(blank.locator("#strength-value")).to_have_text("0.05")
    blank.get_by_role("button", name="Show variations").click()
    wait_children(blank)
    fingerprints = blank.evaluate(
        """() => [...document.querySelectorAll('#variations img')].map(img => {
             const c = document.createElement('canvas'); c.width = c.height = 32;
             const g = c.getContext('2d'); g.drawImage(img, 0, 0, 32, 32);
             return g.getImageData(0, 0, 32, 32).data.join(','); })"""
    )
    assert len(set(fingerprints)) > 1  # children that differ from each other


def test_one_label_for_the_avatar_being_edited(studio, server: str, screen: str) -> None:
    pin_and_edit(studio, server, tile=1)
    title = studio.locator("#editor-title")
    expect(title).to_have_text("Edit seed 1")
    studio.get_by_role("slider", name="hair lightness").press("End")
    wait_preview(studio, "edits=hair_lightness:2")
    expect(title).to_have_text("Edit seed 1 · 1 edit")  # not "seed 1" after edits
    expect(studio.locator("#editor-preview")).to_have_attribute("alt", "seed 1 · 1 edit")
    studio.get_by_role("button", name="Show variations").click()
    children = wait_children(studio)
    studio.get_by_role("button", name="Variation 3: go on from it").click()
    wait_preview(studio, children[2])
    wait_children(studio)
    expect(title).to_have_text("Edit seed 1 · 1 variation · 1 edit")
    expect(studio.locator("#editor-preview")).to_have_attribute("alt", "seed 1 · 1 variation · 1 edit")
    expect(studio.locator("#editor-detail")).to_have_attribute(
        "aria-label", re.compile("seed 1 · 1 variation · 1 edit")
    )
    studio.get_by_role("button", name="Pin this avatar").click()
    expect(pins(studio)).to_have_count(2)
    expect(pins(studio).nth(1).locator(".label")).to_have_text("#2 · seed 1 · 1 variation · 1 edit")  # the same words
    studio.get_by_role("button", name="Open the large view").click()
    expect(studio.locator("#detail-title")).to_have_text("seed 1 · 1 variation · 1 edit")
    studio.keyboard.press("Escape")
    studio.get_by_role("button", name="Undo (1)").click()
    wait_preview(studio, "edits=hair_lightness:2")
    expect(title).to_have_text("Edit seed 1 · 1 edit")


def test_copy_url_and_img_snippet_agree(blank, server: str) -> None:
    open_studio(blank, server, "seed=0&count=4&size=64", tiles=4)
    blank.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    blank.locator("#grid .tile").nth(0).click()
    blank.wait_for_function("document.querySelectorAll('#pins [data-code]').length === 1")
    blank.get_by_role("button", name="View #1 large").click()
    blank.get_by_role("button", name="Copy URL").click()
    url = blank.locator("#detail-text").input_value()
    blank.get_by_role("button", name="Copy <img> snippet").click()
    snippet = blank.locator("#detail-text").input_value()
    size = int(url.rsplit("size=", 1)[1])
    assert f'src="{url}"' in snippet and f'width="{size}" height="{size}"' in snippet, (url, snippet)


SLIDER_ROW = """e => {
    const r = e.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height, zero: getComputedStyle(e).getPropertyValue('--zero') };
  }"""


def is_accent(pixel) -> bool:
    red, green, blue = pixel[:3]
    return red > 200 and green < 170 and blue > 120  # the studio's pink, #ff7aa8


def test_slider_fills_start_at_zero_and_zero_is_marked(studio, server: str, screen: str) -> None:
    pin_and_edit(studio, server)
    slider = studio.get_by_role("slider", name="hair lightness")  # -2 to 2: 0 in the middle
    slider.press("End")
    wait_preview(studio, "edits=hair_lightness:2")
    slider.scroll_into_view_if_needed()
    studio.mouse.move(0, 0)
    image = Image.open(io.BytesIO(slider.screenshot())).convert("RGB")
    scale = image.width / slider.bounding_box()["width"]
    middle = image.height // 2
    row = [image.getpixel((x, middle)) for x in range(image.width)]
    quarter, three_quarters = image.width // 4, 3 * image.width // 4
    assert not is_accent(row[quarter]), row[quarter]  # -1: left of 0, not filled
    assert is_accent(row[three_quarters]), row[three_quarters]  # +1: between 0 and the thumb, filled
    # a mark at 0, above and below the track
    mark = [image.getpixel((image.width // 2 + dx, middle - int(6 * scale))) for dx in (-1, 0, 1)]
    assert any(sum(p) > 400 for p in mark), mark
    slider.press("Home")
    wait_preview(studio, "edits=hair_lightness:-2")
    image = Image.open(io.BytesIO(slider.screenshot())).convert("RGB")
    assert is_accent(image.getpixel((quarter, middle))) and not is_accent(image.getpixel((three_quarters, middle)))
    snap(studio, screen, "slider-zero")


def labels(page) -> list[str]:
    return pins(page).locator(".label").all_inner_texts()


def test_a_share_link_keeps_names_and_what_they_point_to(browser, server: str) -> None:
    sender = browser.new_context(viewport={"width": 1280, "height": 800})
    page = sender.new_page()
    open_studio(page, server, "seed=0&count=4&size=64", tiles=4)
    for n in range(4):
        page.locator("#grid .tile").nth(n).click()
        expect(pins(page)).to_have_count(n + 1)
    page.get_by_role("button", name="Unpin #3").click()  # the pins are #1, #2 and #4
    page.wait_for_function("document.querySelectorAll('#pins [data-code]').length === 3")
    page.select_option("#blend-c", "4")
    page.click("#blend")
    page.wait_for_function("document.getElementById('blend-image').naturalWidth === 256", timeout=30_000)
    page.click("#blend-pin")
    expect(pins(page)).to_have_count(4)
    expect(pins(page).nth(3).locator(".label")).to_have_text("#5 · blend #1 − #2 + #4")
    page.wait_for_function("document.querySelectorAll('#pins [data-code]').length === 4")
    page.get_by_role("button", name="Share link").click()
    link = page.locator("#share-text").input_value()

    # kept across a reload: the same numbers, so the name still points at the right pins
    page.reload()
    wait_for_tiles(page, 4)
    expect(pins(page)).to_have_count(4)
    assert labels(page) == ["#1 · seed 0 · v1", "#2 · seed 1 · v1", "#4 · seed 3 · v1", "#5 · blend #1 − #2 + #4"]

    # someone with nothing pinned: the same pins, numbers and name (not "blended latent")
    other = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    fresh = other.new_page()
    fresh.goto(link)
    expect(pins(fresh)).to_have_count(4)
    assert labels(fresh) == labels(page)

    # someone who has pinned two of their own: the shared pins get the next numbers, and the name follows them
    third = browser.new_context(viewport={"width": 1280, "height": 800})
    mine = third.new_page()
    open_studio(mine, server, "seed=10&count=2&size=64", tiles=2)
    mine.locator("#grid .tile").nth(0).click()
    mine.locator("#grid .tile").nth(1).click()
    expect(pins(mine)).to_have_count(2)
    mine.wait_for_function("document.querySelectorAll('#pins [data-code]').length === 2")
    mine.goto(link)
    expect(pins(mine)).to_have_count(6)
    assert labels(mine)[2:] == ["#3 · seed 0 · v1", "#4 · seed 1 · v1", "#5 · seed 3 · v1", "#6 · blend #3 − #4 + #5"]
    snap(mine, "desktop", "shared-names", full_page=True)
    for context in (sender, other, third):
        context.close()


# ------------------------------------------------------------------------- 4. the editor in the URL
def editor_state(page) -> dict:
    return page.evaluate(
        """() => ({ open: !document.getElementById('editor').hidden,
                    title: document.getElementById('editor-title').textContent,
                    shown: document.getElementById('editor-preview').dataset.shown || '',
                    undo: document.getElementById('editor-undo').textContent,
                    children: [...document.querySelectorAll('#variations .tile')].map(t => t.dataset.code) })"""
    )


def test_back_forward_reload_and_links_keep_the_editor(studio, server: str, screen: str) -> None:
    studio.goto("about:blank")  # Back from the studio's first page would leave it for this one
    pin_and_edit(studio, server, tile=2)
    assert "edit=" in studio.url
    studio.get_by_role("slider", name="hair lightness").press("End")
    start = wait_preview(studio, "edits=hair_lightness:2")
    studio.get_by_role("button", name="Show variations").click()
    children = wait_children(studio)
    opened = editor_state(studio)
    assert "edits=hair_lightness:2" in studio.url and "variations=0" in studio.url

    studio.get_by_role("button", name="Variation 4: go on from it").click()
    wait_preview(studio, children[3])
    grandchildren = wait_children(studio)
    picked = editor_state(studio)
    assert picked["title"] == "Edit seed 2 · 1 variation · 1 edit"

    studio.get_by_role("button", name="Undo (1)").click()
    assert wait_preview(studio, "edits=hair_lightness:2") == start
    assert wait_children(studio) == children

    # Back: the undo is undone (the pick again), then the pick, then the editor closes: still the studio
    studio.go_back()
    wait_preview(studio, children[3])
    assert wait_children(studio) == grandchildren
    expect(studio.locator("#editor-undo")).to_have_text("Undo (1)")
    studio.go_back()
    assert wait_preview(studio, "edits=hair_lightness:2") == start
    assert wait_children(studio) == children
    assert editor_state(studio) == opened
    studio.go_back()
    expect(studio.locator("#editor")).to_be_hidden()
    assert studio.url.startswith(server)
    wait_for_tiles(studio, 4)
    studio.go_forward()
    expect(studio.locator("#editor")).to_be_visible()
    wait_preview(studio, "edits=hair_lightness:2")
    studio.go_forward()
    wait_preview(studio, children[3])
    wait_children(studio)
    assert editor_state(studio) == picked

    # a reload restores the editor where it was, its undo history too
    studio.reload()
    wait_preview(studio, children[3])
    assert wait_children(studio) == grandchildren
    assert editor_state(studio) == picked
    expect(studio.locator("#message")).to_be_hidden()
    snap(studio, screen, "editor-restored")
    studio.get_by_role("button", name="Undo (1)").click()
    assert wait_preview(studio, "edits=hair_lightness:2") == start
    assert wait_children(studio) == children

    # a share link carries it to someone else
    studio.get_by_role("button", name="Share link").click()
    link = studio.locator("#share-text").input_value()
    assert "edit=" in link
    other = studio.context.browser.new_context(**SIZES[screen])
    elsewhere = other.new_page()
    elsewhere.goto(link)
    assert wait_preview(elsewhere, "edits=hair_lightness:2") == start
    assert wait_children(elsewhere) == children
    expect(elsewhere.locator("#editor-title")).to_have_text("Edit seed 2 · 1 edit")
    other.close()

    # Close editor adds an entry too: Back opens it again
    studio.get_by_role("button", name="Close editor").click()
    expect(studio.locator("#editor")).to_be_hidden()
    assert "edit=" not in studio.url
    studio.go_back()
    expect(studio.locator("#editor")).to_be_visible()
    assert wait_preview(studio, "edits=hair_lightness:2") == start


def test_a_bad_editor_link_says_so_and_shows_the_grid(blank, server: str) -> None:
    open_studio(blank, server, "seed=0&count=4&size=64&edit=Zzz", tiles=4)
    expect(blank.locator("#message")).to_contain_text("editor")
    expect(blank.locator("#editor")).to_be_hidden()
    assert "edit=" not in blank.url


# ------------------------------------------------------------------------ 5. the preview in view
IN_VIEW = """sel => { const r = document.querySelector(sel).getBoundingClientRect();
                      return r.width > 0 && r.top >= -1 && r.bottom <= innerHeight + 1; }"""


def with_many_sliders(route) -> None:
    """v1's directions with 16 more attribute sliders before them, as a real release has about 21
    (they are never moved here, so no request names them)."""
    listing = route.fetch().json()
    extra = [{"name": f"trait_{k}", "kind": "attribute", "range": [-2, 2], "note": ""} for k in range(16)]
    route.fulfill(json={**listing, "directions": extra + listing["directions"]})


def test_the_preview_stays_in_view_while_editing(studio, server: str, screen: str) -> None:
    studio.route("**/models/v1/directions", with_many_sliders)
    pin_and_edit(studio, server, tile=3)
    expect(studio.locator("#sliders input[type=range]")).to_have_count(21)
    # the last slider, reached by the keyboard (which scrolls it into view)
    last = studio.locator("#sliders input[type=range]").last
    last.focus()
    last.press("ArrowRight")
    expect(last).to_be_in_viewport()
    wait_preview(studio, "edits=")
    assert studio.evaluate(IN_VIEW, "#editor-preview"), "the face being edited went off-screen"
    snap(studio, screen, "editing-last-slider")

    # the variations: the parent beside (or above) its children, the last child included
    studio.get_by_role("button", name="Show variations").click()
    children = wait_children(studio)
    studio.locator("#variations .tile").last.evaluate("e => e.scrollIntoView({block: 'end'})")
    assert studio.evaluate(IN_VIEW, "#variations .tile:last-child")
    assert studio.evaluate(IN_VIEW, "#editor-preview"), "the parent is not beside its children"
    studio.get_by_role("button", name="Variation 16: go on from it").click()
    wait_preview(studio, children[15])
    wait_children(studio)
    assert studio.evaluate(IN_VIEW, "#editor-preview")  # the picked one, where the eye is
    studio.locator("#variations .tile").nth(12).evaluate("e => e.scrollIntoView({block: 'end'})")
    assert studio.evaluate(IN_VIEW, "#editor-preview")
    snap(studio, screen, "editing-variations")
    # the page still fits its width
    assert studio.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
