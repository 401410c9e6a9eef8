"""What the studio's browser tests share: Chromium's command line, the test card, screenshots and waits."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

DATA_LICENSE = "trained on third-party anime face crops for research and education"

# what `python -m training export` writes on a card, so the page shows a real one
CARD = {
    "name": "studio-test",
    "recipe": {"preset": "sngan-64", "loss": "hinge"},
    "data": {"source": "anime-faces-64.zip", "images": 19000, "resolution": 64},
    "training": {"steps": 12000, "epochs": 20.2, "device": "cpu (2 threads)", "wall_time_s": 6900},
    "metrics": {"face_rate": 0.412, "real_face_rate": 0.83},
    "notes": "random weights for the browser tests",
}


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


def open_studio(page, server: str, view: str, tiles: int | None = None) -> None:
    page.goto(f"{server}/#{view}")
    if tiles is not None:
        wait_for_tiles(page, tiles)


def pins(page):
    return page.locator("#pins .pin")


def field_error(page):
    """A field's error: said under its form and tied to the field (aria-describedby), not in the toast."""
    return page.locator("#field-error")


# the two screens the flows are tried at: a laptop and a phone (Playwright context options)
SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 375, "height": 667}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
    },
}  # fmt: skip
