"""How shapes and counts are written in messages, figures, tables and generated code: one rule
for all."""

from __future__ import annotations

from collections.abc import Sequence


def fmt_shape(shape: Sequence[int]) -> str:
    """`3×224×224`: the dimensions joined by the multiplication sign (the empty shape is '')."""
    return "×".join(str(d) for d in shape)


def human_count(x: int) -> str:
    """A count as a reader skims it: 864, 9.4K, 23.5M, 4.1G."""
    for div, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "K")):
        if x >= div:
            v = x / div
            return f"{v:.1f}{suffix}" if v < 100 else f"{v:.0f}{suffix}"
    return str(x)
