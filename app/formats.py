"""The image formats an avatar can be served in, each with its own URL extension and media type.

A CDN bills bytes and a game client waits for them: WebP lossless keeps PNG's exact pixels in
fewer bytes, and lossy WebP, JPEG and AVIF are far smaller at 256 px (docs/benchmarks.md,
`python -m bench.encoders`). PNG stays the default. AVIF is offered only where the installed Pillow
can write it. Every format is deterministic: the same pixels and options give the same bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import PIL
from PIL import Image, features

QUALITY_RANGE = (1, 100)


@dataclass(frozen=True)
class ImageFormat:
    name: str  # what a POST body's "format" says
    extension: str  # what a URL ends in
    media_type: str
    pillow: str  # Pillow's format name
    lossy: bool  # always lossy (quality applies); False: lossless unless a quality is given
    default_quality: int | None  # for the lossy ones
    lossy_option: bool  # a quality makes it lossy (WebP)

    def encode(self, image: Image.Image, quality: int | None, png_level: int) -> bytes:
        buffer = io.BytesIO()
        if self.pillow == "PNG":
            image.save(buffer, format="PNG", compress_level=png_level)
        elif self.pillow == "WEBP" and quality is None:
            # method 0: on v1's faces 0.2 ms and 7.3 KiB at 64 px (PNG: 0.5 ms, 9.4 KiB); method 4
            # saves another 4% (64 px) to 25% (256 px) of bytes for 15-40x the time
            image.save(buffer, format="WEBP", lossless=True, quality=100, method=0)
        elif self.pillow == "WEBP":
            image.save(buffer, format="WEBP", quality=quality, method=4)
        elif self.pillow == "JPEG":
            image.save(buffer, format="JPEG", quality=quality or self.default_quality, optimize=False)
        else:  # AVIF
            image.save(buffer, format="AVIF", quality=quality or self.default_quality, speed=8)
        return buffer.getvalue()

    @property
    def takes_quality(self) -> bool:
        return self.lossy or self.lossy_option

    @property
    def codec(self) -> str:
        """What besides the pixels decides the bytes, for the ETag. PNG's bytes are pinned by the
        golden tests; the other codecs ship inside Pillow's wheels and may encode differently after
        an upgrade, so their ETags change with Pillow's version."""
        return "" if self.pillow == "PNG" else f"pillow-{PIL.__version__}"


_ALL = (
    ImageFormat("png", "png", "image/png", "PNG", lossy=False, default_quality=None, lossy_option=False),
    ImageFormat("webp", "webp", "image/webp", "WEBP", lossy=False, default_quality=None, lossy_option=True),
    ImageFormat("jpeg", "jpg", "image/jpeg", "JPEG", lossy=True, default_quality=90, lossy_option=False),
    ImageFormat("avif", "avif", "image/avif", "AVIF", lossy=True, default_quality=80, lossy_option=False),
)
FORMATS: dict[str, ImageFormat] = {f.name: f for f in _ALL if f.pillow != "AVIF" or features.check("avif")}
BY_EXTENSION: dict[str, ImageFormat] = {f.extension: f for f in FORMATS.values()}
