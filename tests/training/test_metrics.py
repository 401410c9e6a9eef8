from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from training.metrics.face_detection import DETECT_SIDE, FaceDetector, MetricUnavailable, resolve_cascade
from training.metrics.fid import fid_kid, frechet_distance, resolve_inception_weights
from training.resources import MetricResources

SHARED_CASCADE = Path(__file__).resolve().parents[3] / "shared" / "models" / "lbpcascade_animeface.xml"


# ------------------------------------------------------------------------ Frechet arithmetic
def test_frechet_of_identical_gaussians_is_zero() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    sigma = a @ a.T + np.eye(6)
    assert frechet_distance(np.ones(6), sigma, np.ones(6), sigma) == pytest.approx(0.0, abs=1e-9)


def test_frechet_of_a_mean_shift_is_the_squared_distance() -> None:
    sigma = np.diag([1.0, 2.0, 3.0])
    assert frechet_distance(np.zeros(3), sigma, np.array([1.0, 2.0, 2.0]), sigma) == pytest.approx(9.0)


def test_frechet_of_diagonal_covariances_matches_the_closed_form() -> None:
    mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([0.5, 0.0, 1.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    # ||mu1 - mu2||^2 + sum_i (sqrt(s1_i) - sqrt(s2_i))^2
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected)


def test_frechet_of_scaled_covariance_matches_the_closed_form() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 5))
    sigma = a @ a.T + np.eye(5)
    # tr(S + 4S - 2 (4 S^2)^(1/2)) = tr(S) (1 + 4 - 4) = tr(S)
    assert frechet_distance(np.zeros(5), sigma, np.zeros(5), 4 * sigma) == pytest.approx(np.trace(sigma))


# ----------------------------------------------------------------------------- FID wiring
@pytest.fixture(scope="session")
def random_inception(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A locally made stand-in for torch-fidelity's Inception file: same tensors, random values."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    with pytest.MonkeyPatch.context() as patch:  # build the network, skip reading weights: keep the random init
        patch.setattr(torch, "load", lambda *a, **k: {})
        patch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state, *a, **k: None)
        torch.manual_seed(0)
        model = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path="unused")
    # give batch norm real statistics, or the random network maps every image to nearly the same features
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8))
    path = tmp_path_factory.mktemp("inception") / "weights-inception-random.pth"
    torch.save(model.state_dict(), path)
    return path


def test_fid_and_kid_run_offline_from_a_local_file(random_inception: Path) -> None:
    torch.manual_seed(0)
    real = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    other = (torch.rand(10, 3, 32, 32) * 60).to(torch.uint8)  # a very different, dark set
    weights = resolve_inception_weights(random_inception)
    same = fid_kid(real, real, weights, batch_size=10, cuda=False)
    different = fid_kid(other, real, weights, batch_size=10, cuda=False)
    assert same["fid"] == pytest.approx(0.0, abs=1e-3)
    assert different["fid"] > same["fid"] + 1e-3 and different["kid"] > same["kid"]


def test_missing_inception_weights_fail_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AVATARS_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(MetricUnavailable, match="no Inception weights; download .* --inception-weights PATH"):
        resolve_inception_weights(None)
    assert resolve_inception_weights(None, allow_download=True) is None
    with pytest.raises(MetricUnavailable, match="missing.pth not found"):
        resolve_inception_weights(tmp_path / "missing.pth")
    monkeypatch.setenv("AVATARS_INCEPTION_WEIGHTS", str(tmp_path / "env.pth"))
    with pytest.raises(MetricUnavailable, match="no Inception weights"):
        resolve_inception_weights(None)  # the library reads no environment...
    with pytest.raises(MetricUnavailable, match="env.pth not found"):
        resolve_inception_weights(MetricResources.resolve().inception_weights)  # ...the command's edge does


class _Payload:
    def __reduce__(self):  # what a malicious weights file would carry
        return (print, ("code ran",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_inception_files_that_need_the_full_unpickler_are_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pth"
    with evil.open("wb") as f:
        pickle.dump({"fc.weight": _Payload()}, f)
    with pytest.raises(MetricUnavailable, match="not a plain state dict"):
        resolve_inception_weights(evil)
    unrelated = tmp_path / "unrelated.pth"
    torch.save({"w": torch.zeros(1)}, unrelated)
    with pytest.raises(MetricUnavailable, match="does not hold torch-fidelity's Inception-v3 weights"):
        resolve_inception_weights(unrelated)


# -------------------------------------------------------------------------- face detection
def opencv_cascade() -> Path:
    import cv2

    return Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"


def test_noise_has_no_faces() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (20, 64, 64, 3), dtype=np.uint8)
    detector = FaceDetector(opencv_cascade())
    assert detector.rate(noise) == 0.0
    assert detector.detect(noise).shape == (20,)


class _Cascade:
    """Stands in for OpenCV's classifier: 'finds' a face in images whose top-left pixel is white."""

    def __init__(self) -> None:
        self.sides: list[tuple[int, int]] = []

    def detectMultiScale(self, gray: np.ndarray, **kwargs: object) -> list[tuple[int, int, int, int]]:  # noqa: N802
        self.sides.append(gray.shape)
        return [(0, 0, 40, 40)] if gray[0, 0] > 128 else []


def test_each_image_is_flagged_by_its_own_detections() -> None:
    """A detector that never found a face would fail here: the rate follows what the cascade finds."""
    detector = FaceDetector(opencv_cascade())
    detector._cascade = _Cascade()  # type: ignore[assignment]
    images = np.zeros((5, 64, 64, 3), dtype=np.uint8)
    images[[1, 4], :8, :8] = 255
    assert detector.detect(images).tolist() == [False, True, False, False, True]
    assert detector.rate(images) == pytest.approx(0.4)
    assert set(detector._cascade.sides) == {(DETECT_SIDE, DETECT_SIDE)}  # upscaled before detection
    assert detector.rate(images[:0]) == 0.0


def test_cascade_path_problems_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AVATARS_CASCADE", raising=False)
    with pytest.raises(MetricUnavailable, match="no cascade file given"):
        resolve_cascade(None)
    with pytest.raises(MetricUnavailable, match="nope.xml not found"):
        resolve_cascade(tmp_path / "nope.xml")
    junk = tmp_path / "junk.xml"
    junk.write_text("<opencv_storage></opencv_storage>")
    with pytest.raises(MetricUnavailable, match="is not an OpenCV cascade file"):
        FaceDetector(junk)


@pytest.mark.skipif(not SHARED_CASCADE.is_file(), reason="needs ../shared/models/lbpcascade_animeface.xml")
def test_anime_cascade_finds_drawn_faces_and_not_noise() -> None:
    """The shipped v1 generator's faces (72% detected at export, on 1,000 samples) are found; noise is not."""
    from app.config import DEFAULT_WEIGHTS_DIR
    from app.inference import AvatarModel
    from gan.latents import seeds_latents
    from gan.releases import read_manifest

    manifest = read_manifest(DEFAULT_WEIGHTS_DIR)
    model = AvatarModel.load(manifest.file_of(manifest.get("v1")), device="cpu")  # type: ignore[arg-type]
    faces = model.render(seeds_latents(range(64), model.latent_dim))
    detector = FaceDetector(resolve_cascade(SHARED_CASCADE))
    assert 0.5 <= detector.rate(faces) <= 1.0
    noise = np.random.default_rng(1).integers(0, 256, (10, 64, 64, 3), dtype=np.uint8)
    assert detector.rate(noise) == 0.0
