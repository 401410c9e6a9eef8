"""`python -m app` as deployed, on a free loopback port, for tests that drive it over real HTTP."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_service(weights_dir: Path, **settings: str) -> Iterator[str]:
    """The service over `weights_dir` with AVATARS_<NAME> `settings`; yields its URL once /readyz answers."""
    port = free_port()
    env = {
        **os.environ, "AVATARS_WEIGHTS_DIR": str(weights_dir), "AVATARS_PORT": str(port),
        "AVATARS_DEVICE": "cpu", "AVATARS_WARMUP": "false",
        **{f"AVATARS_{name.upper()}": value for name, value in settings.items()},
    }  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2):
                    break
            except OSError:
                assert process.poll() is None, "the service exited during start-up"
                assert time.monotonic() < deadline, "the service did not become ready"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
