"""The vocabulary of op signatures: an argument's kind, default and valid range, the rules between
arguments, and the `Signature` of a surface op. `incept_dsl.frontend.signatures` lists the ops.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REQUIRED = object()

#: The smallest positive normal float32. A smaller `eps` or `k` becomes 0 (or a subnormal, which
#: flush-to-zero CPU kernels treat as 0) in float32 arithmetic and ONNX's float attributes, and
#: the layer divides by zero.
FLOAT32_TINY = 1.1754943508222875e-38
#: The largest finite float32.
FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class Range:
    """The valid values of a numeric argument (each component of a pair): `lo <= v <= hi`, with
    `<` on an open end; `None` leaves that end unbounded. NaN and infinities are never valid.

    `text` completes "must be ..." in the error message; `why` (the hint) says what PyTorch or
    onnxruntime would do with a value outside the range.
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    text: str = ""
    why: str | None = None

    def accepts(self, value: float) -> bool:
        """Whether `value` is finite and inside the range."""
        if not math.isfinite(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return not (self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi))


@dataclass(frozen=True)
class Constraint:
    """A rule over several arguments of one op, checked once all of `args` have known values.

    `problem` takes their canonical values (in the order of `args`) and returns what is wrong, in
    words, or None when they fit together.
    """

    args: tuple[str, ...]
    problem: Callable[..., str | None]
    hint: str | None = None


@dataclass(frozen=True)
class Arg:
    """One argument of a surface op: name, kind (how values are read: `incept_dsl.ir.args`),
    default, and the range of valid values (None: every value of the kind)."""

    name: str
    kind: str
    default: Any = REQUIRED
    valid: Range | None = None


@dataclass(frozen=True)
class Signature:
    """A surface op: its arguments, aliases, a one-line doc, the rules between its arguments, and
    whether its output has its input's shape for every argument value (`keeps_shape`: after a
    mistake in its arguments the elements after it can still be shape-checked)."""

    name: str
    args: tuple[Arg, ...]
    aliases: tuple[str, ...] = ()
    doc: str = ""
    constraints: tuple[Constraint, ...] = ()
    keeps_shape: bool = False
    arg_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arg_names", tuple(a.name for a in self.args))
