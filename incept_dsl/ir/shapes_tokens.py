"""Shape rules of the token ops (LANGUAGE.md section 11): images become token sequences ``(L, D)``
(without the batch dimension), which gain a class token and a position table, attend to each
other, and give one token back as a flat ``(D,)`` tensor.
"""

from __future__ import annotations

from typing import Any

from incept_dsl.ir.shapes import Shape, ShapeProblem, need_image, need_tokens
from incept_dsl.text import fmt_shape


def tokens_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    """C×H×W -> (H·W)×C."""
    (x,) = ins
    need_image(
        "tokens",
        x,
        hint="tokens reads the pixels of an image as a sequence, and a flat tensor has none: "
        "apply tokens before flatten (or before avgpool(global))",
    )
    c, h, w = x
    return (h * w, c)


def class_token_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    """L×D -> (L+1)×D."""
    (x,) = ins
    need_tokens("class_token", x)
    if x[1] != a["dim"]:
        raise ShapeProblem(f"class_token expects tokens of width {a['dim']}; got {x[1]}")
    return (x[0] + 1, x[1])


def pos_embedding_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    need_tokens("pos_embedding", x)
    if x != (a["length"], a["dim"]):
        raise ShapeProblem(
            f"pos_embedding holds a {a['length']}×{a['dim']} table; got tokens {fmt_shape(x)}"
        )
    return x


def attention_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    need_tokens("attention", x)
    d, heads = x[1], a["heads"]
    if d != a["dim"]:
        raise ShapeProblem(f"attention expects tokens of width {a['dim']}; got {d}")
    if d % heads:
        divisors = [str(n) for n in range(1, min(d, 64) + 1) if d % n == 0]
        raise ShapeProblem(
            f"attention cannot split the token width {d} into {heads} heads",
            hint=f"heads must divide {d}: use one of {', '.join(divisors)}"
            + (" (or a larger divisor)" if d > 64 else ""),
        )
    return x


def select_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    """L×D -> D."""
    (x,) = ins
    need_tokens("select", x)
    if not 0 <= a["index"] < x[0]:
        raise ShapeProblem(
            f"select({a['index']}) is outside the {x[0]} tokens of {fmt_shape(x)}",
            hint=f"the tokens are numbered 0 .. {x[0] - 1} (0 is the class token after "
            "class_token)",
        )
    return (x[1],)
