"""The same avatar on every node: equal device kinds (and so equal ETags) mean equal bytes.

torch's CPU kernels depend on the CPU: ATen vectorises with AVX2 or AVX-512 (or not at all), oneDNN
runs its convolutions on SSE4.1 ... AMX. Forced onto older paths with ATEN_CPU_CAPABILITY and
ONEDNN_MAX_CPU_ISA (each in its own process, `tests/golden/cpu_paths.py`), this CPU draws what an
older or other node would. Measured over every path (README, "The same avatar on every node"):
the generator's bytes follow ATen (none / AVX2 or better) and oneDNN (SSE4.1 / AVX / AVX2 or
better), the bfloat16 upscaler's follow oneDNN (emulated / AVX512-BF16 / AMX). Here a few paths
run, and every golden they draw must equal the recorded one and each other's wherever the device
kinds agree. A path this CPU cannot emulate (it reports a lower ISA than asked) is skipped.
"""

from __future__ import annotations

from typing import Any

import pytest

from gan.devices import cpu_path
from tests.golden.cpu_paths import conflicts, load_goldens, run_path, same_as_goldens

pytestmark = pytest.mark.slow

# (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA, the oneDNN ISA that path reports, what the README says of it)
PATHS = [
    ("avx2", "AVX2", "avx2", "reference"),  # an AVX2-only x86 node (Haswell to Zen 3): the published bytes
    ("avx2", "SSE41", "sse41", "other"),  # oneDNN without AVX: other bytes, another kind
    ("default", "AVX2", "avx2", "other"),  # ATen without vector kernels: other bytes, another kind
    ("avx512", "AVX512_CORE_BF16", "avx512_core_bf16", "reference"),  # AVX512-BF16 without AMX (Zen 4)
]


@pytest.fixture(scope="module")
def best() -> dict[str, Any]:
    return run_path("avx512", "ALL")


@pytest.fixture(scope="module")
def paths() -> list[dict[str, Any]]:
    rows = []
    for aten, onednn, reports, _ in PATHS:
        row = run_path(aten, onednn)
        if (row["cpu_path"]["aten"], row["cpu_path"]["onednn"]) == (aten, reports):
            rows.append(row)
    return rows


def _find(rows: list[dict[str, Any]], aten: str, onednn: str) -> dict[str, Any]:
    row = next((r for r in rows if (r["aten_request"], r["onednn_request"]) == (aten, onednn)), None)
    if row is None:
        pytest.skip(f"this CPU cannot run ATen {aten} with oneDNN {onednn}")
    return row


def test_equal_device_kinds_draw_equal_bytes(best: dict[str, Any], paths: list[dict[str, Any]]) -> None:
    """Across the goldens and every path run: no two drew other bytes under one device kind."""
    assert conflicts([best, *paths]) == []


def test_the_cpus_best_path_is_the_goldens_where_it_has_amx(best: dict[str, Any]) -> None:
    if "amx" not in best["cpu_path"]["onednn"]:
        pytest.skip("the goldens were drawn with AMX (v3's HD in bfloat16); this CPU has none")
    goldens = load_goldens()
    assert best["device_kinds"] == {name: _recorded_kind(entry) for name, entry in goldens.items()}


@pytest.mark.parametrize(("aten", "onednn", "reports", "said"), PATHS, ids=lambda v: str(v))
def test_each_path_keeps_to_the_documented_kind(
    paths: list[dict[str, Any]], aten: str, onednn: str, reports: str, said: str
) -> None:
    """The reference paths draw the published 64 px bytes under the published kind; the others
    announce another kind. The HD upscaler runs in float32 wherever there is no AMX."""
    row = _find(paths, aten, onednn)
    generator_kind = row["device_kinds"]["v1"]
    if said == "reference":
        assert generator_kind == "cpu-float32"
        assert all("cpu-float32" in kinds for kinds in same_as_goldens(load_goldens(), row["drawn"]).values())
    else:
        assert generator_kind.startswith("cpu-float32-x86_64-")
    if "amx" not in reports:
        assert row["device_kinds"]["v3"] == f"{generator_kind}+upscaler-float32"


def _recorded_kind(entry: dict[str, Any]) -> str:
    upscaler = entry.get("upscaler_dtype")
    return entry["device"] + (f"+upscaler-{upscaler}" if upscaler else "")


def test_this_process_reports_its_own_path() -> None:
    path = cpu_path()
    assert set(path) == {"machine", "aten", "onednn"} and all(path.values())
