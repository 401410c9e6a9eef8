"""`python -m bench.memory`: the service's memory under bursts of the largest JSON answers.

Each burst is `concurrency` clients (256: the in-flight limit) that each send one `POST /avatars`
of the most avatars the per-request cap allows at `size` px (64 at 256 px for a plain release; an
HD release's upscaler work lowers it, to 23 for v3), answered as JSON (base64 files), all at once.
Then `--slow-readers` clients (256) ask one after another, each once the one before has the head
of its answer, and leave their answers unread for a few seconds: what a replica holds for slow
networks, or for a client out to exhaust its memory. A thread samples the server's resident set
(VmRSS) every few milliseconds; the table gives it when ready, its peak during each phase (and the
kernel's high-water mark, VmHWM), and what stays resident a few seconds after.

Each variant is a server of its own over the shipped releases: the working tree's service with its
default settings, the same with the work budget off (`AVATARS_QUEUE_WAIT_BUDGET_S=0`: what a replica
admits when the budget lets more in, as on a faster node), with `--before REV` the same two for an
older revision, and with `--env` the working tree under other environment variables, in one run.

Memory figures are not disturbed by other load on the machine; the seconds are.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from app.config import DEFAULT_WEIGHTS_DIR, Settings
from bench.http import LOOPBACK, HttpRequest, RawClient, _read_body, encode_request, parse_head
from bench.servers import PROC, REPO_ROOT, our_service
from gan.releases import read_manifest
from gan.upscaler import Upscaler

logger = logging.getLogger(__name__)

MIB = 1 << 20


@dataclass(frozen=True)
class Variant:
    """One server to measure: a label, the checkout it runs, and the AVATARS_* settings and other
    environment variables it starts with."""

    label: str
    source: Path = REPO_ROOT
    settings: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)


def largest_count(weights_dir: Path, release: str, size: int, limit: int, most: int) -> int:
    """The most avatars of `size` px one request of `release` may ask (the per-request cap), at most `most`."""
    manifest = read_manifest(weights_dir)
    entry = manifest.get(release)
    if entry is None:
        raise SystemExit(f"error: no release {release!r} in {manifest.path}")
    per_image = size * size
    if entry.upscaler is not None and size in entry.upscaler.sizes:
        upscaler = Upscaler.load(manifest.folder / entry.upscaler.file, torch.device("cpu"), torch.float32)
        per_image += upscaler.cost_pixels
    return min(most, limit // per_image)


def _kib(pid: int, key: str) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """A thread reading one process's VmRSS every `interval_s`, keeping the largest reading."""

    def __init__(self, pid: int, interval_s: float = 0.005) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, _kib(self.pid, "VmRSS"))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _burst(port: int, requests: Sequence[HttpRequest], timeout_s: float) -> tuple[Counter[str], int]:
    """Every request at once, each on its own connection; (statuses, answer bytes of the 200s)."""
    statuses: Counter[str] = Counter()
    answered = 0
    async with RawClient(port, len(requests), timeout_s) as client:

        async def one(request: HttpRequest) -> None:
            nonlocal answered
            try:
                response = await client.send(request)
            except Exception as exc:  # counted, never fatal: the memory reading is what matters
                statuses[type(exc).__name__] += 1
                return
            statuses[str(response.status)] += 1
            if response.status == 200:
                answered += len(response.body)

        await asyncio.gather(*(one(r) for r in requests))
    return statuses, answered


async def _slow_readers(port: int, requests: Sequence[HttpRequest], hold_s: float, timeout_s: float) -> Counter[str]:
    """Clients that ask and then do not read: one after another (each once the one before has its
    answer's head, so the work budget admits it), every socket with a small receive buffer, all
    answers left unread for `hold_s`, then read to the end. What a replica holds for clients on slow
    networks, or for a client that wants to exhaust its memory."""
    statuses: Counter[str] = Counter()
    waiting: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, str]]] = []
    for request in requests:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # the kernel buffers little of it
        sock.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (LOOPBACK, port)), timeout_s)
            reader, writer = await asyncio.open_connection(sock=sock)
            writer.write(encode_request(request, port))
            await writer.drain()
            status, headers = parse_head(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout_s))
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            statuses[type(exc).__name__] += 1
            sock.close()
            continue
        statuses[str(status)] += 1
        if status == 200:
            waiting.append((reader, writer, headers))
        else:
            writer.close()
    await asyncio.sleep(hold_s)

    async def finish(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str]) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(_read_body(reader, headers), timeout_s)
        writer.close()

    await asyncio.gather(*(finish(*w) for w in waiting))
    return statuses


def burst_requests(release: str, count: int, size: int, concurrency: int, first_seed: int) -> list[HttpRequest]:
    """`concurrency` POST /avatars, each of `count` seeds not asked before in this run."""
    return [
        HttpRequest(
            "POST",
            "/avatars",
            json={
                "model": release,
                "seeds": list(range(first_seed + i * count, first_seed + (i + 1) * count)),
                "size": size,
                "format": "png",
            },
            expect="application/json",
        )
        for i in range(concurrency)
    ]


def measure_variant(variant: Variant, scenarios: Sequence[tuple[str, int]], args: argparse.Namespace) -> dict[str, Any]:
    """One server: RSS when ready, then `args.bursts` bursts per scenario (release, avatars per request)."""
    rows: list[dict[str, Any]] = []
    name = "memory-" + "".join(c if c.isalnum() else "-" for c in variant.label)
    with our_service(args.weights, args.out / "logs", name, dict(variant.settings), variant.source,
                     dict(variant.env)) as server:  # fmt: skip
        pid = server.process.pid
        time.sleep(args.settle_s)
        ready_mib = _kib(pid, "VmRSS") / 1024
        logger.info("%s: ready at %.0f MiB", variant.label, ready_mib)
        seed = 0
        for release, count in scenarios:
            for number in range(1, args.bursts + 1):
                requests = burst_requests(release, count, args.size, args.concurrency, seed)
                seed += count * args.concurrency
                started = time.perf_counter()
                with RssSampler(pid) as sampler:
                    statuses, answered = asyncio.run(_burst(server.port, requests, args.timeout_s))
                seconds = time.perf_counter() - started
                time.sleep(args.settle_s)
                row = {
                    "variant": variant.label,
                    "release": release,
                    "avatars": count,
                    "burst": number,
                    "statuses": dict(sorted(statuses.items())),
                    "answer_mib": answered / MIB,
                    "seconds": seconds,
                    "peak_rss_mib": sampler.peak_kib / 1024,
                    "rss_after_mib": _kib(pid, "VmRSS") / 1024,
                }
                rows.append(row)
                logger.info("%s", row)
        if args.slow_readers:
            release, count = scenarios[-1]
            requests = burst_requests(release, count, args.size, args.slow_readers, seed)
            started = time.perf_counter()
            with RssSampler(pid) as sampler:
                statuses = asyncio.run(_slow_readers(server.port, requests, args.settle_s, args.timeout_s))
            seconds = time.perf_counter() - started
            time.sleep(args.settle_s)
            rows.append(
                {
                    "variant": variant.label,
                    "release": release,
                    "avatars": count,
                    "burst": "slow readers",
                    "statuses": dict(sorted(statuses.items())),
                    "answer_mib": 0.0,
                    "seconds": seconds,
                    "peak_rss_mib": sampler.peak_kib / 1024,
                    "rss_after_mib": _kib(pid, "VmRSS") / 1024,
                }
            )
            logger.info("%s", rows[-1])
        hwm_mib = _kib(pid, "VmHWM") / 1024
    return {"variant": variant.label, "settings": dict(variant.settings), "env": dict(variant.env),
            "ready_rss_mib": ready_mib, "hwm_mib": hwm_mib, "rows": rows}  # fmt: skip


def table(results: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| variant | release x avatars | burst | answers (200 / 503 / other) | answer MiB | s "
        "| RSS ready | peak RSS | RSS after | VmHWM |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        for row in result["rows"]:
            statuses = row["statuses"]
            other = sum(n for s, n in statuses.items() if s not in ("200", "503"))
            lines.append(
                f"| {row['variant']} | {row['release']} x {row['avatars']} | {row['burst']} "
                f"| {statuses.get('200', 0)} / {statuses.get('503', 0)} / {other} | {row['answer_mib']:.0f} "
                f"| {row['seconds']:.1f} | {result['ready_rss_mib']:.0f} | {row['peak_rss_mib']:.0f} "
                f"| {row['rss_after_mib']:.0f} | {result['hwm_mib']:.0f} |"
            )
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """The tree of `revision` in a temporary folder (`git archive`: nothing in the repository changes)."""
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        archive = subprocess.run(["git", "archive", revision], cwd=REPO_ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
        yield Path(folder)


def _pairs(values: Sequence[str]) -> dict[str, str]:
    return dict(v.split("=", 1) for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", action="append", help="releases to ask (default: v3 and v2)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=256, help="requests per burst, all at once")
    parser.add_argument("--bursts", type=int, default=2, help="bursts per release and variant")
    parser.add_argument(
        "--slow-readers", type=int, default=256, help="then this many clients that leave their answers unread (0: none)"
    )
    parser.add_argument("--before", metavar="REV", help="also measure the service of this git revision")
    parser.add_argument("--no-budget-off", action="store_true", help="skip the variants with the work budget off")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra variant of the working tree with these variables (repeatable; "
                        "comma-separated for several in one variant)")  # fmt: skip
    parser.add_argument("--settle-s", type=float, default=3.0, help="idle seconds before each RSS reading")
    parser.add_argument("--timeout-s", type=float, default=180.0)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = Settings()
    releases = args.release or ["v3", "v2"]
    scenarios = [
        (r, largest_count(args.weights, r, args.size, settings.max_request_pixels, settings.max_avatars_per_request))
        for r in releases
    ]
    logger.info("avatars per request at %d px: %s", args.size, scenarios)
    budget_off = {} if args.no_budget_off else {"AVATARS_QUEUE_WAIT_BUDGET_S": "0"}
    with contextlib.ExitStack() as stack:
        sources = [("now", REPO_ROOT)]
        if args.before:
            sources.insert(0, (f"before ({args.before})", stack.enter_context(checkout(args.before))))
        variants = []
        for label, source in sources:
            variants.append(Variant(label, source))
            if budget_off:
                variants.append(Variant(f"{label}, budget off", source, env=budget_off))
        variants += [Variant(f"now, {spec}", env=_pairs(spec.split(","))) for spec in args.env]
        results = [measure_variant(v, scenarios, args) for v in variants]
    command = shlex.join(["python", "-m", "bench.memory", *(sys.argv[1:] if argv is None else argv)])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks-memory.json").write_text(
        json.dumps(
            {
                "command": command,
                "size": args.size,
                "concurrency": args.concurrency,
                "scenarios": scenarios,
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    text = f"`{command}`\n\n" + table(results)
    (args.out / "benchmarks-memory.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
