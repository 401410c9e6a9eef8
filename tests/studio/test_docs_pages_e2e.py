"""/docs and /redoc in Chromium: every request they make stays on this service (the README promises
the docs pages load nothing from the internet), and they show the API."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.studio.helpers import CHROMIUM, shoot

pytestmark = pytest.mark.e2e

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if not Path(CHROMIUM).exists():
    pytest.skip("needs Debian's chromium (apt-get install chromium)", allow_module_level=True)


@pytest.mark.parametrize(("path", "shows"), [("/docs", "POST/avatars"), ("/redoc", "POST/avatars")])
def test_docs_pages_ask_nothing_of_the_internet(blank, server: str, path: str, shows: str) -> None:
    here = urlparse(server).netloc
    elsewhere: list[str] = []
    blank.on("request", lambda r: None if urlparse(r.url).netloc in (here, "") else elsewhere.append(r.url))
    blank.goto(f"{server}{path}")
    blank.wait_for_load_state("networkidle")
    playwright_api.expect(blank.locator("body")).to_contain_text("avatars")
    shoot(blank, path.strip("/"), full_page=False)
    assert elsewhere == [], f"{path} asked {elsewhere}"
