"""Finding and judging latent directions: the pure pieces, then the whole command on a tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gan.directions import load_directions
from gan.networks import fuse_batchnorm
from gan.releases import publish, read_manifest
from tests.conftest import make_generator
from training.cli import main
from training.directions import (
    DirectionsConfig,
    RealRates,
    allowed_range,
    compute_directions,
    direction_gate,
    fit_attributes,
    hair_gate,
    hair_strengths,
    measure_real_faces,
    sefa,
    spearman_rows,
)


def test_sefa_gives_orthonormal_directions_in_energy_order() -> None:
    generator = make_generator()
    vectors, shares = sefa(generator, 5)
    assert vectors.shape == (5, generator.config.latent_dim)
    assert torch.allclose(vectors @ vectors.T, torch.eye(5), atol=1e-5)
    assert torch.all(shares[:-1] >= shares[1:]) and 0 < shares.sum() <= 1
    # the top direction moves the first layer most: more than a random unit vector does
    a = fuse_batchnorm(generator).stem[0].weight.detach().reshape(generator.config.latent_dim, -1)
    random = torch.nn.functional.normalize(torch.randn(generator.config.latent_dim), dim=0)
    assert (vectors[0] @ a).norm() > (random @ a).norm()
    again, _ = sefa(generator, 5)
    assert torch.equal(vectors, again)


def test_fitted_directions_recover_planted_ones_and_are_conditioned() -> None:
    rng = torch.Generator().manual_seed(0)
    z = torch.randn(20000, 32, generator=rng)
    a_true = torch.nn.functional.normalize(torch.randn(32, generator=rng), dim=0)
    b_true = torch.nn.functional.normalize(a_true + torch.randn(32, generator=rng), dim=0)  # correlated
    noise = torch.randn(20000, generator=rng) * 0.1
    measures = {"a": (z @ a_true + noise).numpy(), "b": (z @ b_true + noise).numpy()}
    found = fit_attributes(z, measures)
    # conditioned: `a` keeps the part of a_true that does not move b, and b the part that does not move a
    assert float(found["a"] @ a_true) > 0.5 and float(found["a"] @ b_true) == pytest.approx(0.0, abs=0.05)
    assert float(found["b"] @ b_true) > 0.5 and float(found["b"] @ a_true) == pytest.approx(0.0, abs=0.05)


def test_spearman_rows_matches_a_direct_computation() -> None:
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    y = np.array([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1], [1, 3, 2, 5, 4], [7, 7, 7, 7, 7]], dtype=float)
    assert spearman_rows(x, y).tolist() == pytest.approx([1.0, -1.0, 0.8, 0.0])


def test_the_range_stops_at_the_first_strength_below_the_floor() -> None:
    sweep = [-3, -2, -1, 0, 1, 2, 3]
    assert allowed_range(sweep, [0.5, 0.8, 0.8, 0.8, 0.8, 0.6, 0.8], 0.7) == (-2, 1)
    assert allowed_range(sweep, [0.9] * 7, 0.7) == (-3, 3)
    assert allowed_range(sweep, [0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1], 0.7) == (0, 0)


def test_each_gate_says_why_it_refuses() -> None:
    config = DirectionsConfig(min_spearman=0.9, min_honoured=0.9)
    assert direction_gate({"range": [-0.5, 0.0]}, config, None).startswith("the face rate falls below")
    assert direction_gate({"range": [-1.0, 1.0], "spearman": 0.5}, config, "m") == "Spearman 0.50 < 0.9"
    assert direction_gate({"range": [-1.0, 1.0], "spearman": 0.95}, config, "m") == ""
    hair = {"honoured": 0.8, "face_rate": 0.4, "face_floor": 0.5}
    assert hair_gate(hair, config) == "honoured < 0.9, face rate < 0.500"
    assert hair_gate({**hair, "honoured": 0.95, "face_rate": 0.6}, config) == ""
    # a hair colour the cascade finds less often is held to its own real rate, never to a higher one
    real = RealRates(0.7, {"black": 0.6, "pink": 0.9})
    assert (real.for_color(None), real.for_color("black"), real.for_color("pink"), real.for_color("red")) == (
        0.7, 0.6, 0.7, 0.7
    )  # fmt: skip


class AlwaysAFace:
    def detect(self, images: np.ndarray) -> np.ndarray:
        return np.ones(len(images), dtype=bool)

    def rate(self, images: np.ndarray) -> float:
        return 1.0


SMALL = DirectionsConfig(explore=3, fit_samples=400, eval_seeds=30, hair_players=20, min_class_share=0.0)


def test_new_hair_recipes_push_the_players_face_in_steps_up_to_the_allowed_strength() -> None:
    assert hair_strengths(3.0, 6) == (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
    assert hair_strengths(2.0, 3)[-1] == 2.0 and len(hair_strengths(2.0, 3)) == 4
    assert hair_strengths(3.0, 2) == (0.0, 1.5, 3.0)  # what v1-v3 published, with 5 alternates
    assert hair_strengths(0.0, 6) == (0.0,)
    assert DirectionsConfig().hair_alternates == 5 and DirectionsConfig().hair_steps == 6


def test_compute_directions_writes_a_loadable_gated_set(tmp_path: Path, tiny_weights: Path) -> None:
    found, report = compute_directions(
        tiny_weights, release="v1", real_face_rate=1.0, detector=AlwaysAFace(), out_dir=tmp_path, config=SMALL
    )
    assert {"explore_0", "explore_1", "explore_2"} <= set(found.directions)
    for entry in report["directions"]:
        assert entry["offered"] == (entry["name"] in found.directions)
        if entry["kind"] == "attribute" and entry["offered"]:
            assert entry["spearman"] >= SMALL.min_spearman
    for entry in report["hair_colors"]:
        assert ("honoured" not in entry) or entry["offered"] == (entry["name"] in found.hair)
        if "honoured" in entry:  # judged with the recipe it is published with: the ladder to the range's end
            high = found_or_reported_high(report, entry["name"])
            assert entry["alternates"] == SMALL.hair_alternates and entry["strengths"] == list(
                hair_strengths(high, SMALL.hair_steps)
            )
    assert any("honoured" in entry for entry in report["hair_colors"])
    for recipe in found.hair.values():
        assert recipe.alternates == SMALL.hair_alternates
        assert recipe.strengths == hair_strengths(found.directions[recipe.direction].high, SMALL.hair_steps)
    back = load_directions(tmp_path / "directions.safetensors", found.model_version)
    assert set(back.directions) == set(found.directions)
    assert (tmp_path / "report.md").read_text().startswith("Directions of `v1`")
    assert (tmp_path / "sweeps.png").is_file()


def found_or_reported_high(report: dict, color: str) -> float:
    return next(d["range"][1] for d in report["directions"] if d["name"] == f"hair_{color}")


def test_a_detector_that_never_finds_faces_offers_nothing(tmp_path: Path, tiny_weights: Path) -> None:
    class Never(AlwaysAFace):
        def detect(self, images: np.ndarray) -> np.ndarray:
            return np.zeros(len(images), dtype=bool)

    found, _ = compute_directions(
        tiny_weights, release="v1", real_face_rate=1.0, detector=Never(), out_dir=tmp_path, config=SMALL
    )
    assert not found.directions and not found.hair


def test_the_command_refuses_an_unknown_release_and_a_second_publication(
    tmp_path: Path, tiny_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "weights"
    publish(folder, "v1", tiny_weights)
    args = ["directions", "--weights-dir", str(folder), "--data", str(tmp_path / "none.zip")]
    assert main([*args, "v9"]) == 2
    assert "no release 'v9'" in capsys.readouterr().err
    assert read_manifest(folder).get("v1").directions == ""


def test_the_real_face_rates_are_measured_overall_and_per_hair_colour(tmp_path: Path) -> None:
    from gan.attributes import HAIR_COLORS, hair_colors
    from gan.imaging import to_hwc
    from tests.conftest import write_images
    from training.data import load_images

    folder = write_images(tmp_path / "faces", 12, size=64)

    class EveryOther(AlwaysAFace):
        def detect(self, images: np.ndarray) -> np.ndarray:
            return np.arange(len(images)) % 2 == 0

    real, shares = measure_real_faces(folder, EveryOther())
    names = hair_colors(to_hwc(load_images(folder, 64).images))
    found = np.arange(len(names)) % 2 == 0
    assert real.overall == 0.5
    assert real.by_color == {c: float(found[names == c].mean()) for c in HAIR_COLORS if (names == c).any()}
    assert shares == {c: float((names == c).mean()) for c in HAIR_COLORS}
