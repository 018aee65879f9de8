"""Elaboration at another input size (`input_shape=` / `--input`): `expect` states the shapes at
the declared size, so at another size it checks only the rank and the channels."""

from __future__ import annotations

import pytest
from helpers import model

from incept_dsl.errors import InceptShapeError

PROGRAM = """
model m {
    input image: 3x32x32
    x = image -> conv(8, 3, stride = 2) -> expect(8x16x16) -> flatten -> expect(2048)
    output y = x -> linear(4)
}
"""


def test_declared_size_checks_every_dimension():
    m = model(PROGRAM)
    assert m.outputs == {"y": (4,)}
    with pytest.raises(InceptShapeError, match="expect failed: expected 8×15×15"):
        model(PROGRAM.replace("expect(8x16x16)", "expect(8x15x15)"))


def test_other_size_checks_channels_only():
    m = model(PROGRAM, input_shape=(3, 64, 64))
    g = m.graph
    assert g.shape(g.by_scope("flatten_1")) == (8 * 32 * 32,)


def test_other_size_still_checks_channels():
    with pytest.raises(InceptShapeError, match="expected 9 channels"):
        model(PROGRAM.replace("expect(8x16x16)", "expect(9x16x16)"), input_shape=(3, 64, 64))


def test_same_size_given_explicitly_checks_everything():
    with pytest.raises(InceptShapeError, match="expect failed"):
        model(PROGRAM.replace("expect(2048)", "expect(2047)"), input_shape=(3, 32, 32))
