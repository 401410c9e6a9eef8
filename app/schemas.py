"""Request and response models of the HTTP API, with the rules each field enforces.

Body models forbid unknown fields and take JSON numbers strictly (no "5" for 5, no true for 1).
Query models forbid unknown parameters too, so a typo such as `?trunc=0.5` is a 422, not ignored.
Bounds that depend on settings or on the loaded model (list lengths, n, steps, the latent size)
are checked by the routes with the same 422 shape; the static bounds here are the hard caps.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.formats import BY_EXTENSION, FORMATS, QUALITY_RANGE
from gan.attributes import HAIR_COLORS
from gan.codes import MAX_CODE_CHARS, MAX_EDITS
from gan.latents import MAX_SEED
from gan.releases import NAME_PATTERN

SIZES = (64, 128, 256, 512)  # 512 only where the release has an upscaler that draws it (app/errors.check_size)
LATENT_BOUND = 10.0
HARD_MAX_ITEMS = 1024

# The shapes of the text fields, as schema patterns (the routes refuse what does not match, with
# their own messages). A code is base64url with a letter first, so that a path segment is a seed or
# a code by its first character (gan/codes.py); whether it decodes, its check digits decide.
CODE_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"
SEED_OR_CODE_PATTERN = r"^(?:[0-9]+|[A-Za-z][A-Za-z0-9_-]*)$"
# a seed in an avatar URL: its digits, or one of the other spellings of the number that redirect to
# them (+42, 042, 4_2, 42.0, ' 42')
SEED_SPELLING = r" *\+?[0-9]+(?:_[0-9]+)*(?:\.0+)? *"
AVATAR_PATTERN = rf"^(?:{SEED_SPELLING}|[A-Za-z][A-Za-z0-9_-]*)$"
# one `name:strength` pair of a GET's edits; spaces only (not any whitespace), so that every regex
# engine a client or fuzzer uses reads the pattern alike
EDIT_PAIR = r" *([a-z][a-z0-9_]{0,63}) *: *([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?) *"
EDITS_PATTERN = rf"^(?:{EDIT_PAIR}(?:,{EDIT_PAIR})*)?$"


def _whole(value: Any) -> Any:
    """A float with no fractional part, as the integer it is: JSON Schema's `integer` is any such
    number (24.0 too), and bodies are strict, so they would refuse it; 24.5 still fails."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# last in an Annotated, after the bounds, so that they stay in the JSON schema as minimum and maximum
WHOLE = BeforeValidator(_whole)


def _allowed_size(value: int) -> int:
    if value not in SIZES:
        raise ValueError("size must be one of 64, 128, 256 or 512 (512: releases with an HD upscaler)")
    return value


Size = Annotated[
    int,
    AfterValidator(_allowed_size),
    WithJsonSchema({"type": "integer", "enum": list(SIZES), "default": 64}),
    Field(
        description="output side in px; larger sizes are drawn by the release's HD upscaler where it has one "
        "(GET /models: `upscaler.sizes`), else enlarged with Lanczos; 512 only with an upscaler"
    ),
    WHOLE,
]


# Truncation is computed in float32, which rounds values below about 7e-46 to 0 (every latent on the
# mean) and keeps those below 1.2e-38 only as imprecise subnormals. The bound is the round number
# the error always named, and is in the schema now (the schema said "> 0", so tiny values got a 422)
MIN_TRUNCATION = 1e-38


def _truncation_in_float32(value: float) -> float:
    if value < MIN_TRUNCATION:  # Field(ge=1e-38) would say "greater than or equal to 0.0000...01"
        raise ValueError("truncation must be at least 1e-38: it is computed in float32")
    return value


Truncation = Annotated[
    float,
    Field(
        le=1.0,
        allow_inf_nan=False,
        description="truncation psi: latents are scaled toward the mean by psi; lower = tamer, less varied "
        "(computed in float32, so at least 1e-38)",
        json_schema_extra={"minimum": MIN_TRUNCATION},
    ),
    AfterValidator(_truncation_in_float32),
]


def quality_rule(fmt: str) -> str:
    lossy = ", ".join(name for name, f in FORMATS.items() if f.takes_quality)
    return f"quality applies to {lossy}, not {fmt}"


FormatName = Literal[tuple(FORMATS)]  # type: ignore[valid-type]
Extension = Literal[tuple(BY_EXTENSION)]  # type: ignore[valid-type]
Quality = Annotated[
    Annotated[int, Field(ge=QUALITY_RANGE[0], le=QUALITY_RANGE[1]), WHOLE] | None,
    Field(description="lossy quality for webp (without it: lossless), jpeg and avif; not for png"),
]
QuerySeed = Annotated[int, Field(ge=0, le=MAX_SEED, description="0 <= seed < 2**63"), WHOLE]
BodySeed = Annotated[int, Field(ge=0, le=MAX_SEED, strict=True, description="0 <= seed < 2**63"), WHOLE]
PlayerId = Annotated[str, Field(min_length=1, max_length=128, description="any 1-128 character id")]
LatentValue = Annotated[float, Field(ge=-LATENT_BOUND, le=LATENT_BOUND, allow_inf_nan=False)]
Latent = Annotated[
    list[LatentValue],
    Field(
        min_length=1,
        max_length=4096,
        description=f"exactly latent_dim finite floats (see GET /model), each |x| <= {LATENT_BOUND:g}",
    ),
]


ReleaseField = Annotated[
    str | None,
    Field(
        pattern=NAME_PATTERN,
        max_length=32,
        description="the release that draws the avatars (GET /models); default: the default release. "
        "Store it beside the player to get exactly the same avatar later",
        examples=["v1"],
    ),
]


EditStrength = Annotated[float, Field(allow_inf_nan=False)]
Edits = Annotated[
    dict[str, EditStrength] | None,
    Field(
        max_length=MAX_EDITS,
        description='strength per latent direction, e.g. {"hair_lightness": 1.5, "explore_3": -1}; '
        "names and allowed ranges: GET /models/{release}/directions",
    ),
]
EditsQuery = Annotated[
    Annotated[str, Field(max_length=2048, json_schema_extra={"pattern": EDITS_PATTERN})] | None,
    Field(
        description="edits as name:strength pairs, e.g. hair_lightness:1.5,explore_3:-1 "
        "(names and ranges: GET /models/{release}/directions)",
    ),
]
HairColor = Literal[HAIR_COLORS]  # type: ignore[valid-type]
CodeText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_CODE_CHARS,
        description="an avatar code",
        json_schema_extra={"pattern": CODE_PATTERN},
    ),
]


class _Body(BaseModel):
    # strict: a JSON body says 5, not "5" or true; query strings are text, so _Query cannot be strict
    model_config = ConfigDict(extra="forbid", strict=True)


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageOptions(_Query):
    truncation: Truncation = 1.0
    size: Size = 64
    edits: EditsQuery = None


# ------------------------------------------------------------------------------------------ avatars
class AvatarRequest(_Body):
    """Exactly one of `seeds`, `player_ids` or `latents`.

    A player id maps to the seed int.from_bytes(sha256(id.encode('utf-8')).digest()[:8], 'big') with
    the top bit cleared, so the same player always gets the same avatar from the same model.
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            # what `_exactly_one_source` enforces, said in the schema too (clients and fuzzers read it)
            "oneOf": [
                {"required": [source], "properties": {source: {"type": "array"}}}
                for source in ("seeds", "player_ids", "latents")
            ],
            # what `_quality_needs_a_lossy_format` enforces: png (also when `format` is left out) takes no quality
            "if": {"properties": {"format": {"enum": [n for n, f in FORMATS.items() if not f.takes_quality]}}},
            "then": {"properties": {"quality": {"type": "null"}}},
            "examples": [
                {"player_ids": ["player-8d2f1c"], "size": 128},
                {"player_ids": ["player-8d2f1c"], "model": "v1"},
                {"seeds": [1, 2, 3], "truncation": 0.7},
                {"latents": [[0.1] * 128], "size": 64},  # a latent of the shipped releases: 128 values
            ],
        },
    )

    seeds: list[BodySeed] | None = Field(None, min_length=1, max_length=HARD_MAX_ITEMS)
    player_ids: list[PlayerId] | None = Field(None, min_length=1, max_length=HARD_MAX_ITEMS)
    latents: list[Latent] | None = Field(None, min_length=1, max_length=HARD_MAX_ITEMS)
    model: ReleaseField = None
    truncation: Truncation = 1.0
    size: Size = 64
    format: FormatName = Field("png", description="image format of the avatars; png is lossless and the default")
    quality: Quality = None
    edits: Edits = None
    hair_color: HairColor | None = Field(
        None,
        description="character creation: each avatar gets this measured hair colour (the release's "
        "GET /models/{release}/directions lists the colours it offers); stable per seed or player id",
    )

    @field_validator("quality")
    @classmethod
    def _quality_needs_a_lossy_format(cls, value: int | None, info: ValidationInfo) -> int | None:
        fmt = FORMATS.get(info.data.get("format", "png"))
        if value is not None and fmt is not None and not fmt.takes_quality:
            raise ValueError(quality_rule(fmt.name))
        return value

    @model_validator(mode="after")
    def _exactly_one_source(self) -> AvatarRequest:
        given = [name for name in ("seeds", "player_ids", "latents") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"exactly one of seeds, player_ids or latents is required (got {given or 'none'})")
        return self

    @property
    def count(self) -> int:
        return len(self.seeds or self.player_ids or self.latents or [])


class AvatarItem(BaseModel):
    index: int = Field(description="position in the request")
    seed: int | None = Field(None, description="the seed drawn (null for supplied latents)")
    player_id: str | None = None
    code: str = Field(description="the avatar's code: GET /models/{model}/avatars/{code}.png draws it again")
    hair_color_matched: bool | None = Field(None, description="with hair_color: whether the colour was reached")
    hair_color_same_face: bool | None = Field(
        None,
        description="with hair_color: whether this is the requested face with other hair (false: a related "
        "face of the same player, whose seed is `seed`, carries the colour, or the closest one found)",
    )
    png_base64: str | None = Field(None, description="the PNG file, base64-encoded (format png, the default)")
    image_base64: str | None = Field(None, description="the file in the requested format, base64 (other formats)")


class AvatarBatch(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "v1",
                    "model_version": "3f9c2a7d5e1b8c40",
                    "size": 64,
                    "truncation": 1.0,
                    "format": "png",
                    "media_type": "image/png",
                    "avatars": [{"index": 0, "seed": 1, "player_id": None, "png_base64": "iVBORw0KGgo..."}],
                }
            ]
        }
    )
    model: str = Field(description="the release that drew these avatars")
    model_version: str = Field(description="content hash of that release's weights")
    size: int
    truncation: float
    format: str = "png"
    media_type: str = "image/png"
    avatars: list[AvatarItem]


class AvatarQuery(ImageOptions):
    quality: Quality = None
    v: str | None = Field(
        None,
        description="pin the model version: the response is then immutable and cached for a year; "
        "a version this server does not serve is a 404, a retired release's a 410 naming its successor",
    )


# -------------------------------------------------------------------------------------------- grid
class GridQuery(ImageOptions):
    n: Annotated[int, Field(ge=1, le=HARD_MAX_ITEMS), WHOLE] = Field(
        25, description="number of avatars, at most AVATARS_MAX_GRID (256)"
    )
    seed: QuerySeed = Field(0, description="seed of the first avatar; the others follow consecutively")
    columns: Annotated[int, Field(ge=1, le=HARD_MAX_ITEMS), WHOLE] | None = Field(
        None, description="default: near-square"
    )

    @model_validator(mode="after")
    def _seeds_in_range(self) -> GridQuery:
        if self.seed + self.n - 1 > MAX_SEED:  # a rule across two fields: the schema cannot say it
            raise PydanticCustomError("seed_out_of_range", "seed + n - 1 must be below 2**63")
        return self


# ------------------------------------------------------------------------------------- interpolation
class InterpolationOptions(ImageOptions):
    steps: Annotated[int, Field(ge=2, le=HARD_MAX_ITEMS), WHOLE] = Field(
        8, description="frames, both ends included; at most 64"
    )
    mode: Literal["slerp", "lerp"] = Field("slerp", description="spherical (keeps latent norms) or linear")
    format: Literal["png", "gif"] = Field("png", description="png: one horizontal strip; gif: animation")
    frame_ms: Annotated[int, Field(ge=20, le=5000), WHOLE] = Field(
        120, description="GIF frame duration in milliseconds"
    )


class InterpolationQuery(InterpolationOptions):
    start: QuerySeed
    end: QuerySeed


class InterpolationRequest(InterpolationOptions):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # the options it inherits from the query model are strict here
        json_schema_extra={"examples": [{"start": [0.5] * 128, "end": [-0.5] * 128, "steps": 8, "format": "gif"}]},
    )
    start: Latent
    end: Latent
    model: ReleaseField = None
    edits: Edits = None  # type: ignore[assignment]  # a body takes an object, a query string text


# ---------------------------------------------------------------------------------------- creator
Strength = Annotated[
    float,
    Field(ge=0.0, le=1.0, allow_inf_nan=False, description="how different: 0 = the parent, 1 = unrelated faces"),
]


class VariationOptions(_Query):
    of: str = Field(
        min_length=1,
        max_length=MAX_CODE_CHARS,
        description="the parent: a seed (digits) or an avatar code",
        json_schema_extra={"pattern": SEED_OR_CODE_PATTERN},
    )
    n: Annotated[int, Field(ge=1, le=64), WHOLE] = Field(16, description="number of children")
    strength: Strength = 0.3
    seed: QuerySeed = Field(0, description="request seed: the same seed gives the same children")
    truncation: Truncation = Field(1.0, description="truncation of a seed parent (a code carries its own)")
    size: Size = 64


class VariationsQuery(VariationOptions):
    columns: Annotated[int, Field(ge=1, le=64), WHOLE] | None = Field(None, description="default: near-square")


class VariationsRequest(VariationOptions):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"of": "42", "n": 16, "strength": 0.3}]}
    )
    model: ReleaseField = None


class VariationItem(BaseModel):
    index: int
    code: str
    url: str


class VariationsResponse(BaseModel):
    model: str
    model_version: str
    parent: str = Field(description="the parent's code")
    strength: float
    seed: int
    variations: list[VariationItem]


CODE_SOURCES = {"seed": "integer", "player_id": "string", "latent": "array", "base": "string"}


class CodeRequest(_Body):
    """Exactly one of `seed`, `player_id`, `latent` or `base`, plus truncation and edits.

    `base` is an existing code (a picked variation, say): the new code keeps its source, lineage
    and truncation and takes `edits` in place of the base's own (omit `edits` to keep them).
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            # what `_exactly_one_source` enforces, said in the schema too; a base carries its truncation
            # each branch names its source and rules the others out (null or absent), so a branch that
            # fails on another rule (a base with a truncation) cannot leave a second source valid
            "oneOf": [
                {
                    "required": [source],
                    "properties": {source: {"type": kind}} | {o: {"type": "null"} for o in CODE_SOURCES if o != source},
                    **({"not": {"required": ["truncation"]}} if source == "base" else {}),
                }
                for source, kind in CODE_SOURCES.items()
            ],
            "examples": [{"seed": 42, "edits": {"hair_lightness": 1.5}}, {"player_id": "p-1"}],
        },
    )
    seed: BodySeed | None = None
    player_id: PlayerId | None = None
    latent: Latent | None = None
    base: CodeText | None = None
    model: ReleaseField = None
    truncation: Truncation = 1.0
    edits: Edits = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> CodeRequest:
        given = [name for name in ("seed", "player_id", "latent", "base") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"exactly one of seed, player_id, latent or base is required (got {given or 'none'})")
        if self.base is not None and "truncation" in self.model_fields_set:
            raise ValueError("a base code carries its own truncation; leave truncation out")
        return self


class Lineage(BaseModel):
    seed: int
    strength: float


class CodeResponse(BaseModel):
    code: str
    url: str = Field(description="the immutable PNG URL of the code at 64 px")
    model: str
    seed: int | None
    latent: list[float] | None
    truncation: float
    variations: list[Lineage]
    edits: dict[str, float]
    drawn_latent: list[float] = Field(
        description="the latent the generator draws (after lineage, truncation and edits): send it back as "
        "`latents` (truncation 1) for the same avatar, or use it in latent arithmetic"
    )


class DirectionInfo(BaseModel):
    name: str
    kind: Literal["explore", "attribute", "hair_color"]
    range: list[float] = Field(description="[low, high]: the strengths an edit may take")
    note: str


class DirectionsResponse(BaseModel):
    model: str
    model_version: str
    directions: list[DirectionInfo]
    hair_colors: list[str] = Field(description="the names POST /avatars takes as hair_color for this release")


# ------------------------------------------------------------------------------------------ others
class LatentResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "seed": 42,
                    "latent_dim": 4,
                    "latent": [0.33, -1.2, 0.05, 0.9],
                    "model": "v1",
                    "model_version": "3f9c2a7d5e1b8c40",
                }
            ]
        }
    )
    seed: int
    latent_dim: int
    latent: list[float] = Field(description="float32 values; send back as `latents` to get the same avatar")
    model: str
    model_version: str


class ModelResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "v1",
                    "status": "default",
                    "successor": None,
                    "loaded": True,
                    "published": "2026-11-24",
                    "device_kind": "cpu-float32",
                    "format": "anime-avatars/generator",
                    "format_version": 1,
                    "architecture": "dcgan",
                    "model_version": "3f9c2a7d5e1b8c40",
                    "file": "v1.safetensors",
                    "generator": {"latent_dim": 128, "resolution": 64, "channels": 32},
                    "card": {"recipe": {"preset": "sngan-64"}, "metrics": {"face_rate": 0.7}},
                    "runtime": {"device": "cpu", "dtype": "float32", "max_batch_size": 64},
                }
            ]
        }
    )
    name: str = Field(description="the release name used in URLs and in `model`")
    status: Literal["default", "available", "retired"]
    successor: str | None = None
    loaded: bool = True
    published: str = ""
    device_kind: str = Field(
        description="device type, dtype and, on the CPU, the class of kernels that draw this instance's images: "
        "equal kinds draw equal bytes (part of ETags)"
    )
    format: str
    format_version: int
    architecture: str
    model_version: str = Field(
        description="what decides this release's pixels: the generator's content hash, combined with the "
        "upscaler's SHA-256 where it has one (X-Model-Version, ETags)"
    )
    file: str
    generator: dict[str, Any]
    card: dict[str, Any]
    runtime: dict[str, Any]
    sizes: list[int] = Field(default=[64, 128, 256], description="the sizes (px) this release serves")
    generator_version: str | None = Field(
        None, description="the generator's own content hash, where it differs from model_version (an upscaler)"
    )
    upscaler: dict[str, Any] | None = Field(
        None,
        description="the HD upscaler: file, architecture, scale, the sizes it draws (others: Lanczos from 64 px), "
        "its SHA-256 and where its weights came from; null: every size is enlarged with Lanczos",
    )


# a retired release's entry in GET /models (named apart from `app.releases.RetiredRelease`, the 410 exception);
# no docstring, which pydantic would publish as the schema's description
class RetiredModelResponse(BaseModel):
    name: str
    status: Literal["retired"]
    model_version: str
    successor: str
    loaded: Literal[False]
    file: str


class ModelList(BaseModel):
    default: str = Field(description="the release that unversioned URLs and requests without `model` use")
    releases: list[ModelResponse | RetiredModelResponse]


class Status(BaseModel):
    status: str
    model: str | None = None
    model_version: str | None = None


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    detail: list[ErrorItem]
    message: str = Field(description="the first problem in one line, e.g. 'body.seeds.0: ...'")


class ErrorBody(BaseModel):
    detail: str


class RetiredErrorBody(BaseModel):
    detail: str
    successor: str = Field(description="the release that replaces the retired one")
