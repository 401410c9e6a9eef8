"""Schemathesis over /openapi.json, against the real service on a local port: its engine runs the
examples, coverage, fuzzing and stateful phases (the last follows the schema's links from answers
that hold codes) with the checks issue 31 names, and one more: schema-valid input is served.

That last one is schemathesis' `positive_data_acceptance`, less the refusals the schema cannot
state (app/errors.py UNSAID_RULES: they depend on the loaded releases, on several fields at once
or on what a code holds), each of which the service answers with its own error type, and less the
404 and 410 of a release or version name this server does not serve. Any other 4xx for input the
schema allows fails here: the schema must say every rule the service enforces.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.errors import UNSAID_RULES
from tests.live_server import live_service

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.config import SchemathesisConfig  # noqa: E402
from schemathesis.engine import Status, events, from_schema  # noqa: E402

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "unsupported_method",  # 405 for a method the path does not take...
    "allow_header_conformance",  # ...listing every method it does
    "schema_valid_input_is_served",  # below
]
PHASES = ("examples", "coverage", "fuzzing", "stateful")
MAX_EXAMPLES = 8  # per operation and phase: about 2,000 requests, 25 s on 2 busy cores


def _release_error(body: Any) -> bool:
    detail = body.get("detail") if isinstance(body, dict) else None
    return isinstance(detail, str) and ("release" in detail or "model version" in detail)


@schemathesis.check
def schema_valid_input_is_served(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request the schema allows is not refused, except by a rule the schema cannot state (a 422
    whose errors all have an UNSAID_RULES type) or for a release name this server does not serve."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    errors = body.get("detail", []) if response.status_code == 422 and isinstance(body, dict) else None
    if errors and all(isinstance(error, dict) and error.get("type") in UNSAID_RULES for error in errors):
        return None
    if response.status_code in (404, 410) and _release_error(body):
        return None
    raise AssertionError(f"schema-valid input refused with {response.status_code}: {response.text[:400]}")


@pytest.fixture(scope="module")
def live_server(tiny_release_dir: Path) -> Iterator[str]:
    with live_service(tiny_release_dir, log_level="warning") as url:
        yield url


def run_engine(url: str) -> tuple[dict[str, Status], int, list[str]]:
    """Each phase's status, the links the stateful phase follows, and every failure (a check's, or
    an error of the run) as text."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": 31,  # the same cases on every run
            "workers": 1,
            "generation": {"max-examples": MAX_EXAMPLES, "no-shrink": True, "database": "none"},
            "phases": {phase: {"enabled": True} for phase in PHASES} | {"stateful": {"enabled": True, "max-steps": 6}},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)
    phases: dict[str, Status] = {}
    links = 0
    problems: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.PhaseStarted) and event.payload is not None:
            links = event.payload.transitions_selected
        elif isinstance(event, events.PhaseFinished):
            phases[event.phase.name.value] = event.status
        elif isinstance(event, events.ScenarioFinished):
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        problems.append(f"{event.phase.value} {event.recorder.label}: {check.name}: {failure.title}\n"
                                        f"{failure.message}\n{check.failure_info.code_sample}")  # fmt: skip
        elif isinstance(event, events.NonFatalError):
            problems.append(f"{event.phase} {event.label}: error: {event.value!r}")
        elif isinstance(event, events.FatalError):
            problems.append(f"fatal: {event.exception!r}")
    return phases, links, problems


def test_every_phase_and_check_passes_against_the_live_service(live_server: str) -> None:
    phases, links, problems = run_engine(live_server)
    assert not problems, "\n\n".join(dict.fromkeys(problems))
    for phase in PHASES:
        assert phases.get(phase) == Status.SUCCESS, (phase, phases)
    assert links >= 9, links  # the schema's own 9 (app/openapi.py add_links), and what schemathesis infers
