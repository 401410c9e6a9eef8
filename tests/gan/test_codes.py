"""Avatar codes: exact round trips, canonical form, and a clear error for anything else."""

from __future__ import annotations

import base64

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gan.codes import (
    MAX_CODE_CHARS,
    AvatarSpec,
    CodeError,
    Variation,
    decode,
    encode,
    f32,
    is_code,
)
from gan.latents import MAX_SEED, apply_edits, base_latent, seed_latent, spec_latent, truncate

names = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)
strengths = st.floats(-5, 5, allow_nan=False, width=32)
specs = st.builds(
    AvatarSpec,
    release=st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
    seed=st.integers(0, MAX_SEED),
    truncation=st.floats(0.125, 1.0, width=32),
    variations=st.lists(st.builds(Variation, st.integers(0, MAX_SEED), st.floats(0, 1, width=32)), max_size=4).map(
        tuple
    ),
    edits=st.dictionaries(names, strengths, max_size=5).map(lambda d: tuple(d.items())),
)


@given(specs)
def test_every_spec_round_trips_exactly(spec: AvatarSpec) -> None:
    code = encode(spec)
    assert decode(code) == spec.normalized()
    assert encode(decode(code)) == code  # canonical: one avatar, one code
    assert is_code(code) and code[0] == "A"


def test_latent_codes_keep_every_float32_bit() -> None:
    latent = tuple(torch.randn(128, generator=torch.Generator().manual_seed(3)).tolist())
    spec = AvatarSpec("v1", latent=latent, truncation=0.7)
    back = decode(encode(spec))
    assert back.latent == tuple(f32(x) for x in latent)
    assert torch.equal(base_latent(back, 128), torch.tensor(latent, dtype=torch.float32))


def test_a_plain_seed_code_is_short_and_draws_the_seeds_latent() -> None:
    spec = AvatarSpec("v1", seed=2**62 + 12345)
    assert len(encode(spec)) <= 24
    assert torch.equal(spec_latent(spec, {}, 128), seed_latent(spec.seed or 0, 128))


def test_edit_order_does_not_change_the_code_or_the_latent() -> None:
    directions = {"a": torch.randn(8), "b": torch.randn(8)}
    one = AvatarSpec("v1", seed=5, edits=(("a", 1.0), ("b", -0.5)))
    two = AvatarSpec("v1", seed=5, edits=(("b", -0.5), ("a", 1.0)))
    assert encode(one) == encode(two)
    assert torch.equal(spec_latent(decode(encode(one)), directions, 8), spec_latent(decode(encode(two)), directions, 8))


def test_edits_follow_truncation_and_batch_rows_equal_single_rows() -> None:
    directions = {"a": torch.randn(16)}
    spec = AvatarSpec("v1", seed=9, truncation=0.5, edits=(("a", 2.0),)).normalized()
    expected = seed_latent(9, 16) * 0.5 + 2.0 * directions["a"]
    assert torch.allclose(spec_latent(spec, directions, 16), expected)
    batch = apply_edits(truncate(torch.stack([seed_latent(s, 16) for s in (8, 9, 10)]), 0.5), spec.edits, directions)
    assert torch.equal(batch[1], spec_latent(spec, directions, 16))


def test_a_child_keeps_the_prior_and_its_strength_means_distance() -> None:
    parent = AvatarSpec("v1", seed=1)
    assert torch.equal(base_latent(parent.child(7, 0.0), 64), base_latent(parent, 64))
    far = base_latent(parent.child(7, 1.0), 64)
    assert torch.equal(far, seed_latent(7, 64))
    near, farther = (base_latent(parent.child(7, s), 64) for s in (0.2, 0.6))
    z = base_latent(parent, 64)
    assert (near - z).norm() < (farther - z).norm()
    grandchild = parent.child(7, 0.3).child(8, 0.3)
    assert len(decode(encode(grandchild)).variations) == 2  # lineage travels in the code


def _raw(code: str) -> bytes:
    return base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))


def _recode(payload: bytes) -> str:
    import hashlib

    check = hashlib.blake2s(payload, digest_size=2).digest()
    return base64.urlsafe_b64encode(payload + check).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("mangle", "problem"),
    [
        (lambda c: c[:-3], "check digits"),
        (lambda c: c[:5] + ("B" if c[5] != "B" else "C") + c[6:], "check digits"),
        (lambda c: c + "!", "uses only"),
        (lambda c: "A" * (MAX_CODE_CHARS + 1), "at most"),
        (lambda c: "AQ", "too short"),
        (lambda c: _recode(b"\x09" + _raw(c)[1:-2]), "version 9"),
        (lambda c: _recode(_raw(c)[:-2] + b"\x00"), "bytes after"),
        (lambda c: _recode(_raw(c)[:-4]), "ends inside"),
    ],
)
def test_malformed_codes_say_what_is_wrong(mangle, problem: str) -> None:
    code = encode(AvatarSpec("v1", seed=123456, edits=(("explore_1", 1.5),)))
    with pytest.raises(CodeError, match=problem):
        decode(mangle(code))


def test_non_canonical_and_nameless_codes_are_refused() -> None:
    payload = _raw(encode(AvatarSpec("v1", seed=1, edits=(("a", 1.0),))))[:-2]
    head, tail = payload[: -(1 + 2 + 4)], payload[-(2 + 4) :]  # edit count, then b"\x01a" + f32
    with pytest.raises(CodeError, match="named twice"):
        decode(_recode(head + b"\x02" + tail + tail))  # the same edit twice
    nameless = _raw(encode(AvatarSpec("v1", seed=1)))[:-2].replace(b"\x02v1", b"\x00", 1)
    with pytest.raises(CodeError, match="not a release name"):
        decode(_recode(nameless))


def test_impossible_values_inside_a_well_formed_code_are_refused() -> None:
    good = _raw(encode(AvatarSpec("v1", seed=1, truncation=0.5)))[:-2]
    # the truncation float is the 4 bytes after release and seed: make it 2.0
    at = good.index(b"v1") + 2 + 1
    bad = good[:at] + bytes.fromhex("00000040") + good[at + 4 :]
    with pytest.raises(CodeError, match="impossible avatar"):
        decode(_recode(bad))


def test_the_code_format_needs_only_the_standard_library() -> None:
    """What the module docstring promises: a game backend (or the studio's codes.js) can port it."""
    import subprocess
    import sys
    from pathlib import Path

    check = "import sys, gan.codes; assert 'torch' not in sys.modules, 'gan.codes imported torch'"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", check], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
