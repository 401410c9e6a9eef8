"""The offline distribution metric: each pure stage against a reference, then the encoder's cache,
determinism and failure messages, and a ranking on synthetic faces that a broken metric would fail."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.synthetic_faces import TINY_RECIPE, save_faces, synthetic_faces
from training.metrics import distribution as dist
from training.metrics import encoder as enc
from training.metrics.check import (
    SEVERITY_CHAINS,
    VARIANTS,
    blur_to,
    gaussian_noise,
    jpeg,
    markdown_table,
    ranks_in_order,
    repeat_faces,
    run_check,
)
from training.metrics.encoder import EncoderError, EncoderRecipe, get_encoder, split_real, train_encoder
from training.metrics.fid import frechet_distance as fidelity_frechet_distance


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    return synthetic_faces(240)


@pytest.fixture(scope="module")
def reference(faces: torch.Tensor, tmp_path_factory: pytest.TempPathFactory) -> dist.DistributionReference:
    return dist.build_reference(faces, TINY_RECIPE, str(tmp_path_factory.mktemp("encoders")))


# ------------------------------------------------------------------------ statistics and FD
def random_covariance(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_feature_statistics_are_the_mean_and_unbiased_covariance() -> None:
    x = np.random.default_rng(0).normal(size=(50, 4))
    mu, sigma = dist.feature_statistics(x)
    np.testing.assert_allclose(mu, x.sum(axis=0) / 50)
    np.testing.assert_allclose(sigma, (x - mu).T @ (x - mu) / 49)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frechet_distance_matches_torch_fidelity(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    s1, s2 = random_covariance(rng, 8), random_covariance(rng, 8)
    expected = fidelity_frechet_distance(mu1, s1, mu2, s2)
    assert dist.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_closed_forms() -> None:
    rng = np.random.default_rng(3)
    sigma = random_covariance(rng, 5)
    assert dist.frechet_distance(np.zeros(5), sigma, np.zeros(5), sigma) == pytest.approx(0.0, abs=1e-8)
    # tr(S + 4S - 2 (4 S²)^½) = tr(S); a mean shift adds its squared length
    shifted = dist.frechet_distance(np.zeros(5), sigma, np.full(5, 2.0), 4 * sigma)
    assert shifted == pytest.approx(np.trace(sigma) + 20.0)
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    expected = np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert dist.frechet_distance(np.zeros(3), np.diag(s1), np.zeros(3), np.diag(s2)) == pytest.approx(expected)


def test_frechet_distance_of_rank_deficient_covariances_stays_finite() -> None:
    x = np.random.default_rng(4).normal(size=(3, 6))  # 3 samples in 6 dimensions: singular covariance
    mu, sigma = dist.feature_statistics(x)
    # square roots of round-off-sized eigenvalues: zero to about 1e-8 of the trace, not to 1e-16
    assert dist.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6 * np.trace(sigma))


# ---------------------------------------------------------------------------------------- KID
def test_polynomial_mmd_matches_torch_fidelity_and_the_explicit_sum() -> None:
    from torch_fidelity.metric_kid import kernel_mmd

    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.5, 1.0, size=(9, 3))
    ours = dist.polynomial_mmd(x, y)
    # torch-fidelity's estimator (KID's reference implementation) takes equal-size sets
    options = {"kid_kernel": "poly", "kid_kernel_poly_degree": 3, "kid_kernel_poly_gamma": None}
    expected = kernel_mmd(x, y[:7], **options, kid_kernel_poly_coef0=1)
    assert dist.polynomial_mmd(x, y[:7]) == pytest.approx(expected, rel=1e-9)

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return (a @ b / 3 + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(y[i], y[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
    xy = sum(k(a, b) for a in x for b in y) / (7 * 9)
    assert ours == pytest.approx(xx + yy - 2 * xy, rel=1e-9)


def test_kid_is_about_zero_for_one_distribution_and_positive_for_two() -> None:
    rng = np.random.default_rng(6)
    a, b, c = rng.normal(size=(300, 4)), rng.normal(size=(300, 4)), rng.normal(1.0, 1.0, size=(300, 4))
    same, _ = dist.kernel_distance(a, b, subset_size=100, subsets=20)
    other, std = dist.kernel_distance(a, c, subset_size=100, subsets=20)
    assert abs(same) < 0.05 < other and std >= 0
    assert dist.kernel_distance(a, c, subset_size=100, subsets=20) == (other, std)  # seeded subsets
    # the subset blocks of the full kernel matrices give the subsets' own MMDs
    rng = np.random.default_rng(0)
    direct = []
    for _ in range(20):
        i, j = rng.choice(300, 100, replace=False), rng.choice(300, 100, replace=False)
        direct.append(dist.polynomial_mmd(a[i], c[j]))
    assert other == pytest.approx(np.mean(direct), rel=1e-9) and std == pytest.approx(np.std(direct), rel=1e-6)


# --------------------------------------------------------------------------- precision/recall
def test_knn_radii_match_a_brute_force_sort() -> None:
    x = np.random.default_rng(7).normal(size=(30, 2))
    brute = np.sort(np.linalg.norm(x[:, None] - x[None], axis=2), axis=1)[:, 3]
    np.testing.assert_allclose(dist.knn_radii(x, 3), brute)
    with pytest.raises(ValueError, match="need more than 3 samples"):
        dist.knn_radii(x[:3], 3)


def grid(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    return np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)


def test_precision_and_recall_on_point_clouds_with_known_answers() -> None:
    side = np.linspace(0, 1, 40)
    real = grid(side, side)
    # half the real square: every sample is real (precision 1), half of the real set is covered
    half = grid(side[:20], side)
    precision, recall = dist.precision_recall(real, half)
    assert precision == 1.0 and recall == pytest.approx(0.5, abs=0.05)
    # a collapsed generator: a tight cluster in the middle of the real square
    cluster = 0.5 + np.random.default_rng(8).normal(0, 0.005, size=(200, 2))
    precision, recall = dist.precision_recall(real, cluster)
    assert precision == 1.0 and recall < 0.01
    # far away: neither
    assert dist.precision_recall(real, real + 10.0) == (0.0, 0.0)
    assert dist.precision_recall(real, real) == (1.0, 1.0)


def test_copy_shares_compare_with_the_held_out_percentiles() -> None:
    held_out = np.arange(1.0, 101.0)  # 1st percentile 1.99, 5th 5.95
    generated = np.array([0.5, 1.5, 3.0, 5.0, 50.0, 80.0, 90.0, 99.0])
    assert dist.copy_shares(generated, held_out) == {1: 2 / 8, 5: 4 / 8}
    nearest = dist.nearest_distances(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 1.0], [3.0, 0.0]]))
    np.testing.assert_allclose(nearest, [1.0, 4.0])


# ------------------------------------------------------------------------------ the encoder
def test_split_is_disjoint_fixed_and_refuses_tiny_sets() -> None:
    split = split_real(100, holdout=2000, seed=0)
    parts = [set(split.reference.tolist()), set(split.check.tolist()), set(split.train.tolist())]
    assert [len(p) for p in parts] == [20, 20, 60] and set.union(*parts) == set(range(100))
    assert torch.equal(split_real(100, 2000).train, split.train)
    with pytest.raises(enc.MetricUnavailable, match="too few"):
        split_real(19, 2000)


def test_augmented_views_keep_pixels_and_move_them() -> None:
    faces = synthetic_faces(4).float()
    views = enc.augment_views(faces, TINY_RECIPE, torch.Generator().manual_seed(0))
    assert views.shape == faces.shape and not torch.equal(views, faces)
    visible = views != 0
    # no resampling: every visible value is one of the image's own pixel values
    for view, face, seen in zip(views, faces, visible, strict=True):
        assert set(view[seen].unique().tolist()) <= set(face.unique().tolist())


def test_colour_palette_is_the_square_root_of_the_colour_histogram() -> None:
    image = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    image[0, 0, :2] = 255  # top half pure red (bin 7, 0, 0), bottom half black (bin 0, 0, 0)
    image[0, :, 3, 3] = 40  # one dark grey pixel: bin (1, 1, 1)
    palette = enc.colour_palette(image, 8)[0]
    expected = torch.zeros(512, dtype=torch.float64)
    expected[7 * 64], expected[0], expected[1 * 64 + 1 * 8 + 1] = 0.5**0.5, (7 / 16) ** 0.5, (1 / 16) ** 0.5
    torch.testing.assert_close(palette, expected)
    faces = synthetic_faces(6)
    palettes = enc.colour_palette(faces, 8)
    torch.testing.assert_close(palettes.norm(dim=1), torch.ones(6, dtype=torch.float64))  # unit vectors
    # a property of the colours alone: mirrored and shifted faces have the same palette
    torch.testing.assert_close(enc.colour_palette(faces.flip(3).roll(5, dims=2), 8), palettes)


def test_colours_per_image_counts_the_bins_in_use() -> None:
    flat = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    flat[1, :, :4] = 255  # half white: two colours
    palette = enc.colour_palette(flat, 4).numpy()
    assert dist.colours_per_image(palette) == 1.5
    assert dist.colours_per_image(np.zeros((3, 0))) == 0.0  # no palette family


def test_each_feature_family_has_unit_variance_on_the_training_faces(faces: torch.Tensor) -> None:
    recipe = EncoderRecipe(channels=(4, 8, 8, 8), projection_dim=8, steps=2, batch_size=16, holdout=24)
    encoder = train_encoder(faces[:60], recipe)
    features = enc.extract_features(encoder, faces[:60])
    assert features.shape == (60, 8 + 512) and encoder.feature_dim == 520 and encoder.content_dim == 8
    assert float(features[:, :8].var(dim=0).sum()) == pytest.approx(1.0)
    assert float(features[:, 8:].var(dim=0).sum()) == pytest.approx(1.0)
    without = EncoderRecipe(channels=(4, 8, 8, 8), projection_dim=8, steps=2, batch_size=16, palette_levels=0)
    assert enc.extract_features(train_encoder(faces[:60], without), faces[:60]).shape == (60, 8)
    assert recipe.key() != without.key()


def test_two_trainings_give_identical_encoder_bytes(faces: torch.Tensor, tmp_path: Path) -> None:
    recipe = EncoderRecipe(channels=(4, 8, 8, 8), projection_dim=8, steps=3, batch_size=16, holdout=24)
    torch.set_num_threads(2)  # the encoder must not depend on the caller's thread count
    first = train_encoder(faces[:60], recipe)
    torch.manual_seed(123)  # nor on the caller's random state
    second = train_encoder(faces[:60], recipe)
    assert torch.get_num_threads() == 2
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name
    enc.save_encoder(first, tmp_path / "a.safetensors", recipe, "id")
    enc.save_encoder(second, tmp_path / "b.safetensors", recipe, "id")
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()


def test_cache_hit_by_content_hash(
    faces: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: dist.DistributionReference
) -> None:
    recipe = EncoderRecipe(channels=(4, 8, 8, 8), projection_dim=8, steps=2, batch_size=16, holdout=24)
    first = get_encoder(faces, recipe, tmp_path)
    assert first.trained and first.path.parent == tmp_path and first.path.name.startswith(enc.ENCODER_VERSION)

    def no_training(*_: object) -> None:
        raise AssertionError("trained although the cache holds this data set's encoder")

    monkeypatch.setattr(enc, "train_encoder", no_training)
    again = get_encoder(faces.clone(), recipe, tmp_path)  # same pixels, another tensor
    assert not again.trained and again.encoder_id == first.encoder_id
    for name, tensor in first.encoder.state_dict().items():
        assert torch.equal(tensor, again.encoder.state_dict()[name])
    changed = faces.clone()
    changed[0, 0, 0, 0] ^= 1  # one pixel differs: another data set, another encoder
    with pytest.raises(AssertionError, match="trained although"):
        get_encoder(changed, recipe, tmp_path)
    other_recipe = EncoderRecipe(channels=(4, 8, 8, 8), projection_dim=8, steps=3, batch_size=16, holdout=24)
    assert enc.encoder_id(other_recipe, enc.data_hash(faces)) != first.encoder_id


def test_cache_folder_comes_from_the_flag_then_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from training.resources import ENCODER_CACHE_ENV, MetricResources

    env = {ENCODER_CACHE_ENV: str(tmp_path / "env")}
    assert MetricResources.resolve(env).encoder_cache == str(tmp_path / "env")  # resolved where a command starts
    assert MetricResources.resolve(env, encoder_cache=str(tmp_path / "arg")).encoder_cache == str(tmp_path / "arg")
    assert MetricResources.resolve({}).encoder_cache is None
    monkeypatch.setenv(ENCODER_CACHE_ENV, str(tmp_path / "ignored"))  # the library reads no environment
    assert enc.resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert enc.resolve_cache_dir() == Path(enc.DEFAULT_CACHE).expanduser()
    monkeypatch.undo()  # the default itself, not the tests' temporary one
    assert enc.resolve_cache_dir() == Path.home() / ".cache" / "anime-avatars" / "encoders"


def test_corrupted_or_missing_encoders_fail_naming_the_file(faces: torch.Tensor, tmp_path: Path) -> None:
    recipe = EncoderRecipe(channels=(4, 8, 8, 8), projection_dim=8, steps=1, batch_size=16, holdout=24)
    with pytest.raises(EncoderError, match=r"\.safetensors: no cached encoder .* training one is not allowed"):
        get_encoder(faces, recipe, tmp_path, allow_training=False)
    path = get_encoder(faces, recipe, tmp_path).path
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # flip bits in the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(EncoderError, match=f"{path.name}: .*do not match their hash .*delete it to retrain"):
        get_encoder(faces, recipe, tmp_path)
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(EncoderError, match=f"{path.name}: cached encoder is not a readable safetensors file"):
        get_encoder(faces, recipe, tmp_path)


def test_an_unwritable_cache_fails_naming_the_folder(faces: torch.Tensor, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    recipe = EncoderRecipe(channels=(4, 8, 8, 8), projection_dim=8, steps=1, batch_size=16, holdout=24)
    with pytest.raises(EncoderError, match="file/.*cannot write the trained encoder"):
        get_encoder(faces, recipe, blocker)


# ------------------------------------------------------------------------------ the ranking
def test_degradations_are_pure_and_keep_the_shape(faces: torch.Tensor) -> None:
    x = faces[:16]
    for name, degrade in VARIANTS.items():
        out = degrade(x)
        assert out.shape == x.shape and out.dtype == torch.uint8, name
    assert torch.equal(blur_to(x, 64), x)
    assert (blur_to(x, 16).float() - x.float()).abs().mean() > (blur_to(x, 32).float() - x.float()).abs().mean()
    assert (jpeg(x, 8).float() - x.float()).abs().mean() > 1
    assert len(torch.unique(repeat_faces(x, 4), dim=0)) == 4
    assert torch.equal(gaussian_noise(x), gaussian_noise(x))
    assert {name for chain in SEVERITY_CHAINS for step in chain for name in step} == set(VARIANTS)


def test_ranking_reads_the_first_lens_fd_by_default() -> None:
    rows = [{"variant": name, "ssl_fd": float(i)} for i, name in enumerate(VARIANTS)]
    assert ranks_in_order(rows)  # table order is one valid order of every chain
    rows[1]["ssl_fd"] = 0.0  # the 32 px blur ties real faces
    assert not ranks_in_order(rows)


def test_clean_faces_score_better_than_degraded_ones(reference: dist.DistributionReference) -> None:
    check = reference.check_images
    clean = reference.score(check, kid_subsets=10)
    noisy = reference.score(gaussian_noise(check), kid_subsets=10)
    collapsed = reference.score(repeat_faces(check, 2), kid_subsets=10)
    # 48 faces against 48: the palette's share of FD is mostly sampling noise, the content's is not
    assert clean["ssl_fd"] * 3 < noisy["ssl_fd"] and clean["ssl_kid"] < noisy["ssl_kid"]
    assert clean["ssl_fd_content"] * 5 < noisy["ssl_fd_content"] and clean["ssl_fd_palette"] < noisy["ssl_fd_palette"]
    assert clean["recall"] > 0.5 > noisy["recall"]
    # two real faces repeated: the real set is not covered (recall), and FD sees the lost variety
    assert collapsed["recall"] < 0.1 and clean["ssl_fd"] < collapsed["ssl_fd"]
    assert clean["encoder_version"] == enc.ENCODER_VERSION and clean["encoder_id"] == reference.encoder_id


def test_the_palette_term_sees_colour_damage(reference: dist.DistributionReference) -> None:
    check = reference.check_images
    clean = reference.score(check, kid_subsets=10)
    compressed = reference.score(jpeg(check, 5), kid_subsets=10)
    # JPEG mixes the flat colours of the cartoon faces into new ones; the palette term rises
    assert compressed["ssl_fd_palette"] > clean["ssl_fd_palette"] and compressed["ssl_fd"] > clean["ssl_fd"]
    assert compressed["colours_per_image"] > clean["colours_per_image"]
    assert clean["real_colours_per_image"] == compressed["real_colours_per_image"] > 1
    cast = check.clone()
    cast[:, 0] = (cast[:, 0].int() + 96).clamp(max=255).to(torch.uint8)  # a red cast: every colour moves
    assert reference.score(cast, kid_subsets=10)["ssl_fd_palette"] > 1.3 * clean["ssl_fd_palette"]
    # the family terms are the FDs of the two blocks of the joint features
    features = reference.features(check)
    split = reference.cached.encoder.content_dim
    mu, sigma = dist.feature_statistics(features[:, :split])
    mu_r, sigma_r = dist.feature_statistics(reference.reference[:, :split])
    assert clean["ssl_fd_content"] == pytest.approx(dist.frechet_distance(mu, sigma, mu_r, sigma_r))


def test_training_faces_are_flagged_as_copies(faces: torch.Tensor, reference: dist.DistributionReference) -> None:
    split = split_real(len(faces), TINY_RECIPE.holdout, TINY_RECIPE.seed)
    copies = reference.score(faces[split.train[:48]], kid_subsets=10)
    fresh = reference.score(reference.check_images, kid_subsets=10)
    assert copies["copies_p1"] == 1.0 and copies["copies_p5"] == 1.0
    assert fresh["copies_p5"] < 0.5


def test_run_check_writes_one_row_per_variant(faces: torch.Tensor, reference: dist.DistributionReference) -> None:
    rows = run_check(reference, faces, TINY_RECIPE, samples=24)
    assert [r["variant"] for r in rows][: len(VARIANTS)] == list(VARIANTS) and len(rows) == len(VARIANTS) + 1
    table = markdown_table(rows)
    assert table.count("\n") == len(rows) + 2 and "| real (held out) | 24 |" in table
    assert rows[-1]["copies_p1"] == 1.0  # training faces are copies by definition


# ------------------------------------------------------------------------ evaluate and train
@pytest.fixture(scope="module")
def faces_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_faces(tmp_path_factory.mktemp("synthetic-faces"), 40, seed=1)


def test_evaluate_reports_the_distribution_metric_with_its_encoder(
    tiny_weights: Path, faces_folder: Path, tmp_path: Path
) -> None:
    from training.evaluate import evaluate

    results = evaluate(
        tiny_weights, data=faces_folder, samples=12, encoder_cache=str(tmp_path), encoder_recipe=TINY_RECIPE
    )
    assert results["encoder_version"] == enc.ENCODER_VERSION and results["ssl_samples"] == 12
    assert results["ssl_real_samples"] == 8  # 40 images: 8 held back as the reference (n // 5)
    assert all(np.isfinite(results[k]) for k in ("ssl_fd", "ssl_kid", "precision", "recall", "copies_p1"))
    with pytest.raises(TypeError):
        evaluate(tiny_weights, faces_folder)  # type: ignore[misc]  # keyword-only past the weights


def test_training_logs_the_distribution_metric(
    tiny_config: Callable[..., object], faces_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training import loop
    from training.loop import train

    monkeypatch.setattr(loop, "EncoderRecipe", lambda resolution: TINY_RECIPE)
    config = tiny_config(
        data=str(faces_folder),
        max_steps=5,  # 40 images / batch 8: one epoch
        eval_every=1,
        eval_samples=8,
        distribution_metric=True,
        encoder_cache=str(tmp_path / "encoders"),
    )
    run = train(config)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["epoch"] == 1 and rows[0]["ssl_samples"] == 8
    assert rows[0]["encoder_version"] == enc.ENCODER_VERSION and "face_rate" not in rows[0]
