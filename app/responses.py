"""The answers routes document besides their 200 (FastAPI's `responses=`), in one place: every route
module takes them from here, none from another route module."""

from __future__ import annotations

from typing import Any

from app.errors import INVALID, INVALID_BODY
from app.schemas import ErrorBody, RetiredErrorBody, ValidationErrorBody

Responses = dict[int | str, dict[str, Any]]

ERRORS: Responses = {
    422: {"model": ValidationErrorBody, "description": INVALID},
    503: {"model": ErrorBody, "description": "overloaded; see Retry-After"},
}
# what only a request with a body can get (app/admission.py), and one answer for any body that is not JSON
BODY_ERRORS: Responses = {
    408: {"model": ErrorBody, "description": "the body did not arrive within AVATARS_BODY_TIMEOUT_S"},
    413: {"model": ErrorBody, "description": "the body is over AVATARS_MAX_BODY_BYTES"},
    422: {"model": ValidationErrorBody, "description": INVALID_BODY},
}
# the same answers wherever a release is named: by a URL, a body's `model`, a code or a `v` version
RELEASE_ERRORS: Responses = {
    404: {"model": ErrorBody, "description": "unknown release or model version (the answer names the known ones)"},
    410: {"model": RetiredErrorBody, "description": "retired release (`successor` names the release replacing it)"},
}
# single answers, for a route's own `responses`
PNG: dict[str, Any] = {"content": {"image/png": {}}}
NOT_MODIFIED: dict[str, Any] = {"description": "not modified"}
