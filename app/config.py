"""All service settings, read once from the environment (prefix AVATARS_) or a .env file."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gan.devices import available_cpus

DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


class Settings(BaseSettings):
    """Every knob of the service; `AVATARS_<NAME>` sets `<name>` (e.g. AVATARS_MAX_BATCH_SIZE=32)."""

    model_config = SettingsConfigDict(env_prefix="AVATARS_", env_file=".env", extra="ignore")

    # model
    weights_dir: Path = Field(
        DEFAULT_WEIGHTS_DIR, description="folder of the releases: releases.json and the checkpoints it lists"
    )
    device: str = Field("auto", description="auto (CUDA when available), cpu, cuda or cuda:N")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto", description="auto: float16 on CUDA, float32 on the CPU (the only CPU choice)"
    )
    torch_threads: int = Field(
        0, ge=0, description="intra-op CPU threads for torch (0: the CPUs this process may use, CPU quota included)"
    )
    warmup: bool = Field(True, description="run a full batch (and each upscaler) before reporting ready")

    # batching engine
    max_batch_size: int = Field(64, ge=1, le=4096, description="images per forward pass")
    max_wait_ms: float = Field(
        0.0,
        ge=0,
        le=1000,
        # 0: what arrives during one forward pass forms the next batch (best on the CPU: docs/benchmarks.md)
        description="how long a batch waits to fill",
    )
    queue_max_images: int = Field(2048, ge=1, description="images waiting at most; beyond this: 503")
    # 1 s of this replica's measured work: past it a request is refused at once (503, Retry-After) rather
    # than queued behind seconds of bulk work (app/work_admission.py); cheap requests go first within a lane
    queue_wait_budget_s: float = Field(
        1.0, ge=0, description="seconds of work ahead (at the measured rate) past which a request gets 503 (0: off)"
    )
    # the HD stage (releases with an upscaler): a row costs about 9x a generator row on the CPU (bfloat16)
    upscaler_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description="auto: bfloat16 on a CPU with AMX (elsewhere it is slower than float32), float16 on CUDA",
    )
    upscale_batch_size: int = Field(16, ge=1, le=1024, description="avatars per upscaler forward pass")
    # 512 rows: about 2 s of the compact model's work on 2 cores in bfloat16 (docs/hd.md)
    upscale_queue_max_images: int = Field(
        512, ge=1, description="avatars waiting for a release's upscaler at most; beyond this: 503"
    )
    # unread answers stay in memory (10 MiB per 64-avatar 256 px JSON answer before it was streamed):
    # past this, new requests get 503 until clients read theirs (app/answers.py, docs/scaling.md)
    max_answer_bytes: int = Field(
        268_435_456,
        ge=0,
        description="bytes of answers waiting for their clients; past it new requests get 503 (0: off)",
    )
    request_timeout_s: float = Field(30.0, gt=0, description="longest a request waits for the generator")
    # about half a second of work on 2 CPU cores (574 one-seed requests/s, docs/benchmarks.md); raise it
    # with the replica's capacity (GPU nodes)
    max_inflight_requests: int = Field(
        256, ge=0, description="requests handled at once; the next gets 503 with Retry-After at once (0: no limit)"
    )
    encode_workers: int = Field(
        0, ge=0, description="threads encoding PNG/GIF (0: one per CPU this process may use, CPU quota included)"
    )
    # 1, not zlib's usual 6: on real 64 px faces 20% faster and no larger, on 256 px (upscaled) images
    # 4x faster for 7% more bytes; at 6 encoding took 30% of a request's CPU (docs/benchmarks.md)
    png_compress_level: int = Field(1, ge=0, le=9, description="zlib level of PNG responses")

    # request limits
    max_avatars_per_request: int = Field(64, ge=1, le=1024, description="items in one POST /avatars")
    max_grid: int = Field(256, ge=1, le=1024, description="largest n of GET /grid")
    max_interpolation_steps: int = Field(64, ge=2, le=256, description="largest steps of /interpolate")
    # 64 images at 256 px: the largest POST /avatars, or a 64-frame GIF at 256 px, about 0.5 s of one
    # core (python -m bench.encoders); it refuses a 256-avatar grid at 256 px (16.8 Mpx, seconds)
    max_request_pixels: int = Field(
        4_194_304,
        ge=4096,
        description="largest work of one request in pixels encoded: images x size^2, plus an HD upscaler's work",
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="larger request bodies get 413")
    max_header_bytes: int = Field(
        32_768, ge=1024, description="larger request heads (request line and headers) get 431 (`python -m app`)"
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="a request head not received within this gets 408 (`python -m app`)"
    )
    body_timeout_s: float = Field(
        10.0,
        gt=0,
        description="a request body not received within this gets 408; until then it holds no in-flight slot",
    )

    # HTTP
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated origins allowed by CORS (empty: none)"
    )
    # unversioned URLs follow the default release, so a cache may keep them only briefly: 5 minutes
    # after a new default, every cache serves it (versioned URLs are immutable: a year)
    cache_max_age_s: int = Field(300, ge=0, description="Cache-Control max-age of unversioned image URLs")
    workers: int = Field(
        1, ge=1, le=64, description="server processes of `python -m app`; each loads every release and batches alone"
    )
    host: str = Field("127.0.0.1", description="bind address of `python -m app`")
    port: int = Field(8000, ge=1, le=65535, description="port of `python -m app`")
    shutdown_timeout_s: float = Field(30.0, gt=0, description="graceful-shutdown budget for queued work")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="debug, info, warning or error")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
            raise ValueError("device must be auto, cpu, cuda or cuda:N")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @model_validator(mode="after")
    def _queue_fits_largest_request(self) -> Settings:
        largest = max(self.max_avatars_per_request, self.max_grid, self.max_interpolation_steps)
        if self.queue_max_images < largest:
            raise ValueError(
                f"queue_max_images ({self.queue_max_images}) must hold the largest request ({largest} images)"
            )
        if self.upscale_queue_max_images < largest:
            raise ValueError(
                f"upscale_queue_max_images ({self.upscale_queue_max_images}) must hold the largest request "
                f"({largest} images)"
            )
        return self

    @property
    def encode_threads(self) -> int:
        return self.encode_workers or max(1, available_cpus() // self.workers)

    @property
    def torch_thread_count(self) -> int:
        # torch's own default is the machine's core count, which in a container ignores the CPU quota;
        # several worker processes share the CPUs
        return self.torch_threads or max(1, available_cpus() // self.workers)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    if name == "weights_dir":
        return "`weights/` of this checkout"
    value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    return f"`{value}`" if value not in ("", []) else "(none)"


def settings_table() -> str:
    """Every setting as a markdown table (README.md's, checked by tests/app/test_config.py)."""
    rows = ["| variable | default | what it sets |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `AVATARS_{name.upper()}` | {_default(name)} | {field.description} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m app.config: the table README.md shows
    import sys

    sys.stdout.write(settings_table())
