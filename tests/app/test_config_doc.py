"""README.md's settings table is the code's: every setting, its default and rule, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from app.config import settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_every_setting_as_the_code_defines_it() -> None:
    text = README.read_text()
    found = re.search(r"<!-- settings: python -m app.config -->\n(.*?)<!-- /settings -->", text, re.S)
    assert found, "README.md lost its settings table markers"
    assert found.group(1) == settings_table(), "regenerate README.md's table with python -m app.config"
