"""Servers under test, each a subprocess on a free loopback port, always stopped on the way out.

`our_service` runs `python -m app` exactly as deployed, configured only through AVATARS_*
variables; `litserve_peer` runs `python -m bench.peer`. Each gets its own session (process group),
so stopping it also stops the worker processes LitServe forks, and nothing else. Memory and CPU
time are read from /proc over the server's whole process tree (Linux only, which is where this
benchmark runs; elsewhere they are reported as missing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.http import LOOPBACK
from gan.releases import publish

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
PROC = Path("/proc")


class ServerFailed(RuntimeError):
    """A server exited or never became ready; the message carries the end of its log."""


def free_port() -> int:
    """A port the kernel just handed out on the loopback interface (free unless raced for)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _process_tree(root: int) -> list[int]:
    """`root` and its live descendants, found through the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _status_kib(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _cpu_ticks(pid: int) -> int:
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


@dataclass
class ServerProcess:
    """A running server: where it listens and what it costs."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def rss_mib(self) -> float | None:
        """Resident memory of the whole process tree (shared pages of forked workers count once per process)."""
        if not PROC.is_dir():
            return None
        return sum(_status_kib(pid, "VmRSS") for pid in _process_tree(self.process.pid)) / 1024

    def peak_rss_mib(self) -> float | None:
        """High-water mark of resident memory (VmHWM), summed over the tree."""
        if not PROC.is_dir():
            return None
        return sum(_status_kib(pid, "VmHWM") for pid in _process_tree(self.process.pid)) / 1024

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the live process tree so far."""
        if not PROC.is_dir():
            return None
        ticks = sum(_cpu_ticks(pid) for pid in _process_tree(self.process.pid))
        return ticks / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _wait_ready(server: ServerProcess, path: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    url = f"http://{LOOPBACK}:{server.port}{path}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise ServerFailed(f"{server.name} not ready at {url} after {timeout_s:.0f} s:\n{server.log_tail()}")


def _stop(server: ServerProcess, grace_s: float = 15.0) -> None:
    """SIGTERM to the server's own process group, then SIGKILL if it has not exited in `grace_s`."""
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            logger.warning("%s ignored SIGTERM for %.0f s; killing it", server.name, grace_s)
    # forked workers may outlive their parent: the group goes in every case
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait()


@contextlib.contextmanager
def run_server(
    name: str,
    argv: list[str],
    env: Mapping[str, str],
    port: int,
    ready_path: str,
    log_dir: Path,
    timeout_s: float = 120.0,
    cwd: Path = REPO_ROOT,
) -> Iterator[ServerProcess]:
    """Start `argv` in `cwd`, wait until GET `ready_path` answers 200, yield it, and stop it however the block ends."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = ServerProcess(name, process, port, log_path)
    try:
        started = time.perf_counter()
        _wait_ready(server, ready_path, timeout_s)
        logger.info("%s ready on port %d in %.1f s (pid %d)", name, port, time.perf_counter() - started, process.pid)
        yield server
    finally:
        _stop(server)


def _base_env() -> dict[str, str]:
    """The parent's environment without AVATARS_* (a stray setting would skew what is measured)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AVATARS_")}


def release_folder(checkpoint: Path, folder: Path, names: Sequence[str]) -> Path:
    """A weights folder whose releases `names` (the first the default) are all `checkpoint`: the
    service then does the work of several releases with weights that cost exactly the same."""
    if folder.exists():
        shutil.rmtree(folder)
    for name in names:
        publish(folder, name, checkpoint, notes="benchmark copy")
    return folder


def our_service(
    weights_dir: Path,
    log_dir: Path,
    name: str = "ours",
    settings: Mapping[str, object] | None = None,
    source: Path = REPO_ROOT,
    extra_env: Mapping[str, str] | None = None,
) -> contextlib.AbstractContextManager[ServerProcess]:
    """`python -m app` over the releases in `weights_dir`, on a free loopback port, with `settings`
    as AVATARS_<NAME> variables and `extra_env` on top; `source` is the checkout whose `app` runs (an
    older revision's, to measure before and after in one run)."""
    port = free_port()
    env = _base_env() | {
        "AVATARS_WEIGHTS_DIR": str(Path(weights_dir).resolve()),
        "AVATARS_HOST": LOOPBACK,
        "AVATARS_PORT": str(port),
        "AVATARS_DEVICE": "cpu",
        "AVATARS_LOG_LEVEL": "warning",
    }
    env |= {f"AVATARS_{key.upper()}": str(value) for key, value in (settings or {}).items()}
    env |= dict(extra_env or {})
    return run_server(name, [sys.executable, "-m", "app"], env, port, "/readyz", log_dir, cwd=Path(source))


def litserve_peer(
    weights: Path,
    log_dir: Path,
    *,
    max_batch_size: int,
    batch_timeout_s: float,
    threads: int,
    png_level: int,
    fast_queue: bool = False,
    name: str = "litserve",
) -> contextlib.AbstractContextManager[ServerProcess]:
    """`python -m bench.peer`: the same generator behind LitServe's dynamic batching."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "bench.peer",
        "--weights",
        str(Path(weights).resolve()),
        "--port",
        str(port),
        "--max-batch-size",
        str(max_batch_size),
        "--batch-timeout",
        str(batch_timeout_s),
        "--threads",
        str(threads),
        "--png-level",
        str(png_level),
        *(["--fast-queue"] if fast_queue else []),
    ]
    return run_server(name, argv, _base_env(), port, "/health", log_dir)
