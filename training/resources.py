"""The files the metrics read, named once for every command.

`metric_flags` is the argparse parent parser of the flags that name them (and `--samples`), so each
flag has one spelling, one help text and one environment variable wherever a command takes it.
"""

from __future__ import annotations

import argparse

CASCADE_ENV = "AVATARS_CASCADE"
ENCODER_CACHE_ENV = "AVATARS_ENCODER_CACHE"
INCEPTION_ENV = "AVATARS_INCEPTION_WEIGHTS"
LENS_WEIGHTS_ENV = "AVATARS_SR_LENS"

_FLAGS: dict[str, dict[str, str]] = {
    "cascade": {"help": f"lbpcascade_animeface.xml, for the face rate (or ${CASCADE_ENV})"},
    "encoder-cache": {"help": f"folder of trained feature encoders (or ${ENCODER_CACHE_ENV})"},
    "sr-lens": {"help": f"second-lens weights (default: release v3's upscaler, or ${LENS_WEIGHTS_ENV})"},
}


def metric_flags(
    *names: str, samples: int | None = None, samples_help: str = "images scored"
) -> argparse.ArgumentParser:
    """A parent parser (`add_parser(..., parents=[...])`) with the named flags of `_FLAGS`, and
    `--samples` with its default when `samples` is given. A new parser per call: argparse shares a
    parent's actions with its children, so one parent would share its defaults too."""
    parent = argparse.ArgumentParser(add_help=False)
    for name in names:
        parent.add_argument(f"--{name}", **_FLAGS[name])
    if samples is not None:
        parent.add_argument("--samples", type=int, default=samples, help=f"{samples_help} (default {samples})")
    return parent
