"""The benchmark plan: ceilings, tuning, scenarios, batching off, the LitServe peer, memory, overload.

Everything is measured in one run on one machine, in this order, one server at a time so that no
two servers ever share the CPU:

1. ceilings without HTTP (`bench.ceilings`);
2. tuning: each candidate setting of our service and of the peer, the same grid shape for both
   (batch wait x torch threads), one seed at each of `tune_concurrencies`; the candidate with the
   best mean throughput relative to the best at each concurrency is kept (so neither the
   latency-bound concurrency 1 nor the throughput-bound 32 alone decides);
3. our service at its best setting: a soak of `soak_requests` one-seed requests (RSS before,
   midway and after), one seed at each concurrency, 16 seeds, a 25-avatar grid, an interpolation;
4. the same service with `max_batch_size=1` (batching off), then as two worker processes, one seed
   at each concurrency;
5. the peer at its best setting, one seed at each concurrency;
6. overload: open-loop arrivals at `overload_factor` times our measured capacity against our
   service with a `overload_queue`-image queue, with its in-flight limit and without it;
7. releases: one seed per request at `releases_concurrency` against one release, then half and
   half against two releases (same weights, so only the per-release lanes differ), and a flood of
   one release while a single client asks the other (does the flood starve it?);
8. formats: `GET /models/{release}/avatars/{seed}.{ext}` in every served format (and lossy WebP) at
   64 and 256 px, avatars/s at `formats_concurrency` and the mean bytes of an answer;
9. HD, for each of `upscalers` (`bench.hd`): the upscaler alone, then one-seed avatars at 64-512 px
   beside Lanczos on one server, and an HD flood of one release while another is asked at 64 px.

`run_benchmark` returns one JSON-ready dict; `bench.report` turns it into tables and a plot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import importlib.metadata
import logging
import os
import platform
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import torch

from app.config import Settings
from app.formats import BY_EXTENSION
from bench.ceilings import measure_ceilings
from bench.hd import HdConfig, hd_stage
from bench.hd import quick as hd_quick
from bench.http import LOOPBACK, Engine, HttpRequest, loopback_client
from bench.load import Scenario, Summary, closed_loop, open_loop
from bench.servers import ServerProcess, litserve_peer, our_service, release_folder

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_PNG_LEVEL: int = Settings.model_fields["png_compress_level"].default
# enough that the client never queues requests itself when the server is slow to answer
OPEN_LOOP_CONNECTIONS = 4096
REFERENCE_SEED = 123_456_789
ONE_SEED = "one seed"
SIXTEEN_SEEDS = "16 seeds"
GRID = "grid n=25"
INTERPOLATION = "interpolation steps=8"


@dataclass(frozen=True)
class PeerSetting:
    """One candidate configuration of the LitServe peer."""

    max_batch_size: int
    batch_timeout_s: float
    threads: int = 0  # torch intra-op threads of the inference worker (0: torch's default)
    fast_queue: bool = False  # ZeroMQ instead of multiprocessing queues between LitServe's processes


@dataclass(frozen=True)
class BenchConfig:
    """Every knob of a run; `python -m bench` fills it from its flags and writes it next to the results."""

    weights: Path
    seconds: float = 5.0  # measured time per scenario (after its warm-up)
    warmup_s: float = 1.0  # discarded load before each scenario
    max_requests: int = 50_000  # cap per scenario, whichever of the two comes first
    concurrencies: tuple[int, ...] = (1, 8, 32, 128)
    multi_concurrency: int = 8  # concurrency of the 16-seed, grid and interpolation scenarios
    soak_requests: int = 10_000  # one-seed requests between the two RSS readings
    soak_concurrency: int = 32
    soak_max_s: float = 300.0  # time bound of each half of the soak, should the server be slow
    # candidate settings of our service (AVATARS_* names; the first is what ships) and of the peer:
    # the same two questions for both, whether to wait for a batch to fill and how many torch threads
    ours_grid: tuple[dict[str, Any], ...] = (
        {"max_batch_size": 64, "max_wait_ms": 4.0},
        {"max_batch_size": 64, "max_wait_ms": 0.0},
        {"max_batch_size": 64, "max_wait_ms": 4.0, "torch_threads": 1},
        {"max_batch_size": 64, "max_wait_ms": 0.0, "torch_threads": 1},
    )
    peer_grid: tuple[PeerSetting, ...] = (
        PeerSetting(64, 0.004),
        PeerSetting(64, 0.0),
        PeerSetting(64, 0.004, threads=1),
        PeerSetting(64, 0.0, threads=1),
    )
    tune_concurrencies: tuple[int, ...] = (1, 32)
    tune_seconds: float = 3.0
    png_level: int = DEFAULT_PNG_LEVEL  # zlib level of every server and of the pipeline ceiling
    ceiling_batch_sizes: tuple[int, ...] = (1, 8, 16, 32, 64, 128)
    ceiling_threads: tuple[int, ...] = field(default_factory=lambda: tuple(sorted({1, os.cpu_count() or 1})))
    ceiling_seconds: float = 1.0
    overload_factor: float = 2.0
    overload_seconds: float = 6.0
    overload_queue: int = 256  # the least the service accepts with its default max_grid (256)
    releases_concurrency: int = 32  # one-release against two-release throughput
    flood_concurrency: int = 128  # clients flooding release A while one client asks release B
    memory_releases: int = 5  # releases of a server started only to read what each one costs in RSS
    formats_concurrency: int = 32
    format_sizes: tuple[int, ...] = (64, 256)
    bytes_samples: int = 50  # answers whose sizes are averaged per format and size
    peer: bool = True
    upscalers: tuple[tuple[str, Path], ...] = ()  # (label, file) of each upscaler the HD stage measures
    client: Engine = "raw"  # the load generator's HTTP client (see bench.http)
    log_dir: Path = Path("runs/bench/logs")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["weights"] = str(self.weights)
        data["log_dir"] = str(self.log_dir)
        data["upscalers"] = [[label, str(file)] for label, file in self.upscalers]
        return data


def quick(config: BenchConfig) -> BenchConfig:
    """A smoke-sized plan: every stage runs for a fraction of a second; one candidate a side, so
    tuning has nothing to choose and is skipped."""
    return replace(
        config,
        seconds=0.5,
        warmup_s=0.2,
        max_requests=200,
        concurrencies=(1, 8),
        multi_concurrency=2,
        soak_requests=100,
        soak_concurrency=8,
        ours_grid=config.ours_grid[-1:],
        peer_grid=config.peer_grid[-1:],
        ceiling_batch_sizes=(1, 8),
        ceiling_threads=(1,),
        ceiling_seconds=0.1,
        overload_seconds=1.0,
        releases_concurrency=8,
        memory_releases=3,
        formats_concurrency=4,
        bytes_samples=3,
        flood_concurrency=16,
    )


# ------------------------------------------------------------------------------------ scenarios
def one_seed(i: int) -> HttpRequest:
    return HttpRequest("POST", "/avatars", json={"seeds": [i]})


def sixteen_seeds(i: int) -> HttpRequest:
    return HttpRequest("POST", "/avatars", json={"seeds": list(range(16 * i, 16 * i + 16))}, expect="application/json")


def grid(i: int) -> HttpRequest:
    return HttpRequest("GET", "/grid", params={"n": 25, "seed": 25 * i})


def interpolation(i: int) -> HttpRequest:
    return HttpRequest("GET", "/interpolate", params={"start": 2 * i, "end": 2 * i + 1, "steps": 8})


def _run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """A fresh event loop per measurement (uvloop when installed: less client CPU per request)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(factory())
    return uvloop.run(factory())


def measure(server: ServerProcess, scenario: Scenario, config: BenchConfig, seconds: float | None = None) -> Summary:
    """One closed-loop scenario against `server`, with the server's CPU time over the same interval."""

    async def go() -> Summary:
        async with loopback_client(server.port, scenario.concurrency, config.client) as client:
            before = server.cpu_seconds()
            summary = await closed_loop(
                client,
                scenario,
                seconds=config.seconds if seconds is None else seconds,
                max_requests=config.max_requests,
                warmup_s=config.warmup_s,
            )
            after = server.cpu_seconds()
        if before is not None and after is not None:
            summary.extra["server_cpu_s"] = round(after - before, 3)
        return summary

    summary = _run(go)
    logger.info(
        "%s %s c=%d: %.0f avatars/s, p99 %.0f ms, %d errors",
        server.name,
        scenario.name,
        scenario.concurrency,
        summary.avatars_per_s,
        summary.p99_ms,
        summary.errors,
    )
    return summary


def _row(server: str, scenario: Scenario, summary: Summary, **extra: Any) -> dict[str, Any]:
    return {
        "server": server,
        "scenario": scenario.name,
        "concurrency": scenario.concurrency,
        "images_per_request": scenario.images,
        **summary.as_dict(),
        **extra,
    }


def concurrency_sweep(server: ServerProcess, label: str, config: BenchConfig) -> list[dict[str, Any]]:
    return [
        _row(label, scenario, measure(server, scenario, config))
        for scenario in (Scenario(ONE_SEED, one_seed, 1, c) for c in config.concurrencies)
    ]


# ------------------------------------------------------------------------------------------ stages
def _score(candidates: list[dict[str, Any]]) -> None:
    """Each candidate's throughput relative to the best at each concurrency, averaged, as "score"."""
    for c in candidates[0]["results"] if candidates else ():
        best = max(r["results"][c]["avatars_per_s"] for r in candidates) or 1.0
        for r in candidates:
            r.setdefault("relative", {})[c] = r["results"][c]["avatars_per_s"] / best
    for r in candidates:
        r["score"] = sum(r["relative"].values()) / max(len(r["relative"]), 1)


def _tune_one(server: ServerProcess, config: BenchConfig) -> dict[str, dict[str, Any]]:
    scenarios = (Scenario(ONE_SEED, one_seed, 1, c) for c in config.tune_concurrencies)
    # string keys, as JSON will have them: the report renders the same from memory and from the file
    return {str(s.concurrency): measure(server, s, config, config.tune_seconds).as_dict() for s in scenarios}


def tune(config: BenchConfig) -> dict[str, Any]:
    """Every candidate of both grids on the same scenarios; the best score of each side wins.

    A grid of one candidate (the quick run's) is not measured: there is nothing to choose.
    """
    ours: list[dict[str, Any]] = []
    if len(config.ours_grid) > 1:
        for i, settings in enumerate(config.ours_grid):
            with _ours(config, f"tune-ours-{i}", settings) as server:
                ours.append({"settings": settings, "results": _tune_one(server, config)})
    peers: list[dict[str, Any]] = []
    if config.peer and len(config.peer_grid) > 1:
        for i, setting in enumerate(config.peer_grid):
            with _peer(config, setting, f"tune-litserve-{i}") as server:
                peers.append({"settings": asdict(setting), "results": _tune_one(server, config)})
    _score(ours)
    _score(peers)
    return {
        "concurrencies": list(config.tune_concurrencies),
        "ours": ours,
        "peer": peers,
        "best_ours": max(ours, key=lambda r: r["score"])["settings"] if ours else config.ours_grid[0],
        "best_peer": (max(peers, key=lambda r: r["score"])["settings"] if peers else asdict(config.peer_grid[0]))
        if config.peer
        else None,
    }


BENCH_RELEASES = ("a", "b")


def _ours(
    config: BenchConfig, name: str, settings: dict[str, Any], releases: tuple[str, ...] = BENCH_RELEASES[:1]
) -> AbstractContextManager[ServerProcess]:
    folder = release_folder(config.weights, config.log_dir / f"{name}-weights", releases)
    return our_service(folder, config.log_dir, name, {"png_compress_level": config.png_level, **settings})


def _peer(config: BenchConfig, setting: PeerSetting, name: str = "litserve") -> AbstractContextManager[ServerProcess]:
    return litserve_peer(
        config.weights,
        config.log_dir,
        max_batch_size=setting.max_batch_size,
        batch_timeout_s=setting.batch_timeout_s,
        threads=setting.threads,
        fast_queue=setting.fast_queue,
        png_level=config.png_level,
        name=name,
    )


def reference_png(server: ServerProcess) -> str | None:
    """Digest of the one-seed PNG of `REFERENCE_SEED`: equal digests mean both servers did the same work."""
    response = httpx.post(f"http://{LOOPBACK}:{server.port}/avatars", json={"seeds": [REFERENCE_SEED]}, timeout=60)
    return hashlib.sha256(response.content).hexdigest()[:16] if response.status_code == 200 else None


def our_scenarios(config: BenchConfig, settings: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The soak with its memory readings, then every scenario, on one instance of our service."""
    rows = []
    with _ours(config, "ours", settings) as server:
        memory: dict[str, Any] = {"rss_ready_mib": server.rss_mib(), "reference_png": reference_png(server)}
        half = max(1, config.soak_requests // 2)
        soak = Scenario(f"soak {config.soak_requests} requests", one_seed, 1, config.soak_concurrency)
        soak_config = replace(config, max_requests=half, seconds=config.soak_max_s, warmup_s=0.0)
        started = time.perf_counter()
        first = measure(server, soak, soak_config)
        memory["rss_midway_mib"] = server.rss_mib()
        second = measure(server, soak, soak_config)
        memory.update(
            rss_after_mib=server.rss_mib(),
            peak_rss_mib=server.peak_rss_mib(),
            requests=first.requests + second.requests,
            errors=first.errors + second.errors,
            seconds=round(time.perf_counter() - started, 1),
        )
        rows += concurrency_sweep(server, "ours", config)
        c = config.multi_concurrency
        for scenario in (
            Scenario(SIXTEEN_SEEDS, sixteen_seeds, 16, c),
            Scenario(GRID, grid, 25, c),
            Scenario(INTERPOLATION, interpolation, 8, c),
        ):
            rows.append(_row("ours", scenario, measure(server, scenario, config)))
        memory["rss_end_mib"] = server.rss_mib()
    return rows, memory


def two_workers(config: BenchConfig, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The same service as two processes (AVATARS_WORKERS=2), each with half the CPUs' threads."""
    with _ours(config, "ours-two-workers", {**settings, "workers": 2}) as server:
        return concurrency_sweep(server, "ours, workers=2", config)


def batching_off(config: BenchConfig, settings: dict[str, Any]) -> list[dict[str, Any]]:
    with _ours(config, "ours-unbatched", {**settings, "max_batch_size": 1}) as server:
        return concurrency_sweep(server, "ours, max_batch_size=1", config)


def peer_scenarios(config: BenchConfig, setting: PeerSetting) -> tuple[list[dict[str, Any]], str | None]:
    with _peer(config, setting) as server:
        return concurrency_sweep(server, "litserve", config), reference_png(server)


def overload(
    config: BenchConfig, settings: dict[str, Any], capacity_per_s: float, name: str = "ours-overload"
) -> dict[str, Any]:
    """Open-loop one-seed arrivals past capacity: how many are refused, how long the accepted wait."""
    rate = max(1.0, config.overload_factor * capacity_per_s)
    queued = {**settings, "queue_max_images": config.overload_queue}

    with _ours(config, name, queued) as server:

        async def go() -> Summary:
            async with loopback_client(server.port, OPEN_LOOP_CONNECTIONS, config.client) as client:
                return await open_loop(client, one_seed, rate_per_s=rate, seconds=config.overload_seconds)

        summary = _run(go)
    offered = summary.extra["offered"]
    refused = summary.statuses.get("503", 0)
    return {
        "settings": queued,
        "capacity_per_s": capacity_per_s,
        "factor": config.overload_factor,
        **summary.as_dict(),
        "share_503": refused / offered if offered else 0.0,
        # an accepted request waits behind at most the whole queue, drained at the measured capacity
        "expected_wait_bound_ms": 1000 * config.overload_queue / capacity_per_s if capacity_per_s else None,
    }


def one_seed_get(i: int) -> HttpRequest:
    return HttpRequest("GET", f"/models/a/avatars/{i}.png", expect="image/png")


def bulk_256(i: int) -> HttpRequest:
    """The expensive neighbour: 64 avatars at 256 px in one JSON answer."""
    seeds = list(range(64 * i, 64 * i + 64))
    return HttpRequest("POST", "/avatars", json={"seeds": seeds, "size": 256}, expect="application/json")


def mixed_overload(config: BenchConfig, settings: dict[str, Any]) -> dict[str, Any]:
    """One-seed GETs and 64-avatar 256 px POSTs together, each offered at its own capacity (measured
    once, closed loop, with the work budget off), so twice the replica's capacity in all: the one-seed
    requests' p99 and the share shed, with the budget off (what came before) and at its default, the
    same offered load on one server each."""
    with _ours(config, "ours-mixed-capacity", {**settings, "queue_wait_budget_s": 0.0}) as server:
        one = measure(server, Scenario("one seed GET", one_seed_get, 1, 32), config)
        bulk = measure(server, Scenario("64 at 256 px", bulk_256, 64, 4), config)
    rates = (max(1.0, one.requests_per_s), max(0.5, bulk.requests_per_s))
    return {
        label: _mixed_run(config, f"ours-mixed-budget-{budget:g}s", {**settings, "queue_wait_budget_s": budget}, rates)
        for label, budget in (("budget off", 0.0), ("budget 1 s", 1.0))
    }


def _mixed_run(config: BenchConfig, name: str, settings: dict[str, Any], rates: tuple[float, float]) -> dict[str, Any]:
    one_rate, bulk_rate = rates
    with _ours(config, name, settings) as server:

        async def go() -> tuple[Summary, Summary]:
            async with (
                loopback_client(server.port, OPEN_LOOP_CONNECTIONS, config.client) as a,
                loopback_client(server.port, OPEN_LOOP_CONNECTIONS, config.client) as b,
            ):
                return await asyncio.gather(
                    open_loop(a, one_seed_get, rate_per_s=one_rate, seconds=config.overload_seconds),
                    open_loop(b, bulk_256, rate_per_s=bulk_rate, seconds=config.overload_seconds, images=64),
                )

        ones, bulks = _run(go)
    return {
        "capacity_one_seed_per_s": one_rate,
        "capacity_bulk_per_s": bulk_rate,
        "one_seed": ones.as_dict(),
        "bulk": bulks.as_dict(),
        "one_seed_share_503": ones.statuses.get("503", 0) / max(1, ones.extra["offered"]),
        "bulk_share_503": bulks.statuses.get("503", 0) / max(1, bulks.extra["offered"]),
    }


def one_seed_of(release: str) -> Callable[[int], HttpRequest]:
    def factory(i: int) -> HttpRequest:
        return HttpRequest("POST", "/avatars", json={"seeds": [i], "model": release})

    return factory


def half_and_half(i: int) -> HttpRequest:
    return one_seed_of(BENCH_RELEASES[i % 2])(i)


def releases_stage(config: BenchConfig, settings: dict[str, Any]) -> dict[str, Any]:
    """Two releases against one on the same load, and one release flooded while the other is asked."""
    c = config.releases_concurrency
    rss: dict[str, float | None] = {}
    with _ours(config, "ours-one-release", settings) as server:
        rss["1"] = server.rss_mib()
        one = measure(server, Scenario("one release", one_seed_of("a"), 1, c), config)
    many = tuple(f"r{i}" for i in range(config.memory_releases))
    with _ours(config, "ours-many-releases", settings, many) as server:
        rss[str(len(many))] = server.rss_mib()  # loaded and warmed, nothing served yet
    with _ours(config, "ours-two-releases", settings, BENCH_RELEASES) as server:
        rss["2"] = server.rss_mib()
        mixed = measure(server, Scenario("two releases, half each", half_and_half, 1, c), config)
        alone = measure(server, Scenario("release b alone", one_seed_of("b"), 1, 1), config)

        async def go() -> tuple[Summary, Summary]:
            flood = Scenario("release a flooded", one_seed_of("a"), 1, config.flood_concurrency)
            probe = Scenario("release b during the flood", one_seed_of("b"), 1, 1)
            async with (
                loopback_client(server.port, flood.concurrency, config.client) as flood_client,
                loopback_client(server.port, 1, config.client) as probe_client,
            ):
                kwargs = {"seconds": config.seconds, "max_requests": config.max_requests, "warmup_s": config.warmup_s}
                flooded, probed = await asyncio.gather(
                    closed_loop(flood_client, flood, **kwargs), closed_loop(probe_client, probe, **kwargs)
                )
            return flooded, probed

        flooded, probed = _run(go)
    known = {int(k): v for k, v in rss.items() if v is not None}
    per_release = (known[len(many)] - known[1]) / (len(many) - 1) if len(known) == 3 and len(many) > 1 else None
    return {
        "concurrency": c,
        "rss_ready_mib": rss,
        "rss_per_extra_release_mib": per_release,
        "one_release": one.as_dict(),
        "two_releases": mixed.as_dict(),
        "mixed_over_one": _ratio(mixed.avatars_per_s, one.avatars_per_s),
        "flood_concurrency": config.flood_concurrency,
        "b_alone": alone.as_dict(),
        "a_flooded": flooded.as_dict(),
        "b_during_flood": probed.as_dict(),
    }


# (URL extension, query) per variant: every served format, and WebP both lossless and lossy
def _label(ext: str) -> str:
    fmt = BY_EXTENSION[ext]
    if fmt.lossy:
        return f"{ext} quality {fmt.default_quality}"
    return f"{ext} lossless" if fmt.takes_quality else ext


FORMAT_VARIANTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    *((_label(ext), ext, {}) for ext in BY_EXTENSION),
    ("webp quality 90", "webp", {"quality": 90}),
)


def format_request(ext: str, size: int, extra: dict[str, Any]) -> Callable[[int], HttpRequest]:
    media = BY_EXTENSION[ext].media_type

    def factory(i: int) -> HttpRequest:
        return HttpRequest("GET", f"/models/a/avatars/{i}.{ext}", params={"size": size, **extra}, expect=media)

    return factory


def formats_stage(config: BenchConfig, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Throughput and answer size of every format at each size, on one server."""
    rows = []
    with _ours(config, "ours-formats", settings) as server:
        for size in config.format_sizes:
            for label, ext, extra in FORMAT_VARIANTS:
                factory = format_request(ext, size, extra)
                summary = measure(server, Scenario(f"{label} {size}px", factory, 1, config.formats_concurrency), config)
                sizes = []
                for i in range(config.bytes_samples):
                    request = factory(900_000 + i)
                    answer = httpx.get(f"http://{LOOPBACK}:{server.port}{request.path}", params=request.params)
                    sizes.append(len(answer.content))
                rows.append({"format": label, "size": size, "mean_bytes": sum(sizes) / len(sizes), **summary.as_dict()})
    return rows


# ------------------------------------------------------------------------------------------ ratios
def _by_concurrency(rows: list[dict[str, Any]], server: str) -> dict[int, dict[str, Any]]:
    return {r["concurrency"]: r for r in rows if r["server"] == server and r["scenario"] == ONE_SEED}


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


# scenarios whose answer is one PNG per avatar, the work the generator + PNG ceiling does
PER_AVATAR_PNG = (ONE_SEED, SIXTEEN_SEEDS)


def ratios(rows: list[dict[str, Any]], ceilings: dict[str, Any]) -> dict[str, Any]:
    """Our throughput against the ceilings, batching off and the peer (one seed, per concurrency).

    Grid and interpolation answers are one PNG for many avatars (cheaper to encode than one PNG
    each), so they are held against the generator ceiling only.
    """
    ours = _by_concurrency(rows, "ours")
    off = _by_concurrency(rows, "ours, max_batch_size=1")
    peer = _by_concurrency(rows, "litserve")
    generator = ceilings["generator_best"]["images_per_s"]
    pipeline = ceilings["pipeline_best"]["images_per_s"]
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["server"] == "ours" and r["avatars_per_s"] > best.get(r["scenario"], {}).get("avatars_per_s", -1.0):
            best[r["scenario"]] = r
    shares = [
        {
            "scenario": name,
            "concurrency": r["concurrency"],
            "avatars_per_s": r["avatars_per_s"],
            "of_generator": _ratio(r["avatars_per_s"], generator),
            "of_generator_png": _ratio(r["avatars_per_s"], pipeline) if name in PER_AVATAR_PNG else None,
        }
        for name, r in best.items()
    ]
    one = best[ONE_SEED]
    result: dict[str, Any] = {"shares_of_ceilings": shares, "per_concurrency": {}}
    result["best_one_seed"] = {"concurrency": one["concurrency"], "avatars_per_s": one["avatars_per_s"]}
    if off:
        best_off = max(off.values(), key=lambda r: r["avatars_per_s"])
        result["batching_best_vs_best"] = _ratio(one["avatars_per_s"], best_off["avatars_per_s"])
    if peer:
        best_peer = max(peer.values(), key=lambda r: r["avatars_per_s"])
        result["litserve_best_one_seed"] = {
            "concurrency": best_peer["concurrency"],
            "avatars_per_s": best_peer["avatars_per_s"],
        }
        result["ours_vs_litserve_best_vs_best"] = _ratio(one["avatars_per_s"], best_peer["avatars_per_s"])
    for c, row in ours.items():
        entry: dict[str, Any] = {}
        if c in off:
            entry["batching_on_vs_off_throughput"] = _ratio(row["avatars_per_s"], off[c]["avatars_per_s"])
            entry["batching_on_vs_off_p99"] = _ratio(row["p99_ms"], off[c]["p99_ms"])
        if c in peer:
            entry["ours_vs_litserve_throughput"] = _ratio(row["avatars_per_s"], peer[c]["avatars_per_s"])
            entry["ours_vs_litserve_p99"] = _ratio(row["p99_ms"], peer[c]["p99_ms"])
        result["per_concurrency"][c] = entry
    return result


# ------------------------------------------------------------------------------------------ the run
def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        cpu = names[0] if names else cpu
    versions = {}
    for package in ("torch", "fastapi", "uvicorn", "litserve", "httpx", "pillow"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads_default": torch.get_num_threads(),
        "python": platform.python_version(),
        "os": platform.platform(),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "packages": versions,
    }


@contextmanager
def _stage(results: dict[str, Any], name: str) -> Iterator[None]:
    """Log a stage and record its wall time under results["stage_seconds"]."""
    logger.info("stage: %s", name)
    started = time.perf_counter()
    yield
    results.setdefault("stage_seconds", {})[name] = round(time.perf_counter() - started, 1)


def run_benchmark(config: BenchConfig, command: str = "python -m bench") -> dict[str, Any]:
    """The whole plan (see the module docstring); every server is stopped before this returns."""
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine(),
        "config": config.as_dict(),
    }
    with _stage(results, "ceilings"):
        results["ceilings"] = measure_ceilings(
            config.weights,
            batch_sizes=list(config.ceiling_batch_sizes),
            threads=list(config.ceiling_threads),
            encode_threads=os.cpu_count() or 1,
            png_level=config.png_level,
            seconds=config.ceiling_seconds,
        )
    with _stage(results, "tuning"):
        tuning = results["tuning"] = tune(config)
    settings = tuning["best_ours"]
    with _stage(results, "ours"):
        rows, memory = our_scenarios(config, settings)
    ours_png = memory.pop("reference_png")
    results["memory"] = memory
    with _stage(results, "batching off"):
        rows += batching_off(config, settings)
    with _stage(results, "two workers"):
        rows += two_workers(config, settings)
    if config.peer and tuning["best_peer"] is not None:
        with _stage(results, "litserve"):
            peer_rows, peer_png = peer_scenarios(config, PeerSetting(**tuning["best_peer"]))
        rows += peer_rows
        results["same_png"] = {"ours": ours_png, "litserve": peer_png, "identical": ours_png == peer_png}
    results["scenarios"] = rows
    capacity = max(r["avatars_per_s"] for r in rows if r["server"] == "ours" and r["scenario"] == ONE_SEED)
    with _stage(results, "overload"):
        results["overload"] = overload(config, settings, capacity)
        # the same without the in-flight limit: what accepted requests waited before it existed
        unlimited = {**settings, "max_inflight_requests": 0}
        results["overload_unlimited"] = overload(config, unlimited, capacity, "ours-overload-unlimited")
    with _stage(results, "mixed overload"):
        results["mixed_overload"] = mixed_overload(config, settings)
    with _stage(results, "releases"):
        results["releases"] = releases_stage(config, settings)
    with _stage(results, "formats"):
        results["formats"] = formats_stage(config, settings)
    if config.upscalers:
        with _stage(results, "hd"):
            hd = HdConfig(config.weights, config.upscalers, seconds=config.seconds, warmup_s=config.warmup_s,
                          max_requests=config.max_requests, log_dir=config.log_dir)  # fmt: skip
            results["hd"] = hd_stage(hd_quick(hd) if config.seconds < 1 else hd, settings)
    results["ratios"] = ratios(rows, results["ceilings"])
    results["wall_s"] = round(time.perf_counter() - started, 1)
    return results
