"""The small program the preview tests serve (two models, one import)."""

from __future__ import annotations

BLOCKS = """\
block mixed(a, b) = concat {
    conv(a, 1)
    conv(b, 1) -> conv(b, 3)
}
"""

PROGRAM = """\
import "parts.incept"

model tiny(classes = 10) {
    input image: 3x16x16
    defaults conv(bn = true, act = relu)

    output logits = image
        -> conv(STEM, 3) as stem
        -> mixed(8, 16) as mix
        -> avgpool(global) -> flatten -> linear(classes) as fc
}

model other {
    input x: 3x8x8
    output y = x -> conv(4, 3) as only
}
"""


def program_text(stem: int = 16) -> str:
    """The test program with `stem` channels in its first conv."""
    return PROGRAM.replace("STEM", str(stem))
