"""The metric files a command names: its flags (one parent parser) and their environment variables,
resolved at the command's edge; the library below reads no environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.cli import build_parser
from training.evaluate import EvaluateOptions, evaluate
from training.metrics.face_detection import MetricUnavailable
from training.resources import CASCADE_ENV, ENCODER_CACHE_ENV, MetricResources, metric_flags


def test_a_flag_wins_then_the_environment_fills_in() -> None:
    env = {CASCADE_ENV: "env.xml", ENCODER_CACHE_ENV: "env-cache"}
    both = MetricResources.resolve(env, cascade="flag.xml")
    assert (both.cascade, both.encoder_cache, both.inception_weights) == ("flag.xml", "env-cache", None)
    assert both.required("cascade") and not both.required("encoder_cache")
    assert MetricResources.resolve(env, cascade="").cascade == "env.xml"  # an empty flag is no flag
    assert MetricResources.resolve({}) == MetricResources()


def test_commands_resolve_their_own_flags_and_the_rest_from_the_environment() -> None:
    env = {CASCADE_ENV: "env.xml", ENCODER_CACHE_ENV: "env-cache"}
    args = build_parser().parse_args(["directions", "v1", "--data", "d", "--cascade", "c.xml"])
    assert MetricResources.from_args(args, env) == MetricResources(
        cascade="c.xml", encoder_cache="env-cache", from_environment=frozenset({"encoder_cache"})
    )  # directions has no --encoder-cache: the environment's still counts, as it did inside the library


def test_each_parent_is_its_own_so_defaults_never_leak() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("a", parents=[metric_flags("cascade", samples=1000)])
    sub.add_parser("b", parents=[metric_flags("cascade", samples=2000)])
    assert parser.parse_args(["a"]).samples == 1000 and parser.parse_args(["b"]).samples == 2000


def test_a_missing_cascade_from_the_environment_skips_the_face_rate_and_from_a_flag_stops(
    tiny_weights: Path, tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing.xml")
    skipped = evaluate(tiny_weights, options=EvaluateOptions(samples=4, resources=MetricResources.resolve(
        {CASCADE_ENV: missing})))  # fmt: skip
    assert "face_rate" not in skipped and skipped["samples"] == 4
    with pytest.raises(MetricUnavailable, match="missing.xml not found"):
        evaluate(tiny_weights, options=EvaluateOptions(samples=4, resources=MetricResources(cascade=missing)))
    with pytest.raises(MetricUnavailable, match="missing.xml not found"):
        evaluate(tiny_weights, samples=4, cascade=missing)  # keywords: the options' fields, as before
    with pytest.raises(TypeError):
        evaluate(tiny_weights, options=EvaluateOptions(), samples=4)
