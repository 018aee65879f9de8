"""How shapes are written in messages, figures, tables and generated code: one rule for all."""

from __future__ import annotations

from collections.abc import Sequence


def fmt_shape(shape: Sequence[int]) -> str:
    """`3×224×224`: the dimensions joined by the multiplication sign (the empty shape is '')."""
    return "×".join(str(d) for d in shape)
