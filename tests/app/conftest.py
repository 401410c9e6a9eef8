from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

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


def metric(client: TestClient, name: str) -> float:
    """The value of an unlabelled sample in /metrics."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")
