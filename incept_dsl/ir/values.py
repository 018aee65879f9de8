"""Evaluating `.incept` expressions to values, and checking values against argument kinds.

Values are Python ints, floats, bools, tuples of values, or `Sym` for a bare name that is not a
parameter (`relu`, `same`, `global`, a block name; a `BlockRef` once bound to a block parameter).
Nothing is evaluated as Python: the evaluator walks the AST and knows exactly the operators of
LANGUAGE.md section 1 and the functions of sections 1 and 9 (`min`, `max`, `int`, `round`,
`make_divisible`).

Inside a block body the environment also holds the dimensions of the block's input
(`in_channels`, `in_height`, `in_width`, LANGUAGE.md section 8; see `input_dims`); outside one,
reading them is a located error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from incept_dsl.errors import InceptLimitError, InceptNameError, InceptTypeError, did_you_mean
from incept_dsl.frontend import ast
from incept_dsl.frontend.loader import BlockEntry, BlockTable
from incept_dsl.source import Span
from incept_dsl.text import fmt_shape

#: The largest magnitude an expression may produce (keeps `9**9**9`-style blow-ups out).
MAX_VALUE = 10**12


@dataclass(frozen=True)
class Sym:
    """A bare name that is not a parameter: an op, a block or a keyword value such as `same`."""

    name: str
    span: Span | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sym) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("Sym", self.name))

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True, eq=False, repr=False)
class BlockRef(Sym):
    """A block name bound to a block parameter, resolved where it was written (`attn = se`;
    LANGUAGE.md section 10): `-> attn` applies that `se` wherever `attn` is read. Equal only to a
    reference to the same definition (a failed application is remembered per block bound)."""

    entry: BlockEntry | None = None

    def _key(self) -> tuple[str, Any]:
        return (self.name, self.entry.key if self.entry is not None else None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BlockRef) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash(("BlockRef", *self._key()))


def bind_block(value: Any, blocks: BlockTable) -> Any:
    """`value` with a bare name that names a block visible in `blocks` (the scope where the
    value was written) resolved to that block; every other value as it is."""
    if type(value) is Sym:
        entry = blocks.lookup(value.name)
        if entry is not None:
            return BlockRef(value.name, value.span, entry)
    return value


#: The names of the dimensions of a block's input, defined inside a block body (section 8).
INPUT_DIMS = ("in_channels", "in_height", "in_width")


@dataclass(frozen=True)
class Absent:
    """The value of an input dimension that the block's input does not have (`in_height` of a
    flat tensor): reading it is an error that gives `reason`. Never a program value: `evaluate`
    raises where one is read, so none reaches an argument."""

    name: str
    reason: str
    hint: str | None = None


def input_dims(shape: tuple[int, ...], block: str) -> dict[str, int | Absent]:
    """The values of `INPUT_DIMS` for block `block` applied to a tensor of `shape` (without the
    batch dimension): C×H×W gives (C, H, W); a flat F gives `in_channels` = F; tokens L×D give
    `in_channels` = D. A dimension the tensor does not have is an `Absent` that says why."""
    if len(shape) == 3:
        return dict(zip(INPUT_DIMS, shape, strict=True))
    if len(shape) == 1:
        what, channels = f"the flat tensor {fmt_shape(shape)} (N×F)", shape[0]
    elif len(shape) == 2:  # tokens N×L×D: the channels are D (LANGUAGE.md section 8)
        what, channels = f"the token tensor {fmt_shape(shape)} (N×L×D)", shape[1]
    else:  # pragma: no cover - every tensor of the IR has one of the ranks above
        raise AssertionError(f"no input dimensions for the shape {shape}")
    dims: dict[str, int | Absent] = {"in_channels": channels}
    hint = "only images (C×H×W) have in_height and in_width; this tensor has in_channels only"
    for name, dim in (("in_height", "height"), ("in_width", "width")):
        reason = f"block '{block}' is applied to {what}, which has no {dim}"
        dims[name] = Absent(name, reason, hint)
    return dims


def _read_name(expr: ast.NameRef, env: Mapping[str, Any]) -> Any:
    """The value of a bare name: its value in `env`, else a `Sym`; an input dimension that is
    absent here, or read outside a block body, is an error."""
    if expr.id in env:
        value = env[expr.id]
        if isinstance(value, Absent):
            raise InceptNameError(
                f"'{expr.id}' is not defined here: {value.reason}", expr.span, hint=value.hint
            )
        return value
    if expr.id in INPUT_DIMS:
        raise InceptNameError(
            f"'{expr.id}' is defined only inside a block body",
            expr.span,
            hint="in_channels, in_height and in_width are the dimensions of the tensor a block "
            "is applied to, defined only inside a block body; here, write the number or use a "
            "parameter of the model",
        )
    return Sym(expr.id, expr.span)


def describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value:g}"
    if isinstance(value, tuple):
        return f"the tuple {show(value)}"
    if isinstance(value, BlockRef):
        return f"the block '{value.name}'"
    if isinstance(value, Sym):
        return f"the name '{value.name}'"
    if isinstance(value, Absent):
        return f"undefined ({value.reason})"
    return repr(value)


def show(value: Any) -> str:
    """A value as it would be written in `.incept` source."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(show(v) for v in value) + ")"
    return str(value)


#: The functions expressions may call.
FUNCTIONS = ("min", "max", "int", "round", "make_divisible")


def evaluate(expr: ast.Expr, env: Mapping[str, Any]) -> Any:
    """The value of `expr` with parameters `env`. Raises located `InceptError`s."""
    if isinstance(expr, ast.Num):
        return expr.value
    if isinstance(expr, ast.Bool):
        return expr.value
    if isinstance(expr, ast.ShapeLit):
        return tuple(expr.dims)
    if isinstance(expr, ast.NameRef):
        return _read_name(expr, env)
    if isinstance(expr, ast.TupleLit):
        return tuple(evaluate(e, env) for e in expr.items)
    if isinstance(expr, ast.UnaryOp):
        v = _number(evaluate(expr.operand, env), expr.operand.span, env, "'" + expr.op + "'")
        return -v if expr.op == "-" else v
    if isinstance(expr, ast.BinOp):
        left = _number(evaluate(expr.left, env), expr.left.span, env, f"'{expr.op}'")
        right = _number(evaluate(expr.right, env), expr.right.span, env, f"'{expr.op}'")
        return _binop(expr, left, right)
    if isinstance(expr, ast.FuncCall):
        return _func(expr, env)
    raise TypeError(f"not an expression: {expr!r}")


def _number(value: Any, span: Span, env: Mapping[str, Any], what: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, Sym):
            hint = did_you_mean(value.name, env)
            raise InceptNameError(
                f"unknown name '{value.name}' in arithmetic",
                span,
                hint=hint or "a name in an expression must be a parameter of the model or block",
            )
        raise InceptTypeError(f"{what} needs a number; got {describe(value)}", span)
    return value


def _check_size(value: int | float, span: Span) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise InceptTypeError("the expression is not a finite number", span)
    if abs(value) > MAX_VALUE:
        shown = f"{value:,}" if isinstance(value, int) else f"{value:g}"
        raise InceptLimitError(
            f"the value {shown} is too large; the limit is {MAX_VALUE:,}",
            span,
            hint="arithmetic values are bounded to catch blow-ups",
        )
    return value


def _binop(expr: ast.BinOp, a: int | float, b: int | float) -> int | float:
    op = expr.op
    if op in ("/", "//", "%") and b == 0:
        raise InceptTypeError(f"division by zero in '{op}'", expr.span)
    if op == "+":
        r = a + b
    elif op == "-":
        r = a - b
    elif op == "*":
        r = a * b
    elif op == "/":
        r = a / b
    elif op == "//":
        r = a // b
    else:
        r = a % b
    return _check_size(r, expr.span)


def _func(expr: ast.FuncCall, env: Mapping[str, Any]) -> Any:
    name = expr.name
    _check_function(expr)
    args = [_number(evaluate(a, env), a.span, env, f"{name}()") for a in expr.args]
    _check_arity(expr)
    if name in ("min", "max"):
        return min(args) if name == "min" else max(args)
    if name == "make_divisible":
        d = _divisor(args[1], expr.args[1].span) if len(args) == 2 else 8
        return _check_size(make_divisible(args[0], d), expr.span)
    (x,) = args
    return int(x) if name == "int" else int(round(x))


def make_divisible(v: int | float, d: int = 8) -> int:
    """torchvision's `_make_divisible(v, d)`: `v` rounded to the nearest multiple of `d` (half
    up), at least `d`, and never more than 10% below `v` (else one `d` more). For `d >= 1` the
    result is a multiple of `d`, at least `d`, and at least `0.9 * v`."""
    new = max(d, int(v + d / 2) // d * d)
    if new < 0.9 * v:
        new += d
    return new


def _divisor(value: int | float, span: Span) -> int:
    """The `d` of `make_divisible(v, d)`: a whole number >= 1 (a whole float is accepted)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, float) or value < 1:
        raise InceptTypeError(
            f"make_divisible()'s divisor must be a whole number of at least 1; got {show(value)}",
            span,
        )
    return value


def _check_function(expr: ast.FuncCall) -> None:
    if expr.name not in FUNCTIONS:
        hint = did_you_mean(expr.name, FUNCTIONS)
        raise InceptNameError(
            f"unknown function '{expr.name}'",
            expr.name_span,
            hint=hint or "expressions may call min, max, int, round and make_divisible",
        )


def _check_arity(expr: ast.FuncCall) -> None:
    n = len(expr.args)
    if expr.name in ("min", "max"):
        if n < 2:
            raise InceptTypeError(f"{expr.name}() takes two or more arguments; got {n}", expr.span)
    elif expr.name == "make_divisible":
        if n not in (1, 2):
            raise InceptTypeError(
                f"make_divisible() takes one or two arguments (v, d = 8); got {n}", expr.span
            )
    elif n != 1:
        raise InceptTypeError(f"{expr.name}() takes one argument; got {n}", expr.span)


def reads(expr: ast.Expr, names: frozenset[str]) -> bool:
    """Whether evaluating `expr` reads one of `names`."""
    if isinstance(expr, ast.NameRef):
        return expr.id in names
    if isinstance(expr, ast.BinOp):
        return reads(expr.left, names) or reads(expr.right, names)
    if isinstance(expr, ast.UnaryOp):
        return reads(expr.operand, names)
    if isinstance(expr, ast.FuncCall):
        return any(reads(e, names) for e in expr.args)
    if isinstance(expr, ast.TupleLit):
        return any(reads(e, names) for e in expr.items)
    return False


def check_known_parts(expr: ast.Expr, env: Mapping[str, Any], unknown: frozenset[str]) -> None:
    """Raise the mistake that evaluating `expr` would raise in a part of it that reads none of
    the `unknown` names (an unknown function, a name that is no parameter used in arithmetic,
    division by a literal zero, ...). Whatever values the unknown names get later, evaluating
    `expr` then fails too; parts that read them are left alone."""
    if not reads(expr, unknown):
        evaluate(expr, env)
        return
    if isinstance(expr, ast.BinOp | ast.UnaryOp | ast.FuncCall):
        if isinstance(expr, ast.FuncCall):
            _check_function(expr)
            operands, what = expr.args, f"{expr.name}()"
        elif isinstance(expr, ast.BinOp):
            operands, what = (expr.left, expr.right), f"'{expr.op}'"
        else:
            operands, what = (expr.operand,), f"'{expr.op}'"
        values: list[int | float | None] = []
        for e in operands:
            if reads(e, unknown):
                check_known_parts(e, env, unknown)
                values.append(None)
            else:
                values.append(_number(evaluate(e, env), e.span, env, what))
        if isinstance(expr, ast.FuncCall):
            _check_arity(expr)
            if expr.name == "make_divisible" and len(values) == 2 and values[1] is not None:
                _divisor(values[1], expr.args[1].span)
        elif isinstance(expr, ast.BinOp) and expr.op in ("/", "//", "%") and values[1] == 0:
            raise InceptTypeError(f"division by zero in '{expr.op}'", expr.span)
    elif isinstance(expr, ast.TupleLit):
        for e in expr.items:
            check_known_parts(e, env, unknown)


# ---- argument kinds ----------------------------------------------------------------------------
def _in_bounds(value: int | float, span: Span, what: str) -> None:
    """Values from the API (`params=`) skip the literal and arithmetic checks: refuse NaN, the
    infinities and magnitudes past `MAX_VALUE` here, where every argument is read."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InceptTypeError(f"{what} must be a finite number; got {value}", span)
    if abs(value) > MAX_VALUE:
        if isinstance(value, float):
            shown = f"{value:g}"
        else:  # without printing thousands of digits
            shown = f"{value:,}" if abs(value) < 10**18 else f"about 10^{len(str(abs(value))) - 1}"
        raise InceptLimitError(f"{what} is {shown}; the limit for a value is {MAX_VALUE:,}", span)


def as_int(value: Any, span: Span, what: str, minimum: int | None = None) -> int:
    """`value` as an int of magnitude at most `MAX_VALUE`; whole floats are accepted, fractions,
    NaN and infinities are an error."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InceptTypeError(f"{what} must be a whole number; got {describe(value)}", span)
    _in_bounds(value, span, what)
    if isinstance(value, float):
        if not value.is_integer():
            raise InceptTypeError(
                f"{what} must be a whole number; got {value:g}",
                span,
                hint="write integer division as `//`, or wrap the expression in int(...) or "
                "round(...)",
            )
        value = int(value)
    if minimum is not None and value < minimum:
        raise InceptTypeError(f"{what} must be at least {minimum}; got {value}", span)
    return value


def as_pair(value: Any, span: Span, what: str, minimum: int = 1) -> tuple[int, int]:
    """An int or a 2-tuple (`1x7`, `(1, k)`) as a pair of ints."""
    if isinstance(value, tuple):
        if len(value) != 2:
            raise InceptTypeError(
                f"{what} must be one number or two (H×W); got {len(value)}: {show(value)}", span
            )
        return (as_int(value[0], span, what, minimum), as_int(value[1], span, what, minimum))
    v = as_int(value, span, what, minimum)
    return (v, v)


def as_float(value: Any, span: Span, what: str) -> float:
    """`value` as a finite float of magnitude at most `MAX_VALUE`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InceptTypeError(f"{what} must be a number; got {describe(value)}", span)
    _in_bounds(value, span, what)
    return float(value)


def as_bool(value: Any, span: Span, what: str) -> bool:
    if not isinstance(value, bool):
        raise InceptTypeError(f"{what} must be true or false; got {describe(value)}", span)
    return value
