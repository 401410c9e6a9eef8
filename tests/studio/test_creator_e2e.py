"""The studio as a creator: sliders, variations with undo, the large view, share links, kept pins,
exports and character creation, each in Chromium at desktop and at phone size.

Screenshots land in test-artifacts/creator-*.png.
"""

from __future__ import annotations

import io
import json
import re
import urllib.request
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tests.studio.helpers import (
    CHROMIUM,
    DATA_LICENSE,
    SIZES,
    field_error,
    open_studio,
    pins,
    shoot,
    sticking_out,
    wait_for_tiles,
)

pytestmark = pytest.mark.e2e

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if not Path(CHROMIUM).exists():
    pytest.skip("needs Debian's chromium (apt-get install chromium)", allow_module_level=True)

expect = playwright_api.expect


@pytest.fixture
def new_page(browser, screen: str):
    """Pages of fresh contexts (own storage) at the screen size of the test; closed at the end."""
    contexts = []

    def make():
        context = browser.new_context(accept_downloads=True, **SIZES[screen])
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def studio(new_page):
    return new_page()


def snap(page, screen: str, name: str) -> None:
    shoot(page, f"creator-{name}-{screen}", full_page=screen == "desktop")


def pin_tiles(page, server: str, *indices: int, view: str = "seed=0&count=4&size=64") -> None:
    open_studio(page, server, view, tiles=4)
    for n, index in enumerate(indices, start=1):
        page.locator("#grid .tile").nth(index).click()
        expect(pins(page)).to_have_count(n)
    page.wait_for_function("n => document.querySelectorAll('#pins [data-code]').length === n", arg=len(indices))


def pin_codes(page) -> list[str]:
    return page.locator("#pins .pin").evaluate_all("items => items.map(i => i.dataset.code)")


def open_editor(page, pin: int = 1) -> None:
    page.get_by_role("button", name=f"Edit #{pin}", exact=True).click()
    expect(page.locator("#editor")).to_be_visible()
    wait_preview(page)


def wait_preview(page, part: str = "") -> str:
    """Wait until the preview shows an image whose path contains `part`; return that path."""
    page.wait_for_function(
        """part => {
             const img = document.getElementById('editor-preview');
             return img.dataset.shown && img.dataset.shown === img.dataset.path && img.dataset.shown.includes(part)
               && img.complete && img.naturalWidth === 256;
           }""",
        arg=part,
        timeout=30_000,
    )
    return page.locator("#editor-preview").get_attribute("data-shown")


def pixels(page, selector: str) -> list[int]:
    """A coarse fingerprint of an image on the page: its pixels drawn at 16 x 16."""
    return page.evaluate(
        """sel => {
             const img = document.querySelector(sel);
             const c = document.createElement('canvas');
             c.width = c.height = 16;
             const g = c.getContext('2d');
             g.drawImage(img, 0, 0, 16, 16);
             return [...g.getImageData(0, 0, 16, 16).data];
           }""",
        selector,
    )


def wait_children(page, count: int = 16) -> list[str]:
    page.wait_for_function(
        """n => {
             const imgs = [...document.querySelectorAll('#variations img')];
             return document.getElementById('variations').getAttribute('aria-busy') === 'false'
               && imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0);
           }""",
        arg=count,
        timeout=30_000,
    )
    return page.locator("#variations .tile").evaluate_all("ts => ts.map(t => t.dataset.code)")


def no_overflow(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    assert sticking_out(page) == []


# ------------------------------------------------------------------------------------- sliders
def test_sliders_change_the_preview(studio, server: str, screen: str) -> None:
    pin_tiles(studio, server, 0)
    open_editor(studio)
    first = wait_preview(studio, "/models/v1/avatars/0.png?size=256&truncation=1")
    assert "edits=" not in first
    before = pixels(studio, "#editor-preview")
    # grouped by kind, every slider labelled in words
    legends = studio.locator("#sliders legend").all_inner_texts()
    assert legends == ["Attributes", "Hair colour", "Explore"]
    expect(studio.locator("#sliders input[type=range]")).to_have_count(5)
    lightness = studio.get_by_role("slider", name="hair lightness")
    expect(lightness).to_have_attribute("min", "-2")
    expect(studio.get_by_role("slider", name="blonde")).to_be_visible()
    expect(studio.get_by_role("slider", name="explore 0")).to_be_visible()

    # the keyboard moves a slider; the preview follows once the slider rests
    requests: list[str] = []
    studio.on("request", lambda r: "/avatars/0.png" in r.url and requests.append(r.url))
    lightness.focus()
    for _ in range(4):
        studio.keyboard.press("ArrowRight")
    shown = wait_preview(studio, "edits=hair_lightness:0.2")
    assert shown == "/models/v1/avatars/0.png?size=256&truncation=1&edits=hair_lightness:0.2"
    assert len(requests) < 4, requests  # debounced: not one image per key press
    assert pixels(studio, "#editor-preview") != before
    studio.get_by_role("slider", name="explore 0").focus()
    studio.keyboard.press("ArrowLeft")
    wait_preview(studio, "edits=explore_0:-0.1,hair_lightness:0.2")
    no_overflow(studio)
    snap(studio, screen, "sliders")

    # the edited avatar pins as a code; Reset sliders goes back to the plain seed
    studio.get_by_role("button", name="Pin this avatar").click()
    expect(pins(studio)).to_have_count(2)
    expect(pins(studio).nth(1)).to_contain_text("seed 0 · 2 edits")
    studio.get_by_role("button", name="Reset sliders").click()
    studio.wait_for_function("p => document.getElementById('editor-preview').dataset.shown === p", arg=first)


def test_a_release_without_directions_has_no_sliders(studio, server: str, screen: str) -> None:
    pin_tiles(studio, server, 1, view="model=v2&seed=0&count=4&size=64")
    open_editor(studio)
    wait_preview(studio, "/models/v2/avatars/1.png")
    expect(studio.locator("#sliders-note")).to_contain_text("no directions")
    expect(studio.locator("#sliders input")).to_have_count(0)
    expect(studio.locator("#create-unavailable")).to_be_visible()  # no hair colours in v2 either
    expect(studio.locator("#create")).to_be_disabled()


# ---------------------------------------------------------------------------------- variations
def test_variations_pick_and_undo(studio, server: str, screen: str) -> None:
    pin_tiles(studio, server, 2)
    open_editor(studio)
    studio.get_by_role("slider", name="hair lightness").focus()
    studio.keyboard.press("ArrowRight")
    start = wait_preview(studio, "edits=hair_lightness:0.05")
    studio.get_by_role("button", name="Show variations").click()
    children = wait_children(studio)
    assert len(set(children)) == 16 and all(c[0].isalpha() for c in children)
    parent = studio.locator("#variations").get_attribute("data-parent")

    # the same grid in one image: GET variations.png of the same parent, strength and seed
    with urllib.request.urlopen(f"{server}/models/v1/variations.png?of={parent}&n=16&strength=0.3&seed=0") as r:
        width, height = Image.open(io.BytesIO(r.read())).size
        assert width == height >= 4 * 64  # 4 x 4 avatars (and the gaps between them)

    studio.get_by_role("button", name="New variations").click()
    studio.wait_for_function("document.getElementById('variations').dataset.seed === '1'")
    fresh = wait_children(studio)
    assert set(fresh).isdisjoint(children)

    # "how different" by keyboard: 0.30 -> 0.50
    studio.get_by_label("How different").focus()
    for _ in range(4):
        studio.keyboard.press("ArrowRight")
    expect(studio.locator("#strength-value")).to_have_text("0.50")
    studio.get_by_role("button", name="Show variations").click()
    stronger = wait_children(studio)
    assert set(stronger).isdisjoint(fresh)

    # pick one: it becomes the avatar (its sliders where the parent's were, still movable), and its children show
    studio.get_by_role("button", name="Variation 4: go on from it").click()
    wait_preview(studio, stronger[3])
    expect(studio.get_by_role("button", name="Undo (1)")).to_be_enabled()
    expect(studio.get_by_role("slider", name="hair lightness")).to_be_enabled()
    expect(studio.get_by_role("slider", name="hair lightness")).to_have_value("0.05")
    expect(studio.locator("#sliders-note")).to_be_hidden()
    expect(studio.locator("#editor-reset")).to_be_enabled()
    grandchildren = wait_children(studio)
    assert set(grandchildren).isdisjoint(stronger)
    studio.get_by_role("button", name="Variation 1: go on from it").click()
    wait_preview(studio, grandchildren[0])
    expect(studio.locator("#editor-history li")).to_have_count(2)
    wait_children(studio)
    no_overflow(studio)
    snap(studio, screen, "variations")

    # undo steps back through the picks, each with the grid it was picked from
    studio.get_by_role("button", name="Undo (2)").click()
    wait_preview(studio, stronger[3])
    assert wait_children(studio) == grandchildren
    studio.get_by_role("button", name="Undo (1)").click()
    assert wait_preview(studio, "edits=hair_lightness:0.05") == start
    assert wait_children(studio) == stronger
    expect(studio.locator("#editor-undo")).to_be_disabled()
    expect(studio.get_by_role("slider", name="hair lightness")).to_be_enabled()

    # a picked variation pins as its code; its lineage travels in it
    studio.get_by_role("button", name="Variation 2: go on from it").click()
    wait_preview(studio, stronger[1])
    studio.get_by_role("button", name="Pin this avatar").click()
    expect(pins(studio)).to_have_count(2)
    expect(pins(studio).nth(1)).to_contain_text("variation")
    assert pin_codes(studio)[1] == stronger[1]


# ------------------------------------------------------------------- edits of a picked variation
def read_code(server: str, code: str) -> dict:
    """GET /codes/{code} from the live server: what the code says (Python keeps 63-bit seeds exact)."""
    with urllib.request.urlopen(f"{server}/codes/{code}") as r:
        return json.load(r)


def is_code_post(response) -> bool:
    return response.request.method == "POST" and response.url.endswith("/codes")


def pick_variation(page, number: int) -> str:
    """Show the variations of the avatar in the editor and pick one; return its code."""
    page.get_by_role("button", name="Show variations").click()
    children = wait_children(page)
    page.get_by_role("button", name=f"Variation {number}: go on from it").click()
    wait_preview(page, children[number - 1])
    wait_children(page)  # its own children: nothing is left on its way
    return children[number - 1]


def edit_code(page, action) -> tuple[dict, str]:
    """Do what moves the sliders (one input event, so one request); return the POST /codes body it
    sent and the code answered, once the preview shows that code's URL."""
    with page.expect_response(is_code_post) as info:
        action()
    response = info.value
    assert response.ok, response.text()
    code = response.json()["code"]
    assert wait_preview(page, code) == f"/models/v1/avatars/{code}.png?size=256"
    return response.request.post_data_json, code


def slide(page, name: str, key: str) -> tuple[dict, str]:
    """Move a slider with Home or End: straight to one end, one input event."""
    return edit_code(page, lambda: page.get_by_role("slider", name=name).press(key))


def test_a_picked_variation_takes_slider_edits(new_page, server: str, screen: str) -> None:
    page = new_page()
    pin_tiles(page, server, 1)
    open_editor(page)
    child = pick_variation(page, 3)
    before = pixels(page, "#editor-preview")
    expect(page.get_by_role("slider", name="hair lightness")).to_be_enabled()
    expect(page.locator("#sliders-note")).to_be_hidden()

    # a slider on a variation: POST /codes with the picked code as the base, and the preview shows the answer
    sent, edited = slide(page, "hair lightness", "End")
    assert sent == {"model": "v1", "base": child, "edits": {"hair_lightness": 2}}
    assert edited != child
    assert pixels(page, "#editor-preview") != before
    expect(page.locator("#editor-preview")).to_have_attribute("alt", re.compile(r"1 edit$"))
    # edits replace, they do not stack: the base stays the picked variation, so back at 2 is the same code
    sent, _ = slide(page, "hair lightness", "Home")
    assert sent == {"model": "v1", "base": child, "edits": {"hair_lightness": -2}}
    sent, again = slide(page, "hair lightness", "End")
    assert sent["base"] == child and again == edited
    no_overflow(page)
    snap(page, screen, "variation-edit")

    page.get_by_role("button", name="Pin this avatar").click()
    expect(pins(page)).to_have_count(2)
    page.wait_for_function("document.querySelectorAll('#pins [data-code]').length === 2")
    assert pin_codes(page)[1] == edited
    expect(pins(page).nth(1)).to_contain_text("seed 1 · 1 variation · 1 edit")

    page.reload()
    wait_for_tiles(page, 4)
    expect(pins(page)).to_have_count(2)
    page.wait_for_function("document.querySelectorAll('#pins [data-code]').length === 2")
    assert pin_codes(page)[1] == edited
    # what the code says: the variation's lineage step and the slider's edit
    said, base = read_code(server, edited), read_code(server, child)
    assert said["seed"] == base["seed"] == 1
    assert len(said["variations"]) == 1 and said["variations"] == base["variations"]
    assert said["edits"] == {"hair_lightness": 2.0} and base["edits"] == {}
    assert said["drawn_latent"] != base["drawn_latent"]

    # the kept pin edits on: its sliders where its code has them; Reset takes its edits away (in place)
    page.get_by_role("button", name="Edit #2", exact=True).click()
    wait_preview(page, edited)
    expect(page.get_by_role("slider", name="hair lightness")).to_have_value("2")
    sent, reset = edit_code(page, lambda: page.get_by_role("button", name="Reset sliders").click())
    assert sent == {"model": "v1", "base": edited, "edits": {}}
    assert reset == child


def frame_distance(page, frame: int, url: str) -> float:
    """Mean difference (0 to 255 a channel) between one frame of the interpolation strip and the image at url."""
    return page.evaluate(
        """async ([k, url]) => {
             const strip = document.getElementById('walk-strip');
             const other = new Image();
             other.src = url;
             await other.decode();
             const side = strip.naturalHeight;
             const draw = (img, x, size) => {
               const c = document.createElement('canvas');
               c.width = c.height = 32;
               const g = c.getContext('2d');
               g.drawImage(img, x, 0, size, size, 0, 0, 32, 32);
               return g.getImageData(0, 0, 32, 32).data;
             };
             const a = draw(strip, k * side, side);
             const b = draw(other, 0, other.naturalWidth);
             let sum = 0;
             for (let i = 0; i < a.length; i += 1) sum += Math.abs(a[i] - b[i]);
             return sum / a.length;
           }""",
        [frame, url],
    )


def test_edited_pins_interpolate_and_blend(new_page, server: str, screen: str) -> None:
    page = new_page()
    pin_tiles(page, server, 0, 3)
    open_editor(page)
    child = pick_variation(page, 2)
    _, edited = slide(page, "blonde", "End")  # a varied and edited avatar
    page.get_by_role("button", name="Pin this avatar").click()
    expect(pins(page)).to_have_count(3)
    page.wait_for_function("document.querySelectorAll('#pins [data-code]').length === 3")
    plain, _, kept = pin_codes(page)
    assert kept == edited != child
    page.get_by_role("button", name="Close editor").click()

    asked: list[str] = []
    page.on("request", lambda r: "/codes/" in r.url and asked.append(r.url))
    page.select_option("#walk-a", "3")
    page.select_option("#walk-b", "1")
    page.fill("#walk-steps", "4")
    page.click("#walk")
    page.wait_for_function("document.getElementById('walk-strip').naturalWidth === 4 * 128", timeout=30_000)
    expect(page.locator("#walk-result")).to_be_visible()
    expect(page.locator("#message")).to_be_hidden()  # no refusal of the edited pin
    expect(page.locator("#walk-frames .frame")).to_have_count(4)
    # the walk starts at the edited avatar itself (its drawn latent) and ends at the plain pin
    start = frame_distance(page, 0, f"/models/v1/avatars/{edited}.png?size=128")
    unedited = frame_distance(page, 0, f"/models/v1/avatars/{child}.png?size=128")
    end = frame_distance(page, 3, f"/models/v1/avatars/{plain}.png?size=128")
    assert start < 0.25 and end < 0.25, (start, end)  # the same pixels (0 here), give or take float drift
    assert unedited > start, (unedited, start)
    page.locator("#walk-result").scroll_into_view_if_needed()
    no_overflow(page)
    snap(page, screen, "edited-interpolation")

    # a blend with the edited pin: half of it and half of the plain one
    page.select_option("#blend-a", "3")
    page.select_option("#blend-b", "1")
    page.fill("#weight-a", "0.5")
    page.fill("#weight-b", "0.5")
    page.click("#blend")
    page.wait_for_function("document.getElementById('blend-image').naturalWidth === 256", timeout=30_000)
    expect(page.locator("#message")).to_be_hidden()
    expect(page.locator("#blend-image")).to_have_attribute("alt", "Blend 0.5×#3 + 0.5×#1")
    page.click("#blend-pin")
    expect(pins(page)).to_have_count(4)
    expect(pins(page).nth(3)).to_contain_text("blend 0.5×#3 + 0.5×#1")
    # each pin's latent was asked for once (GET /codes/{code}), then kept
    assert sum(url.endswith(f"/codes/{edited}") for url in asked) == 1, asked
    assert sum(url.endswith(f"/codes/{plain}") for url in asked) == 1, asked


# --------------------------------------------------------------------- large view and copying
def test_detail_view_and_copy_texts(studio, server: str, screen: str) -> None:
    pin_tiles(studio, server, 0, 1)
    code = pin_codes(studio)[1]
    studio.get_by_role("button", name="View #2 large").click()
    dialog = studio.locator("#detail")
    expect(dialog).to_be_visible()
    studio.wait_for_function("document.getElementById('detail-image').naturalWidth === 256", timeout=30_000)
    expect(studio.locator("#detail-title")).to_contain_text("#2 · seed 1")
    studio.get_by_role("button", name="Copy URL").click()
    url = f"{server}/models/v1/avatars/{code}.png?size=256"
    expect(studio.locator("#detail-text")).to_have_value(url)
    with urllib.request.urlopen(url) as r:  # the URL works anywhere: the code names the avatar
        assert Image.open(io.BytesIO(r.read())).size == (256, 256)
    studio.get_by_role("button", name="Copy <img> snippet").click()
    snippet = (  # the image Copy URL gives, at its size
        f'<img src="{server}/models/v1/avatars/{code}.png?size=256" width="256" height="256" alt="Avatar: seed 1 · v1">'
    )
    expect(studio.locator("#detail-text")).to_have_value(snippet)
    snap(studio, screen, "detail")
    studio.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(studio.get_by_role("button", name="View #2 large")).to_be_focused()  # back where it was

    # the same texts from a pin's own buttons, shown beside the pins
    studio.get_by_role("button", name="Copy the URL of #1").click()
    expect(studio.locator("#share-text")).to_have_value(
        f"{server}/models/v1/avatars/{pin_codes(studio)[0]}.png?size=256"
    )
    studio.get_by_role("button", name="Copy an img snippet for #1").click()
    expect(studio.locator("#share-text")).to_have_value(
        f'<img src="{server}/models/v1/avatars/{pin_codes(studio)[0]}.png?size=256" width="256" height="256" '
        'alt="Avatar: seed 0 · v1">'
    )
    expect(studio.locator("#share-label")).to_have_text("<img> snippet for #1")

    # the editor's preview opens the large view too
    open_editor(studio)
    studio.get_by_role("button", name="Open the large view").click()
    expect(dialog).to_be_visible()
    studio.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_be_hidden()


# --------------------------------------------------------------------------- links and storage
def test_share_link_round_trip(new_page, server: str, screen: str) -> None:
    page = new_page()
    pin_tiles(page, server, 0, 3)
    open_editor(page, 2)
    page.get_by_role("slider", name="blonde").focus()
    page.keyboard.press("ArrowRight")
    wait_preview(page, "edits=hair_blonde:0.1")
    page.get_by_role("button", name="Pin this avatar").click()
    expect(pins(page)).to_have_count(3)
    page.wait_for_function("document.querySelectorAll('#pins [data-code]').length === 3")
    codes = pin_codes(page)
    page.get_by_role("button", name="Share link").click()
    link = page.locator("#share-text").input_value()
    assert link.startswith(f"{server}/#") and f"pins={','.join(codes)}" in link
    snap(page, screen, "share")

    other = new_page()  # another person: nothing pinned, nothing stored
    other.goto(link)
    expect(pins(other)).to_have_count(3)
    other.wait_for_function("document.querySelectorAll('#pins [data-code]').length === 3")
    assert pin_codes(other) == codes
    expect(pins(other).nth(2)).to_contain_text("seed 3 · 1 edit")
    expect(other.locator("#message")).to_contain_text("The link added 3 pins")
    wait_for_tiles(other, 4)
    assert "pins=" not in other.url  # taken in: the address is the grid's again
    other.wait_for_function("[...document.querySelectorAll('#pins img')].every(i => i.complete && i.naturalWidth > 0)")
    # the edited pin opens in the editor with its sliders where they were
    other.get_by_role("button", name="Edit #3", exact=True).click()
    wait_preview(other, "edits=hair_blonde:0.1")
    expect(other.get_by_role("slider", name="blonde")).to_have_value("0.1")
    other.goto(link)  # the same link again adds nothing twice
    expect(other.locator("#pin-count")).to_have_text("3")


def test_pins_persist_across_reload(studio, server: str, screen: str) -> None:
    pin_tiles(studio, server, 1, 2)
    codes = pin_codes(studio)
    studio.reload()
    wait_for_tiles(studio, 4)
    expect(pins(studio)).to_have_count(2)
    assert pin_codes(studio) == codes
    expect(pins(studio).first).to_contain_text("seed 1")
    expect(studio.locator("#grid .tile").nth(1)).to_have_attribute("aria-pressed", "true")  # still marked pinned
    studio.get_by_role("button", name="Unpin #1").click()
    studio.reload()
    expect(pins(studio)).to_have_count(1)
    assert pin_codes(studio) == codes[1:]


# -------------------------------------------------------------------------------------- exports
def test_zip_and_sprite_sheet_downloads(studio, server: str, screen: str) -> None:
    pin_tiles(studio, server, 0, 1, 2)
    with studio.expect_download() as info:
        studio.get_by_role("button", name="Download zip").click()
    assert info.value.suggested_filename == "avatars.zip"
    archive = zipfile.ZipFile(info.value.path())
    assert archive.testzip() is None  # every CRC matches
    names = archive.namelist()
    assert names == ["01-seed-0-v1.png", "02-seed-1-v1.png", "03-seed-2-v1.png"], names
    for name in names:
        image = Image.open(io.BytesIO(archive.read(name)))
        assert image.format == "PNG" and image.size == (128, 128)
    note = studio.locator("#usage-note")
    expect(note).to_contain_text(f"“{DATA_LICENSE}”")
    expect(note).to_contain_text("Downloaded 3 avatars")

    with studio.expect_download() as info:
        studio.get_by_role("button", name="Sprite sheet").click()
    assert info.value.suggested_filename == "avatars-sprite.png"
    sheet = Image.open(info.value.path())
    assert sheet.format == "PNG" and sheet.size == (3 * 128, 128)
    first = Image.open(io.BytesIO(archive.read(names[0]))).convert("RGB")
    assert sheet.convert("RGB").crop((0, 0, 128, 128)).tobytes() == first.tobytes()  # pin 1, top left
    expect(note).to_contain_text("3 a row")
    no_overflow(studio)
    studio.locator("#usage-note").scroll_into_view_if_needed()
    snap(studio, screen, "exports")

    # a release whose card names no data licence: said plainly
    studio.select_option("#model", "v2")
    wait_for_tiles(studio, 4)
    studio.locator("#grid .tile").nth(0).click()
    expect(pins(studio)).to_have_count(4)
    with studio.expect_download():
        studio.get_by_role("button", name="Download zip").click()
    expect(note).to_contain_text("Release v2's model card states no data licence")
    expect(note).to_contain_text(DATA_LICENSE)  # and v1's is still quoted


# ---------------------------------------------------------------------------- character creation
def test_hair_colour_creation_shows_avatars(studio, server: str, screen: str) -> None:
    open_studio(studio, server, "seed=0&count=4&size=64", tiles=4)
    hair = studio.get_by_label("Hair colour")
    expect(hair.locator("option")).to_have_count(2)
    hair.select_option("black")
    studio.get_by_label("Player ids").fill("alice, bob")
    studio.get_by_role("button", name="Create", exact=True).click()
    created = studio.locator("#created li")
    expect(created).to_have_count(2)
    studio.wait_for_function(
        "[...document.querySelectorAll('#created img')].every(i => i.complete && i.naturalWidth === 128)"
    )
    expect(created.nth(0)).to_contain_text("alice · black")
    expect(created.nth(1)).to_contain_text("bob · black")
    answer = studio.request.post(
        f"{server}/avatars",
        data={"player_ids": ["alice", "bob"], "hair_color": "black"},
        headers={"Accept": "application/json"},
    ).json()["avatars"]
    for row, item in zip((created.nth(0), created.nth(1)), answer, strict=True):  # the label says what the API says
        if not item["hair_color_matched"]:
            expect(row).to_contain_text("(closest found)")
        elif not item["hair_color_same_face"]:
            expect(row).to_contain_text("(a related face: theirs cannot take this colour)")
        else:
            expect(row.locator(".label")).to_have_text(f"{item['player_id']} · black")
    studio.get_by_role("button", name="Pin alice").click()
    expect(pins(studio)).to_have_count(1)
    expect(pins(studio).first).to_contain_text("alice (black)")
    studio.get_by_role("button", name="Edit bob").click()
    wait_preview(studio)
    expect(studio.locator("#editor-title")).to_contain_text("bob (black)")
    no_overflow(studio)
    studio.locator("#created").scroll_into_view_if_needed()
    snap(studio, screen, "create")

    studio.get_by_label("Player ids").fill(" ")
    studio.get_by_role("button", name="Create", exact=True).click()
    expect(field_error(studio)).to_contain_text("Enter a player id")
    expect(studio.get_by_label("Player ids")).to_have_attribute("aria-invalid", "true")
