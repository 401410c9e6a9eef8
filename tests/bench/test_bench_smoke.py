"""The benchmark's pure pieces (percentiles, summaries, HTTP framing, tuning scores, the report) and
one smoke-sized end-to-end run of `python -m bench --quick`. Nothing here asserts a speed."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.http import HttpRequest, ProtocolError, RawClient, encode_request, parse_head
from bench.load import Sample, per_second, percentile, summarize
from bench.report import markdown, plot, tuning_table
from bench.runner import _score
from bench.servers import REPO_ROOT


# ------------------------------------------------------------------------------------------ percentiles
@pytest.mark.parametrize("q", [0, 1, 25, 50, 95, 99, 99.9, 100])
def test_percentile_matches_numpy_linear(q: float) -> None:
    values = list(np.random.default_rng(0).lognormal(3, 1, 1001))
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_edge_cases() -> None:
    assert math.isnan(percentile([], 50))
    assert percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order of the input does not matter
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarize_counts_only_correct_answers_in_rates_and_latencies() -> None:
    samples = [Sample(0.0, 0.010, "200", True), Sample(0.5, 0.530, "200", True), Sample(1.0, 2.0, "503", False)]
    summary = summarize(samples, images_per_request=16)
    assert summary.requests == 2 and summary.errors == 1
    assert summary.statuses == {"200": 2, "503": 1}
    assert summary.duration_s == pytest.approx(2.0)
    assert summary.requests_per_s == pytest.approx(1.0) and summary.avatars_per_s == pytest.approx(16.0)
    assert summary.p50_ms == pytest.approx(20.0) and summary.max_ms == pytest.approx(30.0)


def test_per_second_bins_by_send_time() -> None:
    samples = [
        Sample(0.1, 0.2, "200", True),
        Sample(0.9, 1.9, "503", False),
        Sample(1.5, 3.5, "200", True),
    ]
    bins = per_second(samples)
    assert [b["second"] for b in bins] == [0, 1]
    assert bins[0]["accepted"] == 1 and bins[0]["refused_503"] == 1 and bins[0]["refused_p50_ms"] == 1000.0
    assert bins[1]["accepted_max_ms"] == 2000.0


# ------------------------------------------------------------------------------------------ HTTP framing
def test_encode_request_carries_a_json_body_with_its_length() -> None:
    raw = encode_request(HttpRequest("POST", "/avatars", json={"seeds": [1]}), 8000)
    head, body = raw.split(b"\r\n\r\n")
    assert head.startswith(b"POST /avatars HTTP/1.1\r\nHost: 127.0.0.1:8000")
    assert b"Content-Length: %d" % len(body) in head and json.loads(body) == {"seeds": [1]}
    get = encode_request(HttpRequest("GET", "/grid", params={"n": 25, "seed": 50}), 1)
    assert get.startswith(b"GET /grid?n=25&seed=50 HTTP/1.1\r\n") and get.endswith(b"\r\n\r\n")


def test_parse_head() -> None:
    status, headers = parse_head(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 5\r\n\r\n")
    assert status == 503 and headers == {"retry-after": "2", "content-length": "5"}
    with pytest.raises(ProtocolError):
        parse_head(b"SSH-2.0-OpenSSH\r\n\r\n")


def test_raw_client_reads_sized_and_chunked_bodies_and_reconnects_after_close() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n",
        b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ]
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while answers:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            answer = answers.pop(0)
            writer.write(answer)
            await writer.drain()
            if b"Connection: close" in answer:
                break
        writer.close()

    async def run() -> list[Any]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, RawClient(port, connections=1) as client:
            return [await client.send(HttpRequest("GET", "/")) for _ in range(4)]

    first, chunked, closed, again = asyncio.run(run())
    assert (first.status, first.content_type, first.body) == (200, "image/png", b"abc")
    assert chunked.body == b"hello"
    assert closed.status == 503 and again.body == b"ok"
    assert connections == 2  # the server's Connection: close was honoured


# ------------------------------------------------------------------------------------------ tuning
def test_score_averages_throughput_relative_to_the_best_at_each_concurrency() -> None:
    candidates: list[dict[str, Any]] = [
        {"settings": "a", "results": {1: {"avatars_per_s": 100.0}, 32: {"avatars_per_s": 200.0}}},
        {"settings": "b", "results": {1: {"avatars_per_s": 50.0}, 32: {"avatars_per_s": 210.0}}},
    ]
    _score(candidates)
    assert candidates[0]["score"] == pytest.approx((1.0 + 200 / 210) / 2)
    assert candidates[1]["score"] == pytest.approx((0.5 + 1.0) / 2)


def test_tuning_table_renders_from_json() -> None:
    result = {"avatars_per_s": 100.0, "p99_ms": 12.5}
    tuning = {
        "concurrencies": [1, 32],
        "ours": [{"settings": {"max_wait_ms": 0}, "results": {"1": result, "32": result}, "score": 1.0}],
        "peer": [{"settings": {"threads": 1}, "results": {"1": result, "32": result}, "score": 1.0}],
        "best_ours": {"max_wait_ms": 0},
        "best_peer": {"threads": 1},
    }
    text = tuning_table(json.loads(json.dumps(tuning)))
    assert text.count("1.00 (best)") == 2 and "100 / 12" in text


# ------------------------------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_quick_run_end_to_end(tiny_weights: Path, tiny_upscaler: Path, tmp_path: Path) -> None:
    """`python -m bench --quick` starts every server, measures every stage, stops them, and writes
    JSON, markdown and a plot that render again from the JSON alone."""
    out = tmp_path / "bench"
    args = ["--quick", "-q", "--weights", str(tiny_weights), "--out", str(out), "--log-dir", str(tmp_path / "logs"),
            "--upscaler", f"tiny={tiny_upscaler}"]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "### Headline" in result.stdout and "litserve" in result.stdout
    results = json.loads((out / "benchmarks-results.json").read_text())
    servers = {row["server"] for row in results["scenarios"]}
    assert servers == {"ours", "ours, max_batch_size=1", "ours, workers=2", "litserve"}
    assert {row["scenario"] for row in results["scenarios"]} >= {"one seed", "16 seeds", "grid n=25"}
    assert all(row["requests"] > 0 for row in results["scenarios"])
    assert results["memory"]["requests"] >= results["config"]["soak_requests"]
    assert results["overload"]["extra"]["offered"] > 0
    assert results["overload_unlimited"]["settings"]["max_inflight_requests"] == 0
    releases = results["releases"]
    for key in ("one_release", "two_releases", "b_alone", "a_flooded", "b_during_flood"):
        assert releases[key]["requests"] > 0 and releases[key]["errors"] == 0, key
    assert releases["mixed_over_one"] > 0
    assert releases["rss_per_extra_release_mib"] is not None
    formats = results["formats"]
    assert {r["format"].split()[0] for r in formats} >= {"png", "webp", "jpg"}
    assert all(r["requests"] > 0 and r["errors"] == 0 and r["mean_bytes"] > 0 for r in formats)
    assert "### Formats" in result.stdout
    assert "### Several releases" in result.stdout
    for label, run in results["mixed_overload"].items():
        assert run["one_seed"]["requests"] > 0 and run["bulk"]["extra"]["offered"] > 0, label
    assert "### Past capacity, cheap and bulk requests mixed" in result.stdout
    hd = results["hd"]
    assert [p["batch_size"] for p in hd["ceilings"]["tiny"]] == [1, 2]
    (run,) = hd["runs"]
    assert {(r["size"], r["method"]) for r in run["rows"]} == {(64, "generator only"), (256, "tiny"), (256, "lanczos")}
    assert all(r["requests"] > 0 and r["errors"] == 0 for r in run["rows"])
    assert run["flood"]["plain_64_during"]["requests"] > 0 and run["flood"]["flooded"]["errors"] == 0
    assert "### HD avatars" in result.stdout
    assert (out / "benchmarks-throughput-p99.png").stat().st_size > 0
    assert markdown(results) == (out / "benchmarks-results.md").read_text()
    plot(results, tmp_path / "again.png")
    logs = sorted(p.name for p in (tmp_path / "logs").glob("*.log"))
    assert logs == [
        "hd-tiny.log",
        "litserve.log",
        "ours-formats.log",
        "ours-many-releases.log",
        "ours-mixed-budget-0s.log",
        "ours-mixed-budget-1s.log",
        "ours-mixed-capacity.log",
        "ours-one-release.log",
        "ours-overload-unlimited.log",
        "ours-overload.log",
        "ours-two-releases.log",
        "ours-two-workers.log",
        "ours-unbatched.log",
        "ours.log",
    ]
    for log in (tmp_path / "logs").glob("*.log"):
        assert "Traceback" not in log.read_text(), log.name
