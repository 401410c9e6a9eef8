"""Results to readers: markdown tables (printed, and pasted into docs/benchmarks.md) and one plot."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.config import Settings

DEFAULT_INFLIGHT: int = Settings.model_fields["max_inflight_requests"].default

SERIES = ("ours", "ours, max_batch_size=1", "litserve")


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _errors(row: dict[str, Any]) -> str:
    if not row["errors"]:
        return "0"
    bad = {status: n for status, n in row["statuses"].items() if status != "200"}
    return f"{row['errors']} ({', '.join(f'{s}: {n}' for s, n in bad.items())})"


def scenario_table(rows: Sequence[dict[str, Any]]) -> str:
    return table(
        ["server", "scenario", "concurrency", "avatars/s", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors"],
        [
            [
                r["server"],
                r["scenario"],
                str(r["concurrency"]),
                _num(r["avatars_per_s"]),
                _num(r["requests_per_s"]),
                _num(r["p50_ms"], 1),
                _num(r["p95_ms"], 1),
                _num(r["p99_ms"], 1),
                _errors(r),
            ]
            for r in rows
        ],
    )


def ceiling_table(ceilings: dict[str, Any]) -> str:
    rows = [
        ["generator alone", str(p["threads"]), str(p["batch_size"]), "-", _num(p["images_per_s"]),
         _num(p["forward_passes_per_s"], 1)]
        for p in ceilings["generator"]
    ]  # fmt: skip
    rows += [
        ["generator + PNG", str(p["threads"]), str(p["batch_size"]), str(p["encode_threads"]),
         _num(p["images_per_s"]), _num(p["forward_passes_per_s"], 1)]
        for p in ceilings["pipeline"]
    ]  # fmt: skip
    return table(["ceiling", "torch threads", "batch", "PNG threads", "images/s", "forward passes/s"], rows)


def tuning_table(tuning: dict[str, Any]) -> str:
    if not tuning["ours"] and not tuning["peer"]:
        return (
            f"Not run (one candidate each): ours {json.dumps(tuning['best_ours'])}, "
            f"LitServe {json.dumps(tuning['best_peer'])}."
        )
    concurrencies = tuning["concurrencies"]
    rows = []
    for side in ("ours", "peer"):
        for r in tuning[side]:
            best = r["settings"] == tuning["best_ours" if side == "ours" else "best_peer"]
            cells = [f"{_num(r['results'][str(c)]['avatars_per_s'])} / {_num(r['results'][str(c)]['p99_ms'])}"
                     for c in concurrencies]  # fmt: skip
            name = "ours" if side == "ours" else "litserve"
            rows.append([name, json.dumps(r["settings"]), *cells, f"{r['score']:.2f}" + (" (best)" if best else "")])
    header = ["server", "candidate", *(f"c={c}: avatars/s / p99 ms" for c in concurrencies), "score"]
    return table(header, rows)


def ratio_table(ratios: dict[str, Any]) -> str:
    rows = [
        [str(c), _times(e.get("batching_on_vs_off_throughput")), _times(e.get("batching_on_vs_off_p99")),
         _times(e.get("ours_vs_litserve_throughput")), _times(e.get("ours_vs_litserve_p99"))]
        for c, e in sorted(ratios["per_concurrency"].items(), key=lambda kv: int(kv[0]))
    ]  # fmt: skip
    return table(
        ["concurrency", "batching on/off: avatars/s", "on/off: p99", "ours/LitServe: avatars/s", "ours/LitServe: p99"],
        rows,
    )


def memory_table(memory: dict[str, Any]) -> str:
    return table(
        ["requests", "RSS at ready", "RSS midway", "RSS after", "growth", "peak RSS", "RSS after all scenarios"],
        [
            [
                f"{memory['requests']:,} ({memory['errors']} errors)",
                f"{_num(memory['rss_ready_mib'])} MiB",
                f"{_num(memory['rss_midway_mib'])} MiB",
                f"{_num(memory['rss_after_mib'])} MiB",
                f"{_num(memory['rss_after_mib'] - memory['rss_ready_mib'], 1)} MiB",
                f"{_num(memory['peak_rss_mib'])} MiB",
                f"{_num(memory['rss_end_mib'])} MiB",
            ]
        ]
        if memory.get("rss_ready_mib") is not None
        else [],
    )


def _overload_row(label: str, o: dict[str, Any]) -> list[str]:
    limit = o["settings"].get("max_inflight_requests", DEFAULT_INFLIGHT)
    return [
        f"{label} ({'no limit' if not limit else f'limit {limit}'})",
        f"{o['extra']['offered']:,} at {_num(o['extra']['offered_per_s'])}/s ({o['factor']:.1f}x capacity)",
        f"{o['requests']:,}",
        f"{o['statuses'].get('503', 0):,} ({_pct(o['share_503'])})",
        str(o["errors"] - o["statuses"].get("503", 0)),
        f"{_num(o['p50_ms'])} / {_num(o['p99_ms'])} / {_num(o['max_ms'])}",
        f"{_num(o['expected_wait_bound_ms'])} ms (queue {o['settings']['queue_max_images']})",
    ]


def overload_table(overload: dict[str, Any], unlimited: dict[str, Any] | None = None) -> str:
    o = overload
    rows = [_overload_row("in-flight limit", o)]
    if unlimited is not None:
        rows.insert(0, _overload_row("without it", unlimited))
    summary = table(
        ["server", "offered", "accepted (200)", "503", "other errors", "accepted p50 / p99 / max ms",
         "queue / capacity"],
        rows,
    )  # fmt: skip
    seconds = table(
        ["sent in second", "sent", "accepted", "503", "accepted p50 ms", "accepted max ms", "503 p50 ms"],
        [
            [str(b["second"]), str(b["sent"]), str(b["accepted"]), str(b["refused_503"]),
             _num(b["accepted_p50_ms"]), _num(b["accepted_max_ms"]), _num(b["refused_p50_ms"])]
            for b in o["extra"].get("per_second", [])
        ],
    )  # fmt: skip
    return (
        f"{summary}\n\nWith the limit, by the second in which requests were sent (client lag p99: "
        f"{o['extra']['client_lag_p99_ms']} ms):\n\n{seconds}"
    )


def mixed_overload_table(runs: dict[str, Any]) -> str:
    """One-seed GETs beside 64-avatar 256 px POSTs at twice capacity: who is shed, and how long the
    accepted one-seed requests wait."""
    rows = []
    for label, r in runs.items():
        one, bulk = r["one_seed"], r["bulk"]
        rows.append([label, f"{r['capacity_one_seed_per_s']:.0f} + {r['capacity_bulk_per_s']:.1f}",
                     f"{_num(one['p50_ms'])} / {_num(one['p99_ms'])} / {_num(one['max_ms'])}",
                     _pct(r["one_seed_share_503"]), f"{_num(bulk['p50_ms'])} / {_num(bulk['p99_ms'])}",
                     _pct(r["bulk_share_503"])])  # fmt: skip
    header = ["work budget", "offered per s (one-seed + bulk)", "one-seed accepted p50 / p99 / max ms",
              "one-seed shed", "bulk accepted p50 / p99 ms", "bulk shed"]  # fmt: skip
    return table(header, rows)


def releases_table(releases: dict[str, Any]) -> str:
    r = releases
    rows = [
        [f"one release, c={r['concurrency']}", r["one_release"]],
        [f"two releases, half each, c={r['concurrency']}", r["two_releases"]],
        ["release b alone, c=1", r["b_alone"]],
        [f"release a flooded, c={r['flood_concurrency']}", r["a_flooded"]],
        ["release b during that flood, c=1", r["b_during_flood"]],
    ]
    body = table(
        ["load", "avatars/s", "p50 ms", "p99 ms", "errors"],
        [[name, _num(s["avatars_per_s"]), _num(s["p50_ms"]), _num(s["p99_ms"]), _errors(s)] for name, s in rows],
    )
    ready = sorted((int(n), v) for n, v in r["rss_ready_mib"].items())
    memory = ", ".join(f"{n} release{'s' if n > 1 else ''}: {_num(v)} MiB" for n, v in ready)
    return (
        f"{body}\n\nTwo releases half each / one release: **{_times(r['mixed_over_one'])}** throughput.\n\n"
        f"RSS when ready (loaded and warmed): {memory}; each release past the first costs "
        f"**{_num(r['rss_per_extra_release_mib'], 1)} MiB**."
    )


def formats_table(rows: Sequence[dict[str, Any]]) -> str:
    png = {r["size"]: r for r in rows if r["format"] == "png"}
    return table(
        ["format", "size", "avatars/s", "p99 ms", "mean bytes", "bytes against PNG", "errors"],
        [
            [r["format"], f"{r['size']} px", _num(r["avatars_per_s"]), _num(r["p99_ms"]),
             f"{r['mean_bytes'] / 1024:.1f} KiB", _pct(r["mean_bytes"] / png[r["size"]]["mean_bytes"]), _errors(r)]
            for r in rows
        ],
    )  # fmt: skip


def shares_table(ratios: dict[str, Any]) -> str:
    return table(
        ["scenario (ours, best concurrency)", "avatars/s", "of generator ceiling", "of generator + PNG ceiling"],
        [
            [f"{r['scenario']} (c={r['concurrency']})", _num(r["avatars_per_s"]), _pct(r["of_generator"]),
             _pct(r["of_generator_png"])]
            for r in ratios["shares_of_ceilings"]
        ],
    )  # fmt: skip


def headline(results: dict[str, Any]) -> str:
    r = results["ratios"]
    c = r["best_one_seed"]["concurrency"]
    per = r["per_concurrency"].get(c) or r["per_concurrency"].get(str(c)) or {}
    one = next(s for s in r["shares_of_ceilings"] if s["scenario"] == "one seed")
    peer = r.get("litserve_best_one_seed")
    ceilings = results["ceilings"]
    rows = [
        ["our best one-seed throughput", f"{_num(r['best_one_seed']['avatars_per_s'])} avatars/s at concurrency {c}"],
        ["generator ceiling (no HTTP, no PNG)", f"{_num(ceilings['generator_best']['images_per_s'])} images/s"],
        ["generator + PNG ceiling (no HTTP)", f"{_num(ceilings['pipeline_best']['images_per_s'])} images/s"],
        ["one seed as a share of the generator + PNG ceiling", _pct(one["of_generator_png"])],
        [f"batching on/off at concurrency {c}", _times(per.get("batching_on_vs_off_throughput"))],
        ["batching on/off, each at its best concurrency", _times(r.get("batching_best_vs_best"))],
    ]  # fmt: skip
    if peer:
        rows += [
            ["LitServe best one-seed throughput", f"{_num(peer['avatars_per_s'])} avatars/s, c={peer['concurrency']}"],
            ["ours/LitServe throughput, each at its best concurrency", _times(r.get("ours_vs_litserve_best_vs_best"))],
            [f"ours/LitServe throughput at concurrency {c}", _times(per.get("ours_vs_litserve_throughput"))],
            [f"ours/LitServe p99 at concurrency {c} (below 1: ours is lower)", _times(per.get("ours_vs_litserve_p99"))],
        ]  # fmt: skip
    return table(["measure", "value"], rows)


def _same_png(results: dict[str, Any]) -> str:
    same = results.get("same_png")
    if not same:
        return ""
    verdict = "byte-identical" if same["identical"] else "DIFFERENT (the comparison is not of equal work)"
    return f"\n\nThe one-seed PNG of ours and of the LitServe peer: {verdict} ({same['ours']}, {same['litserve']})."


def hd_tables(hd: dict[str, Any]) -> str:
    """Serving each size with each upscaler (and Lanczos), the HD flood, and the upscalers alone."""
    serving = table(
        ["upscaler", "release", "size", "drawn by", "concurrency", "avatars/s", "p50 ms", "p99 ms", "errors"],
        [[r["upscaler"], r["release"], str(r["size"]), r["method"], str(r["concurrency"]), _num(r["avatars_per_s"], 1),
          _num(r["p50_ms"]), _num(r["p99_ms"]), _errors(r)] for run in hd["runs"] for r in run["rows"]],
    )  # fmt: skip
    floods = []
    for run in hd["runs"]:
        f = run["flood"]
        alone, during = f["plain_64_alone"], f["plain_64_during"]
        flooded = f"{f['concurrency']} clients at {f['size']} px: {_num(f['flooded']['avatars_per_s'], 1)}/s"
        floods.append([run["label"], flooded, f"{_num(alone['p50_ms'])} / {_num(alone['p99_ms'])}",
                       f"{_num(during['p50_ms'])} / {_num(during['p99_ms'])}"])  # fmt: skip
    header = ["upscaler", "flood of release hd", "64 px of release plain alone: p50 / p99 ms", "during the flood"]
    flood = table(header, floods)
    alone = table(
        ["upscaler alone", "dtype", "threads", "batch", "avatars/s"],
        [[label, p["dtype"], str(p["threads"]), str(p["batch_size"]), _num(p["avatars_per_s"], 1)]
         for label, points in hd["ceilings"].items() for p in points],
    )  # fmt: skip
    return f"{serving}\n\n{flood}\n\n{alone}\n"


def markdown(results: dict[str, Any]) -> str:
    """Every table of a run, in the order of docs/benchmarks.md."""
    m = results["machine"]
    sections = [
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, torch {m['packages']['torch']}, "
        f"LitServe {m['packages']['litserve']}; {results['date']}; {results['wall_s']} s wall.\n\n"
        f"Command: `{results['command']}`",
        "### Headline\n\n" + headline(results),
        "### Ceilings (no HTTP)\n\n" + ceiling_table(results["ceilings"]),
        "### Share of the ceilings\n\n" + shares_table(results["ratios"]),
        "### Tuning\n\n" + tuning_table(results["tuning"]) + _same_png(results),
        "### Scenarios\n\n" + scenario_table(results["scenarios"]),
        "### Ratios (one seed)\n\n" + ratio_table(results["ratios"]),
        "### Memory under load\n\n" + memory_table(results["memory"]),
        "### Past capacity\n\n" + overload_table(results["overload"], results.get("overload_unlimited")),
    ]
    if "mixed_overload" in results:
        sections.append(
            "### Past capacity, cheap and bulk requests mixed\n\n" + mixed_overload_table(results["mixed_overload"])
        )
    if "releases" in results:  # runs from before releases existed have no such stage
        sections.append("### Several releases\n\n" + releases_table(results["releases"]))
    if "formats" in results:
        sections.append("### Formats\n\n" + formats_table(results["formats"]))
    if "hd" in results:
        sections.append("### HD avatars\n\n" + hd_tables(results["hd"]))
    return "\n\n".join(sections) + "\n"


def plot(results: dict[str, Any], path: Path) -> Path:
    """Throughput and p99 against concurrency, one line per server, with the ceilings for scale."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for name, marker in zip(SERIES, "osd", strict=True):
        points = sorted(
            (r["concurrency"], r["avatars_per_s"], r["p99_ms"])
            for r in results["scenarios"]
            if r["server"] == name and r["scenario"] == "one seed"
        )
        if not points:
            continue
        xs = [p[0] for p in points]
        left.plot(xs, [p[1] for p in points], marker=marker, label=name)
        right.plot(xs, [p[2] for p in points], marker=marker, label=name)
    ceilings = results["ceilings"]
    for key, style, label in (("generator_best", "--", "generator ceiling"), ("pipeline_best", ":", "generator + PNG")):
        left.axhline(ceilings[key]["images_per_s"], color="grey", linestyle=style, label=label)
    concurrencies = sorted({r["concurrency"] for r in results["scenarios"] if r["scenario"] == "one seed"})
    for axis, label in ((left, "avatars/s (one seed per request)"), (right, "p99 latency, ms")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(concurrencies, [str(c) for c in concurrencies])
        axis.set_xlabel("concurrent requests")
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
    right.set_yscale("log")
    right.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    left.set_ylim(bottom=0)
    left.legend(fontsize=8)
    m = results["machine"]
    fig.suptitle(f"POST /avatars, one seed: {m['cpu']}, {m['cores']} cores", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(results: dict[str, Any], out: Path) -> dict[str, Path]:
    """results JSON, the markdown tables and the plot under `out`, named benchmarks-*."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "benchmarks-results.json",
        "markdown": out / "benchmarks-results.md",
        "plot": out / "benchmarks-throughput-p99.png",
    }
    paths["json"].write_text(json.dumps(results, indent=2, default=str) + "\n")
    paths["markdown"].write_text(markdown(results))
    plot(results, paths["plot"])
    return paths
