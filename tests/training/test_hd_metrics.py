"""The HD measures on synthetic faces: each must tell a faithful upscaler from a blurring or a repainting one."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from training.metrics.hd import LANCZOS, at_size, box_down, compare, markdown, psnr, sharpness


def faces(n: int = 6, seed: int = 0) -> np.ndarray:
    """Smooth colour fields with a few hard edges: like flat anime shading, not noise."""
    rng = torch.Generator().manual_seed(seed)
    base = F.interpolate(torch.rand(n, 3, 6, 6, generator=rng), size=64, mode="bilinear", align_corners=False)
    base[:, :, 20:44, 30:34] = 0.05  # a dark stroke
    return (base * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def nearest(images: np.ndarray) -> np.ndarray:
    return images.repeat(4, axis=1).repeat(4, axis=2)


def blurred(images: np.ndarray) -> np.ndarray:
    small = at_size(images, 16)
    return at_size(small, 256)


def repainted(images: np.ndarray) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (len(images), 256, 256, 3), dtype=np.uint8)


def test_box_down_undoes_a_nearest_enlargement_exactly() -> None:
    images = faces()
    assert np.array_equal(box_down(nearest(images), 64), images)
    assert (psnr(images, images) == 100.0).all()


def test_sharpness_falls_with_blur() -> None:
    images = faces()
    assert (sharpness(blurred(images)) < sharpness(at_size(images, 256))).all()


def test_compare_ranks_faithful_blurring_and_repainting_upscalers() -> None:
    images = faces()
    rows = compare(images, {"nearest": nearest, "blurred": blurred, "repainted": repainted}, [256, 512], chunk=4)
    by = {(r["size"], r["method"]): r for r in rows}
    assert [r["method"] for r in rows[:4]] == [LANCZOS, "nearest", "blurred", "repainted"]
    for size in (256, 512):
        assert by[(size, "nearest")]["consistency_psnr_db"] > by[(size, LANCZOS)]["consistency_psnr_db"] - 1
        assert by[(size, LANCZOS)]["consistency_psnr_db"] > by[(size, "blurred")]["consistency_psnr_db"]
        assert by[(size, "blurred")]["consistency_psnr_db"] > by[(size, "repainted")]["consistency_psnr_db"]
        assert by[(size, "blurred")]["sharpness"] < by[(size, LANCZOS)]["sharpness"]
        assert "face_rate" not in by[(size, LANCZOS)]


def test_the_face_rate_is_the_share_found_at_the_served_size() -> None:
    images = faces(8)
    seen: list[int] = []

    def detector(batch: np.ndarray) -> np.ndarray:
        seen.append(batch.shape[1])
        return np.arange(len(batch)) % 4 == 0

    rows = compare(images, {"nearest": nearest}, [128], detector, chunk=3)
    assert set(seen) == {128}
    assert all(r["face_rate"] == 3 / 8 for r in rows)  # chunks of 3, 3, 2: found at 0 and 0 and 0
    assert "| 128 | nearest |" in markdown(rows) and "face rate" in markdown(rows)
