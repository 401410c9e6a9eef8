"""`release check`: each gate's verdict from metric dicts (pure), and one whole check on tiny
generators, through the API and the command line."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from gan.checkpoint import save_generator
from gan.networks import GeneratorConfig
from gan.releases import publish
from tests.conftest import make_generator
from tests.training.synthetic_faces import TINY_RECIPE, save_faces
from training import release_gate
from training.cli import main
from training.config import ConfigError
from training.release_gate import Gates, check_release, judge, markdown, measure_speed

LENSES = {"precision": 0.90, "recall": 0.40, "sr_fd": 5.0, "sr_precision": 0.80, "sr_recall": 0.50, "sr_copies_p1": 0.0}
BASELINE = LENSES | {"ssl_fd": 0.2, "face_rate": 0.7, "copies_p1": 0.0, "images_per_s": 1000.0, "real_face_rate": 0.72}
GOOD = LENSES | {"ssl_fd": 0.14, "face_rate": 0.71, "copies_p1": 0.01, "images_per_s": 700.0, "real_face_rate": 0.72}
GATES = ["FD", "FD (lens 2)", "precision (lens 1)", "recall (lens 1)", "precision (lens 2)", "recall (lens 2)",
         "face rate", "copies_p1 (lens 1)", "copies_p1 (lens 2)", "images/s"]  # fmt: skip


def verdicts(candidate: dict, gates: Gates | None = None) -> dict[str, bool]:
    return {r.gate: r.passed for r in judge(candidate, BASELINE, gates or Gates())}


def test_a_candidate_better_on_every_gate_passes() -> None:
    assert verdicts(GOOD) == dict.fromkeys(GATES, True)


@pytest.mark.parametrize(
    ("change", "gate"),
    [
        ({"ssl_fd": 0.151}, "FD"),  # only 24.5% lower: the issue asks for 25%
        ({"sr_fd": 5.51}, "FD (lens 2)"),  # 10.2% worse in the second lens: past the 10% margin
        ({"precision": 0.869}, "precision (lens 1)"),
        ({"recall": 0.369}, "recall (lens 1)"),
        ({"sr_precision": 0.769}, "precision (lens 2)"),
        ({"sr_recall": 0.469}, "recall (lens 2)"),
        ({"face_rate": 0.68}, "face rate"),  # 0.944 of real
        ({"copies_p1": 0.03}, "copies_p1 (lens 1)"),
        ({"sr_copies_p1": 0.03}, "copies_p1 (lens 2)"),
        ({"images_per_s": 499.0}, "images/s"),
    ],
)
def test_each_gate_fails_on_its_own(change: dict, gate: str) -> None:
    result = verdicts(GOOD | change)
    assert not result.pop(gate) and all(result.values())


def test_better_in_one_lens_by_trading_away_the_other_is_refused() -> None:
    # 30% lower FD in the primary lens, bought with more recall than precision lost, or with the other lens
    traded = GOOD | {"precision": 0.95, "recall": 0.30}
    assert verdicts(traded)["FD"] and not verdicts(traded)["recall (lens 1)"]
    assert not verdicts(GOOD | {"sr_fd": 7.0})["FD (lens 2)"]
    # within the margins a small loss is sampling noise, not a trade
    assert all(verdicts(GOOD | {"sr_fd": 5.45, "precision": 0.875, "sr_recall": 0.475}).values())
    assert all(verdicts(GOOD | {"sr_fd": 7.0}, Gates(max_second_fd_ratio=1.5)).values())


def test_a_face_rate_far_above_real_is_a_warning_not_a_win() -> None:
    assert release_gate.warnings(GOOD, Gates()) == []
    (warning,) = release_gate.warnings(GOOD | {"face_rate": 0.85}, Gates())
    assert "1.18x real" in warning and "stereotyped" in warning
    assert verdicts(GOOD | {"face_rate": 0.85})["face rate"]  # reported, not refused


def test_a_detector_that_misses_real_faces_fails_the_face_gate() -> None:
    blind = {"face_rate": 0.0, "real_face_rate": 0.0}  # 0 >= 0.95 x 0, but the detector reads no faces
    assert not verdicts(GOOD | blind)["face rate"]
    assert verdicts(GOOD | blind, Gates(min_real_face_rate=0.0))["face rate"]


def test_a_missing_metric_fails_its_gate_instead_of_passing() -> None:
    candidate = {k: v for k, v in GOOD.items() if k != "face_rate"}
    (face,) = [r for r in judge(candidate, BASELINE, Gates()) if r.gate == "face rate"]
    assert not face.passed and math.isnan(face.candidate)


def test_gates_are_configurable_and_checked() -> None:
    assert verdicts(GOOD | {"ssl_fd": 0.19}, Gates(max_fd_ratio=1.0))["FD"]
    with pytest.raises(ValueError, match="max_fd_ratio"):
        Gates(max_fd_ratio=0)
    with pytest.raises(ValueError, match="max_copies_p1"):
        Gates(max_copies_p1=2)
    with pytest.raises(ValueError, match="max_recall_drop"):
        Gates(max_recall_drop=-0.1)


def test_speed_is_measured_for_every_generator() -> None:
    nets = {"a": make_generator().eval(), "b": make_generator(seed=1).eval()}
    rates = measure_speed(nets, 16, batch_size=4, seconds=0.01, rounds=2)
    assert rates.keys() == {"a", "b"} and all(r > 0 for r in rates.values())


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_faces(tmp_path_factory.mktemp("gate-faces"), 40, seed=2)


def _cascade() -> str:
    import cv2

    return str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml")


def test_a_whole_check_scores_both_on_the_same_samples(faces: Path, tmp_path: Path) -> None:
    config = GeneratorConfig(latent_dim=16, resolution=64, channels=4, max_channels=32)
    base, other = tmp_path / "base.safetensors", tmp_path / "other.safetensors"
    save_generator(make_generator(config), base)
    save_generator(make_generator(config, seed=5), other)
    common = dict(data=faces, cascade=_cascade(), samples=12, encoder_cache=str(tmp_path / "enc"),
                  encoder_recipe=TINY_RECIPE, speed_seconds=0.01)  # fmt: skip
    itself = check_release(base, base, **common, out_dir=tmp_path / "out")  # type: ignore[arg-type]
    fd = next(g for g in itself["gates"] if g["gate"] == "FD")
    assert fd["candidate"] == fd["baseline"] and not fd["passed"]  # the same model is not 25% better than itself
    assert not itself["passed"] and itself["candidate"]["gflop_per_image"] == itself["baseline"]["gflop_per_image"]
    second = next(g for g in itself["gates"] if g["gate"] == "FD (lens 2)")
    assert second["candidate"] == second["baseline"] > 0 and second["passed"]  # scored in the second lens too
    written = json.loads((tmp_path / "out" / "release-check.json").read_text())
    assert written["gates"] == itself["gates"]
    assert "Release check: **FAIL**" in (tmp_path / "out" / "release-check.md").read_text()
    lenient_gates = Gates(max_fd_ratio=100.0, min_face_rate_ratio=0.0, min_speed_ratio=0.0, min_real_face_rate=0.0,
                          max_second_fd_ratio=100.0, max_precision_drop=1.0, max_recall_drop=1.0)  # fmt: skip
    lenient = check_release(other, base, **common, gates=lenient_gates)  # type: ignore[arg-type]
    assert lenient["passed"] and "real_face_rate" in lenient["candidate"]
    assert "**PASS**" in markdown(lenient)
    assert lenient["candidate"]["model_version"] != lenient["baseline"]["model_version"]
    small = tmp_path / "small.safetensors"
    save_generator(make_generator(GeneratorConfig(latent_dim=16, resolution=32, channels=4, max_channels=32)), small)
    with pytest.raises(ConfigError, match=r"different resolutions \[32, 64\]: not comparable"):
        check_release(small, base, **common)  # type: ignore[arg-type]


def test_cli_answers_1_for_a_failed_gate_0_for_a_pass_and_2_when_it_cannot_run(
    faces: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "weights"
    save_generator(make_generator(), tmp_path / "g.safetensors")
    publish(folder, "v1", tmp_path / "g.safetensors")
    args = ["release", "--weights-dir", str(folder), "check", str(tmp_path / "g.safetensors"), "--data", str(faces),
            "--cascade", _cascade()]  # fmt: skip
    seen: list[Gates] = []

    def judged(passed: bool) -> Callable[..., dict]:
        def fake(candidate: Path, baseline: Path, *, gates: Gates, **_: object) -> dict:
            seen.append(gates)
            report = {"samples": 2, "model_version": "x"}
            return {"passed": passed, "gates": [], "candidate": report, "baseline": report}

        return fake

    monkeypatch.setattr(release_gate, "check_release", judged(False))
    assert main([*args, "--max-fd-ratio", "0.9"]) == 1 and "**FAIL**" in capsys.readouterr().out
    assert seen[-1] == Gates(max_fd_ratio=0.9)  # the flag changes its gate, the others keep their defaults
    monkeypatch.setattr(release_gate, "check_release", judged(True))
    assert main(args) == 0 and "**PASS**" in capsys.readouterr().out
    assert main([*args, "--against", "v9"]) == 2
    assert "no release 'v9' to check against" in capsys.readouterr().err
    assert main([*args, "--samples", "1"]) == 2
    assert "--samples must be >= 2" in capsys.readouterr().err
    assert main([*args, "--max-fd-ratio", "0"]) == 2
    assert "max_fd_ratio must be > 0" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("")
    assert main([*args, "--out", str(tmp_path / "a-file")]) == 2
    assert "--out" in capsys.readouterr().err
    monkeypatch.undo()
    assert main([*args[:-2], "--cascade", str(tmp_path / "none.xml")]) == 2
    assert "none.xml not found" in capsys.readouterr().err


def test_the_hd_gate_holds_each_size_to_lanczos_face_rate() -> None:
    rows = [
        {"size": 256, "method": "lanczos", "face_rate": 0.80},
        {"size": 256, "method": "upscaler", "face_rate": 0.77},
        {"size": 512, "method": "lanczos", "face_rate": 0.80},
        {"size": 512, "method": "upscaler", "face_rate": 0.74},
    ]
    results = {r.gate: r for r in release_gate.hd_judge(rows, Gates())}
    assert results["HD face rate 256 px"].passed and results["HD face rate 256 px"].baseline == 0.80
    assert not results["HD face rate 512 px"].passed  # 0.74 < 0.95 x 0.80
    assert all(r.passed for r in release_gate.hd_judge(rows, Gates(min_hd_face_rate_ratio=0.9)))


def test_a_check_with_an_upscaler_reports_and_gates_each_hd_size(
    faces: Path, tmp_path: Path, tiny_upscaler: Path
) -> None:
    config = GeneratorConfig(latent_dim=16, resolution=64, channels=4, max_channels=32)
    base = tmp_path / "base.safetensors"
    save_generator(make_generator(config), base)
    report = check_release(base, base, data=faces, cascade=_cascade(), samples=8, encoder_cache=str(tmp_path / "enc"),
                           encoder_recipe=TINY_RECIPE, speed_seconds=0.01, upscaler=tiny_upscaler,
                           hd_sizes=(256, 512))  # fmt: skip
    rows = report["hd"]["rows"]
    assert [(r["size"], r["method"]) for r in rows] == [(256, "lanczos"), (256, "upscaler"), (512, "lanczos"),
                                                       (512, "upscaler")]  # fmt: skip
    assert {"consistency_psnr_db", "sharpness", "face_rate"} <= set(rows[0])
    assert [g["gate"] for g in report["gates"]][-2:] == ["HD face rate 256 px", "HD face rate 512 px"]
    assert "| 512 | upscaler |" in markdown(report)
