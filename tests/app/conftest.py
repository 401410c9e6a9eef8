from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.main import create_app


@pytest.fixture
def client(settings_for: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for())) as test_client:
        yield test_client


def decode(content: bytes, fmt: str = "PNG") -> np.ndarray:
    image = Image.open(io.BytesIO(content))
    assert image.format == fmt
    return np.asarray(image.convert("RGB"))


def sample_value(text: str, name: str, **labels: str) -> float:
    """The value of the sample `name` whose labels include `labels`, parsed from Prometheus text
    (not matched as exposition text, which may reorder labels or format numbers differently)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return sample.value
    raise AssertionError(f"{name}{labels or ''} not in /metrics")


def sample_total(text: str, name: str) -> float:
    """The sum of every sample named `name` (all releases, all label values), parsed from Prometheus text;
    a name with no sample fails rather than summing to 0."""
    values = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]
    if not values:
        raise AssertionError(f"{name} not in /metrics")
    return sum(values)


def metric(client: TestClient, name: str, **labels: str) -> float:
    """A sample's value from the app's /metrics."""
    return sample_value(client.get("/metrics").text, name, **labels)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition") -> None:
    """Wait for `condition` instead of sleeping a guessed time: exact on a quiet machine, and still
    right (only slower) on a busy one."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)
