"""The Dockerfile as data, for tests that check it against the code and the Kubernetes manifests."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile"


@dataclasses.dataclass
class Instruction:
    stage: str
    keyword: str
    args: str


def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out, stage = [], ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage = args.split(" AS ")[-1].strip() if " AS " in args else args
        out.append(Instruction(stage, keyword, args.strip()))
    return out


def of(keyword: str, stage: str | None = None) -> list[Instruction]:
    return [i for i in dockerfile() if i.keyword == keyword and (stage is None or i.stage == stage)]


def copy_parts(instruction: Instruction) -> tuple[list[str], str]:
    """(sources, destination) of a COPY, flags such as --chown and --chmod removed."""
    parts = [p for p in shlex.split(instruction.args) if not p.startswith("--")]
    return parts[:-1], parts[-1]


def env_of(stage: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction in of("ENV", stage):
        for assignment in shlex.split(instruction.args):
            key, _, value = assignment.partition("=")
            values[key] = value
    return values


def exec_form(instruction: Instruction) -> list[str]:
    return json.loads(instruction.args)
