"""The files the metrics read, named once for every command and resolved at the edge.

`metric_flags` is the argparse parent parser of the flags that name them (and `--samples`), so each
flag has one spelling, one help text and one environment variable wherever a command takes it.
`MetricResources.from_args` resolves them where a command starts: the flag, else its documented
environment variable. Library code takes the resolved object (or plain paths) and reads no
environment, so what a function does depends on its arguments only.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass

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


_ENV = {
    "cascade": CASCADE_ENV,
    "encoder_cache": ENCODER_CACHE_ENV,
    "inception_weights": INCEPTION_ENV,
    "sr_lens": LENS_WEIGHTS_ENV,
}


@dataclass(frozen=True)
class MetricResources:
    """Where the metrics find their files; None: the metric's own default (the encoder cache folder
    in ~/.cache, release v3's upscaler as the second lens) or, where there is none, its refusal."""

    cascade: str | None = None  # lbpcascade_animeface.xml
    encoder_cache: str | None = None  # folder of trained feature encoders (and second-lens features)
    inception_weights: str | None = None  # torch-fidelity's Inception-v3 weights, for FID/KID
    sr_lens: str | None = None  # the second lens's weights
    # the names an environment variable filled, not a flag: an optional metric skips a missing file
    # named there (a default for every command) where it refuses one a flag named
    from_environment: frozenset[str] = frozenset()

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, **flags: str | None) -> MetricResources:
        """Each file from its flag, else its environment variable (`$AVATARS_CASCADE`, ...), else None."""
        environ = os.environ if environ is None else environ
        values: dict[str, str | None] = {}
        from_environment = set()
        for name, variable in _ENV.items():
            values[name] = flags.get(name) or None
            if values[name] is None and environ.get(variable):
                values[name] = environ[variable]
                from_environment.add(name)
        return cls(**values, from_environment=frozenset(from_environment))

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> MetricResources:
        """The resources a command's parsed flags name (flags it does not have count as not given)."""
        return cls.resolve(environ, **{name: getattr(args, name, None) for name in _ENV})

    def required(self, name: str) -> bool:
        """Whether a missing file `name` names is an error (a flag named it) rather than a skipped metric."""
        return name not in self.from_environment
