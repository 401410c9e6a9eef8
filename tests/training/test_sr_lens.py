"""The second lens on synthetic faces: each kind of damage must score worse than clean faces, its
weights are pinned, its cache is checked, and the calibration's ranking rule reads chains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.synthetic_faces import TINY_RECIPE, synthetic_faces
from training.metrics import sr_lens
from training.metrics.check import (
    SEVERITY_CHAINS,
    VARIANTS,
    blur_to,
    copies_flagged,
    gaussian_noise,
    jpeg,
    markdown_table,
    ranks_in_order,
    repeat_faces,
    run_check,
)
from training.metrics.distribution import build_reference
from training.metrics.encoder import split_real
from training.metrics.sr_lens import LensError, SrLensRecipe, build_sr_reference

RECIPE = SrLensRecipe(holdout=TINY_RECIPE.holdout)


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    return synthetic_faces(240)


@pytest.fixture(scope="module")
def second(faces: torch.Tensor, tmp_path_factory: pytest.TempPathFactory) -> sr_lens.SrReference:
    return build_sr_reference(faces, None, RECIPE, tmp_path_factory.mktemp("lens-cache"))


def test_every_damage_scores_worse_than_clean_faces(second: sr_lens.SrReference, faces: torch.Tensor) -> None:
    split = split_real(len(faces), RECIPE.holdout, RECIPE.seed)
    check = faces[split.check]
    clean = second.score(check, kid_subsets=10)
    damaged = {
        name: second.score(images, kid_subsets=10)
        for name, images in {
            "blur 32": blur_to(check, 32),
            "blur 16": blur_to(check, 16),
            "JPEG 5": jpeg(check, 5),
            "noise": gaussian_noise(check),
        }.items()
    }
    for name, scores in damaged.items():
        assert scores["sr_fd"] > 3 * clean["sr_fd"], name
        assert scores["sr_precision"] < clean["sr_precision"], name
    assert damaged["blur 16"]["sr_fd"] > damaged["blur 32"]["sr_fd"]
    collapsed = second.score(repeat_faces(check, 2), kid_subsets=10)
    assert collapsed["sr_recall"] < 0.1 < clean["sr_recall"] and collapsed["sr_fd"] > clean["sr_fd"]
    assert clean["sr_lens_id"] == second.lens_id and clean["sr_lens_version"] == sr_lens.LENS_VERSION
    # training faces are where copies are looked for
    assert second.score(faces[split.train[:48]], kid_subsets=10)["sr_copies_p1"] == 1.0


def test_each_tap_family_has_unit_variance_on_the_training_faces(second: sr_lens.SrReference) -> None:
    for block in sr_lens.family_slices(second.lens).values():
        assert np.var(second.train[:, block], axis=0, ddof=1).sum() == pytest.approx(1.0, rel=1e-4)
    assert second.lens.feature_dim == second.train.shape[1] == 3 * 64 * 5  # 3 taps x 64 ch x (2x2 cells + std)


def test_cached_features_give_the_same_numbers(faces: torch.Tensor, tmp_path: Path) -> None:
    first = build_sr_reference(faces[:60], None, RECIPE, tmp_path)
    (cached,) = tmp_path.glob("anime-sr-*.safetensors")
    again = build_sr_reference(faces[:60], None, RECIPE, tmp_path)
    np.testing.assert_array_equal(again.train, first.train)  # a first run scores with what the cache holds
    np.testing.assert_array_equal(again.reference_nn, first.reference_nn)
    assert torch.equal(again.lens.scales, first.lens.scales)
    cached.write_bytes(b"not safetensors")
    with pytest.raises(LensError, match=rf"{cached.name}: cached lens features are not readable"):
        build_sr_reference(faces[:60], None, RECIPE, tmp_path)


def test_missing_or_moved_weights_fail_naming_the_file(
    faces: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(LensError, match=r"none\.safetensors: second-lens weights not found"):
        sr_lens.load_lens(tmp_path / "none.safetensors")
    monkeypatch.setenv(sr_lens.LENS_WEIGHTS_ENV, str(tmp_path / "env.safetensors"))
    with pytest.raises(LensError, match=r"env\.safetensors"):
        sr_lens.load_lens()
    monkeypatch.delenv(sr_lens.LENS_WEIGHTS_ENV)
    monkeypatch.setattr(sr_lens, "WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(LensError, match="is not the pinned 000000000000"):
        sr_lens.load_lens()


def test_the_lens_needs_a_compact_network(tiny_upscaler: Path) -> None:
    lens, sha = sr_lens.load_lens(tiny_upscaler, SrLensRecipe(taps=(1,)))
    assert len(sha) == 64 and lens(torch.zeros(2, 3, 16, 16, dtype=torch.uint8)).shape == (2, lens.feature_dim)
    with pytest.raises(LensError, match="go past the network"):
        sr_lens.load_lens(tiny_upscaler, SrLensRecipe(taps=(1, 99)))


# ---------------------------------------------------------------------------- the calibration
def _rows(**fd: float) -> list[dict[str, object]]:
    return [{"variant": name, "sr_fd": value} for name, value in fd.items()]


GOOD = {
    "real (held out)": 0.1,
    "blurred to 32 px": 1.0,
    "blurred to 16 px": 2.0,
    "JPEG quality 10": 0.5,
    "JPEG quality 8": 0.6,
    "JPEG quality 5": 3.0,
    "50 faces repeated": 0.4,
    "16 faces repeated": 0.9,
    "uniform noise": 9.0,
    "gaussian noise": 8.0,
}


def test_ranking_follows_each_severity_chain_and_no_order_across_them() -> None:
    assert set(GOOD) == set(VARIANTS) and {n for c in SEVERITY_CHAINS for step in c for n in step} == set(VARIANTS)
    assert ranks_in_order(_rows(**GOOD), "sr_fd")  # JPEG 10 below a 32 px blur is allowed: other kinds
    for name, value in {"blurred to 16 px": 0.9, "JPEG quality 8": 0.45, "16 faces repeated": 0.3}.items():
        assert not ranks_in_order(_rows(**GOOD | {name: value}), "sr_fd"), name
    assert not ranks_in_order(_rows(**GOOD | {"gaussian noise": 2.5}), "sr_fd")  # noise must be worst
    missing = {k: v for k, v in GOOD.items() if k != "JPEG quality 5"}
    assert not ranks_in_order(_rows(**missing), "sr_fd")  # a row that was not scored cannot rank


def test_copies_must_be_flagged_and_real_faces_not() -> None:
    rows = [{"variant": "real (held out)", "c": 0.01}, {"variant": "training faces (copies)", "c": 1.0}]
    assert copies_flagged(rows, "c")
    assert not copies_flagged([rows[0] | {"c": 0.2}, rows[1]], "c")


def test_the_check_scores_every_variant_in_both_lenses(faces: torch.Tensor, tmp_path: Path) -> None:
    first = build_reference(faces, TINY_RECIPE, str(tmp_path))
    # the first conv alone: the wiring is under test here, the lens's ranking above
    second = build_sr_reference(faces, None, SrLensRecipe(taps=(1,), holdout=TINY_RECIPE.holdout), tmp_path)
    rows = run_check(first, faces, TINY_RECIPE, samples=24, second=second)
    assert len(rows) == len(VARIANTS) + 1 and all("sr_fd" in r and "ssl_fd" in r for r in rows)
    by = {r["variant"]: r for r in rows}
    assert by["gaussian noise"]["sr_fd"] > by["real (held out)"]["sr_fd"]
    assert "lens 2 FD" in markdown_table(rows).splitlines()[0]
    assert by["training faces (copies)"]["sr_copies_p1"] == 1.0


def test_the_spread_is_relative_for_fds_and_absolute_for_shares() -> None:
    from training.lens_spread import largest_spread

    scores = {
        "v1": {"A": {"sr_fd": 0.5, "recall": 0.40}, "B": {"sr_fd": 0.55, "recall": 0.43}},
        "v2": {"A": {"sr_fd": 0.4, "recall": 0.50}, "B": {"sr_fd": 0.41, "recall": 0.49}},
    }
    assert largest_spread(scores) == pytest.approx({"sr_fd": 0.05 / 0.55, "recall": 0.03})
