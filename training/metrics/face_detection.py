"""Anime-face detection rate: an offline quality metric that needs no downloaded network.

`lbpcascade_animeface.xml` is the detector that cropped the training faces, so the share of
generated images in which it still finds a face, next to the share for real training images
under the same settings, says how face-like the samples are. Measured on the real set it is
about 73% (see the cascade's README), noise scores 0%. Report both rates and their ratio.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.resources import CASCADE_ENV

DETECT_SIDE = 96  # upscale to this side before detection, as the cascade's reference numbers were taken


class MetricUnavailable(RuntimeError):
    """A metric that cannot run here; the message says what is missing and how to supply it."""


def resolve_cascade(path: str | os.PathLike[str] | None) -> Path:
    """The cascade file, which must exist. $AVATARS_CASCADE is read at the edge (training/resources.py)."""
    chosen = path
    if not chosen:
        raise MetricUnavailable(
            f"face metric: no cascade file given; pass --cascade PATH or set {CASCADE_ENV} "
            "(lbpcascade_animeface.xml, e.g. ../shared/models/lbpcascade_animeface.xml)"
        )
    resolved = Path(chosen)
    if not resolved.is_file():
        raise MetricUnavailable(f"face metric: cascade file {resolved} not found")
    return resolved


@dataclass
class FaceDetector:
    cascade_path: Path
    min_neighbors: int = 3
    scale_factor: float = 1.05

    def __post_init__(self) -> None:
        import cv2  # optional dependency of training only

        self._cv2 = cv2
        try:
            self._cascade = cv2.CascadeClassifier(str(self.cascade_path))
        except (cv2.error, SystemError) as exc:
            raise MetricUnavailable(f"face metric: {self.cascade_path} is not an OpenCV cascade file") from exc
        if self._cascade.empty():
            raise MetricUnavailable(f"face metric: {self.cascade_path} is not an OpenCV cascade file")

    def detect(self, images: np.ndarray) -> np.ndarray:
        """images: N x H x W x 3 uint8 RGB -> N booleans, True where at least one face is found."""
        cv2 = self._cv2
        found = np.zeros(len(images), dtype=bool)
        min_side = DETECT_SIDE // 3
        for i, image in enumerate(images):
            big = cv2.resize(image, (DETECT_SIDE, DETECT_SIDE), interpolation=cv2.INTER_CUBIC)
            gray = cv2.equalizeHist(cv2.cvtColor(big, cv2.COLOR_RGB2GRAY))
            faces = self._cascade.detectMultiScale(
                gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(min_side, min_side)
            )
            found[i] = len(faces) > 0
        return found

    def rate(self, images: np.ndarray) -> float:
        return float(self.detect(images).mean()) if len(images) else 0.0
