"""Avatar specs and their codes: one short, URL-safe string names one avatar exactly, edits included.

A game stores a code instead of a seed once a player has edited their avatar. The code carries
everything that decides the pixels besides the weights: the release, the source (a seed or a full
latent), the variation steps taken from it (lineage), the truncation and the edits. Every float is
stored as float32, which is what the generator computes in, and every route renders from the
decoded spec, so an avatar and the avatar of its code are the same by construction.

Layout (then base64url without padding; version 1 always starts with "A", never a digit, so a
path segment is a seed or a code by its first character):

    u8 version | u8 flags | u8 len + release name | source | [f32 truncation]
    | varint n + n x (varint noise seed, f32 strength) | varint n + n x (u8 len + name, f32 strength)
    | 2-byte BLAKE2s check

flags bit 0: the source is a latent (varint dim + dim x f32) instead of a varint seed; bit 1: a
truncation other than 1 follows. Only the standard library: the training CLI and the service share
it, and a game backend can port it in a few lines. The latent a spec draws is torch's work, in
gan/latents.py (`spec_latent`).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from gan.releases import valid_name

MAX_SEED = 2**63 - 1  # seeds are 0 <= seed < 2**63 everywhere; here so the format needs no torch (gan.latents)
CODE_VERSION = 1
MAX_CODE_CHARS = 2048  # a 128-float latent with a long lineage fits; anything longer is refused unread
MAX_VARIATIONS = 32
MAX_EDITS = 32
_CHECK_BYTES = 2
_FLAG_LATENT = 1
_FLAG_TRUNCATION = 2
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


class CodeError(ValueError):
    """A code that cannot be decoded; the message says what is wrong with it."""


def f32(value: float) -> float:
    """`value` rounded to the nearest float32, the precision a code keeps."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def canonical_edits(edits: Iterable[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
    """Edits as a code keeps them and as they are applied: float32, sorted by name, zeros dropped."""
    return tuple(sorted((name, f32(s)) for name, s in edits if s != 0.0))


@dataclass(frozen=True)
class Variation:
    """One step of lineage: child = sqrt(1 - s^2) * parent + s * noise(seed).

    With parent and noise both standard normal, the child is standard normal too, so s in [0, 1]
    reads as "how different": 0 is the parent, 1 an unrelated face.
    """

    seed: int
    strength: float


@dataclass(frozen=True)
class AvatarSpec:
    """Everything that decides an avatar's pixels, given the release's weights and directions."""

    release: str
    seed: int | None = None
    latent: tuple[float, ...] | None = None
    truncation: float = 1.0
    variations: tuple[Variation, ...] = ()
    edits: tuple[tuple[str, float], ...] = field(default=())

    def __post_init__(self) -> None:
        if (self.seed is None) == (self.latent is None):
            raise ValueError("an avatar spec needs exactly one of seed or latent")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must satisfy 0 <= seed < 2**63, got {self.seed}")
        if not 0.0 < self.truncation <= 1.0:
            raise ValueError(f"truncation must satisfy 0 < psi <= 1, got {self.truncation}")
        names = [name for name, _ in self.edits]
        if len(set(names)) != len(names):
            raise ValueError(f"an edit is named twice in {names}")

    def normalized(self) -> AvatarSpec:
        """The spec as its code keeps it: floats in float32, edits sorted by name, zero edits dropped."""
        return replace(
            self,
            latent=None if self.latent is None else tuple(f32(x) for x in self.latent),
            truncation=f32(self.truncation),
            variations=tuple(Variation(v.seed, f32(v.strength)) for v in self.variations),
            edits=canonical_edits(self.edits),
        )

    def child(self, noise_seed: int, strength: float) -> AvatarSpec:
        """A variation of this avatar; its edits are kept, so a child keeps the parent's sliders."""
        return replace(self, variations=(*self.variations, Variation(noise_seed, strength))).normalized()

    def with_edits(self, edits: dict[str, float]) -> AvatarSpec:
        return replace(self, edits=tuple(edits.items())).normalized()

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.release,
            "seed": self.seed,
            "latent": None if self.latent is None else list(self.latent),
            "truncation": self.truncation,
            "variations": [{"seed": v.seed, "strength": v.strength} for v in self.variations],
            "edits": dict(self.edits),
        }


# ------------------------------------------------------------------------------------------- codes
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) > 255:
        raise ValueError(f"{value[:20]!r}... is longer than 255 bytes")
    return bytes([len(data)]) + data


def _check(payload: bytes) -> bytes:
    return hashlib.blake2s(payload, digest_size=_CHECK_BYTES).digest()


def encode(spec: AvatarSpec) -> str:
    """The code of a spec (normalised first, so equal avatars get equal codes)."""
    spec = spec.normalized()
    flags = (_FLAG_LATENT if spec.latent is not None else 0) | (_FLAG_TRUNCATION if spec.truncation != 1.0 else 0)
    out = bytearray([CODE_VERSION, flags]) + _text(spec.release)
    if spec.latent is not None:
        out += _varint(len(spec.latent)) + struct.pack(f"<{len(spec.latent)}f", *spec.latent)
    else:
        out += _varint(spec.seed or 0)
    if spec.truncation != 1.0:
        out += struct.pack("<f", spec.truncation)
    out += _varint(len(spec.variations))
    for step in spec.variations:
        out += _varint(step.seed) + struct.pack("<f", step.strength)
    out += _varint(len(spec.edits))
    for name, strength in spec.edits:
        out += _text(name) + struct.pack("<f", strength)
    payload = bytes(out)
    return base64.urlsafe_b64encode(payload + _check(payload)).rstrip(b"=").decode("ascii")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, n: int, what: str) -> bytes:
        if self.at + n > len(self.data):
            raise CodeError(f"the code ends inside its {what}")
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk

    def varint(self, what: str) -> int:
        value = shift = 0
        while True:
            byte = self.take(1, what)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise CodeError(f"the code's {what} is too large")

    def f32(self, what: str) -> float:
        value = struct.unpack("<f", self.take(4, what))[0]
        if not math.isfinite(value):
            raise CodeError(f"the code's {what} is not finite")
        return value

    def text(self, what: str) -> str:
        n = self.take(1, what)[0]
        try:
            return self.take(n, what).decode("utf-8")
        except UnicodeDecodeError:
            raise CodeError(f"the code's {what} is not UTF-8") from None


def decode(code: str, *, max_latent_dim: int = 4096) -> AvatarSpec:
    """The spec a code names; `CodeError` (naming the problem) for anything that is not a valid code."""
    if len(code) > MAX_CODE_CHARS:
        raise CodeError(f"a code has at most {MAX_CODE_CHARS} characters, this one has {len(code)}")
    if not _ALPHABET.fullmatch(code):
        raise CodeError("a code uses only A-Z, a-z, 0-9, '-' and '_'")
    try:
        raw = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
    except ValueError:
        raise CodeError("the code is not valid base64url") from None
    if len(raw) < 3 + _CHECK_BYTES:
        raise CodeError("the code is too short")
    payload, check = raw[:-_CHECK_BYTES], raw[-_CHECK_BYTES:]
    if _check(payload) != check:
        raise CodeError("the code's check digits do not match (mistyped or cut short)")
    reader = _Reader(payload)
    version, flags = reader.take(2, "header")
    if version != CODE_VERSION:
        raise CodeError(f"code version {version} is not supported (this server reads version {CODE_VERSION})")
    if flags & ~(_FLAG_LATENT | _FLAG_TRUNCATION):
        raise CodeError(f"the code has unknown flags {flags:#x}")
    release = reader.text("release name")
    seed: int | None = None
    latent: tuple[float, ...] | None = None
    if flags & _FLAG_LATENT:
        dim = reader.varint("latent size")
        if not 1 <= dim <= max_latent_dim:
            raise CodeError(f"the code's latent has {dim} values; at most {max_latent_dim}")
        latent = tuple(reader.f32(f"latent value {i}") for i in range(dim))
    else:
        seed = reader.varint("seed")
        if seed > MAX_SEED:
            raise CodeError("the code's seed is not below 2**63")
    truncation = reader.f32("truncation") if flags & _FLAG_TRUNCATION else 1.0
    n = reader.varint("variation count")
    if n > MAX_VARIATIONS:
        raise CodeError(f"the code has {n} variation steps; at most {MAX_VARIATIONS}")
    variations = []
    for i in range(n):
        noise = reader.varint(f"variation {i} seed")
        if noise > MAX_SEED:
            raise CodeError(f"the code's variation {i} seed is not below 2**63")
        strength = reader.f32(f"variation {i} strength")
        if not 0.0 <= strength <= 1.0:
            raise CodeError(f"the code's variation {i} strength {strength:g} is outside [0, 1]")
        variations.append(Variation(noise, strength))
    n = reader.varint("edit count")
    if n > MAX_EDITS:
        raise CodeError(f"the code has {n} edits; at most {MAX_EDITS}")
    edits = [(reader.text(f"edit {i} name"), reader.f32(f"edit {i} strength")) for i in range(n)]
    if reader.at != len(payload):
        raise CodeError("the code has bytes after its end")
    if not valid_name(release):
        raise CodeError(f"the code's release name {release!r} is not a release name")
    try:
        spec = AvatarSpec(release, seed, latent, truncation, tuple(variations), tuple(edits))
    except ValueError as exc:
        raise CodeError(f"the code names an impossible avatar: {exc}") from None
    # one avatar, one code: edits out of order, repeated or zero would draw other pixels (or
    # slip past a range check) under the validators of the canonical code
    if encode(spec) != code:
        raise CodeError("the code is not in canonical form (edits sorted by name, each once, none zero)")
    return spec


def is_code(segment: str) -> bool:
    """Codes start with an ASCII letter (version 1: "A"); anything else in that place is a seed."""
    return bool(segment) and segment[0].isascii() and segment[0].isalpha()
