"""The formatter on language v2 (LANGUAGE.md sections 8-12): `mul { }`, `make_divisible`,
`in_channels` and every v2 op round-trip (tests/golden/fmt/v2_ops.incept, checked with the other
golden cases in tests/test_fmt.py), and the formatted program is the same network."""

from __future__ import annotations

import re
from pathlib import Path

import incept_dsl
from incept_dsl.fmt import format_text
from incept_dsl.frontend.signatures_v2 import V2_SIGNATURES

CASE = Path(__file__).resolve().parent / "golden" / "fmt" / "v2_ops.incept"


def test_the_v2_case_uses_every_v2_op_and_construct() -> None:
    text = CASE.read_text(encoding="utf-8")
    names = set(re.findall(r"[A-Za-z_]\w*", text))
    assert {sig.name for sig in V2_SIGNATURES} <= names
    assert {
        "hardswish",
        "hardsigmoid",
        "leaky_relu",
        "mul",
        "make_divisible",
        "in_channels",
    } <= names
    assert "mul{" in text and "mul(" in text  # the join both ways


def test_the_formatted_v2_program_is_the_same_network() -> None:
    text = CASE.read_text(encoding="utf-8")
    out = format_text(text, CASE.name)
    assert out != text
    before = incept_dsl.loads(text, name=CASE.name)
    after = incept_dsl.loads(out, name=CASE.name)
    assert after.outputs == before.outputs
    assert after.summary().total == before.summary().total
    assert after.to_dot(expand=True) == before.to_dot(expand=True)
