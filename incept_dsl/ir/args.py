"""Arguments of calls: matching them to parameters, and reading their values against the op table
(`incept_dsl.ir.ops`: each argument's kind and valid range, the rules between arguments).

Elaboration (`incept_dsl.ir.build`, where every value is known) and the check of pipelines without
shapes (`incept_dsl.ir.static`, where a block's parameters are unknown) both use these functions,
so a mistake that both find is reported in the same words and `InceptErrors` keeps one copy.

The functions that read a whole call append every mistake they find to a list the caller owns, so
one call reports all of its independent mistakes (an unknown keyword *and* a bad value); an
argument whose own mistake was reported becomes `FAILED`, so that nothing downstream reports a
consequence of it (such as a "missing" argument).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from incept_dsl.errors import (
    InceptError,
    InceptLimitError,
    InceptTypeError,
    close_matches,
    did_you_mean,
)
from incept_dsl.frontend import ast
from incept_dsl.frontend.signatures import (
    ACTIVATIONS,
    REQUIRED,
    Arg,
    Range,
    Signature,
)
from incept_dsl.frontend.synonyms import synonym_hint
from incept_dsl.ir import values as V
from incept_dsl.ir.arg_mistakes import unknown_keyword
from incept_dsl.ir.limits import MAX_CHANNELS, MAX_REPEAT
from incept_dsl.source import Span


class _Marker:
    """A value that is not a program value (`UNKNOWN`, `FAILED`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: A value known only when a block is applied (a block parameter, in the check without shapes).
UNKNOWN: Any = _Marker("UNKNOWN")
#: An argument whose own mistake has been reported: nothing is checked against it.
FAILED: Any = _Marker("FAILED")


def collect(errors: list[InceptError], fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)`, or `FAILED` with its `InceptError` appended to `errors`: one check among
    several independent ones, each reported."""
    try:
        return fn(*args)
    except InceptError as err:
        errors.append(err)
        return FAILED


#: Matched arguments: parameter name -> (value, span of the value's expression).
Bound = dict[str, tuple[Any, Span]]
#: Evaluates an argument expression (raising a located `InceptError`), or gives `UNKNOWN`.
ValueOf = Callable[[ast.Expr], Any]


def is_known(value: Any) -> bool:
    """Whether `value` is a program value (neither `UNKNOWN` nor `FAILED`)."""
    return value is not UNKNOWN and value is not FAILED


def bind_args(
    names: Sequence[str],
    args: ast.Args | None,
    what: str,
    value_of: ValueOf,
    errors: list[InceptError],
) -> Bound:
    """Match the positional and keyword arguments of a call of `what` to the parameter `names`.

    Returns what was given, each value from `value_of` with the span of its expression; a value
    whose evaluation failed is `FAILED`. Too many positional arguments, an unknown keyword and a
    keyword given twice are appended to `errors` (every one of them), and the rest is still bound.
    """
    out: Bound = {}
    if args is None:
        return out
    if len(args.positional) > len(names):
        extra = args.positional[len(names)]
        errors.append(
            InceptTypeError(
                f"'{what}' takes at most {len(names)} positional argument"
                f"{'s' if len(names) != 1 else ''}; got {len(args.positional)}",
                extra.span,
                hint=f"its parameters are: {', '.join(names)}" if names else None,
            )
        )
    for name, expr in zip(names, args.positional, strict=False):
        out[name] = (_evaluate(value_of, expr, errors), expr.span)
    for kw in args.keywords:
        if kw.name not in names:
            errors.append(unknown_keyword(what, kw, names))
        elif kw.name in out:
            errors.append(InceptTypeError(f"'{what}' got two values for '{kw.name}'", kw.name_span))
        else:
            out[kw.name] = (_evaluate(value_of, kw.value, errors), kw.value.span)
    return out


def _evaluate(value_of: ValueOf, expr: ast.Expr, errors: list[InceptError]) -> Any:
    try:
        return value_of(expr)
    except InceptError as err:
        errors.append(err)
        return FAILED


def misspelt(args: ast.Args | None, names: Sequence[str]) -> frozenset[str]:
    """The parameters among `names` that an unknown keyword of the call may be a misspelling of
    (the did-you-mean candidates): a missing one is that keyword, already reported."""
    if args is None:
        return frozenset()
    out: set[str] = set()
    for kw in args.keywords:
        if kw.name not in names:
            out.update(close_matches(kw.name, names, 3))
    return frozenset(out)


def has_unknown_keyword(args: ast.Args | None, names: Sequence[str]) -> bool:
    """Whether the call gives a keyword that is none of `names` (reported by `bind`)."""
    return args is not None and any(kw.name not in names for kw in args.keywords)


def op_args(
    sig: Signature,
    given: Bound,
    defaults: Mapping[str, tuple[Any, Span]] | None,
    span: Span,
    errors: list[InceptError],
    misspelt: frozenset[str] = frozenset(),
    unknown_keyword: bool = False,
) -> dict[str, Any]:
    """The canonical value of every argument of `sig` in a call at `span`.

    A value is the one given in the call, else the model's `defaults` for the op (`None`: the
    model is not known here, so such an argument is `UNKNOWN`), else the signature's default.
    Values that are `UNKNOWN` or `FAILED` stay so. Every mistake is appended to `errors`: a value
    of the wrong kind or outside its valid range, a missing required argument (unless it is in
    `misspelt`: an unknown keyword of the call, already reported, is probably it), and arguments
    that break one of the op's rules together (checked when all of them are known, and not when
    one took its default in a call with an `unknown_keyword`, which may be that argument
    misspelt: `upsample(zize = 4x4)` is one mistake, not two).
    """
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    for arg in sig.args:
        what = f"{sig.name}'s '{arg.name}'"
        if arg.name in given:
            value, spans[arg.name] = given[arg.name]
            values[arg.name] = _read(arg, value, spans[arg.name], what, errors)
        elif defaults is None:
            values[arg.name] = UNKNOWN
        elif arg.name in defaults:
            value, where = defaults[arg.name]
            values[arg.name] = _read(arg, value, where, what, errors)
        elif arg.default is REQUIRED:
            if arg.name not in misspelt:
                required = ", ".join(p.name for p in sig.args if p.default is REQUIRED)
                errors.append(
                    InceptTypeError(
                        f"'{sig.name}' needs its argument '{arg.name}'",
                        span,
                        hint=f"{sig.name}({required}, ...)",
                    )
                )
            values[arg.name] = FAILED
        elif arg.default in ("kernel", "auto", "same", "none"):
            values[arg.name] = None if arg.default == "none" else arg.default
        else:
            values[arg.name] = read_arg(arg, arg.default, span, arg.name)
    for rule in sig.constraints:
        args = [values[name] for name in rule.args]
        guessed = unknown_keyword and any(name not in given for name in rule.args)
        if all(is_known(v) for v in args) and not guessed:
            problem = rule.problem(*args)
            if problem is not None:
                places = [spans[name] for name in rule.args if name in spans]
                errors.append(
                    InceptTypeError(problem, places[-1] if places else span, hint=rule.hint)
                )
    return values


def _read(arg: Arg, value: Any, span: Span, what: str, errors: list[InceptError]) -> Any:
    if not is_known(value):
        return value
    try:
        return read_arg(arg, value, span, what)
    except InceptError as err:
        errors.append(err)
        return FAILED


def read_arg(arg: Arg, value: Any, span: Span, what: str) -> Any:
    """`value` read as `arg`'s kind and checked against its valid range; raises a located
    `InceptError` that names the valid values. `none` is the value of an argument whose default
    is none (`upsample(scale = none)`)."""
    if arg.default == "none" and isinstance(value, V.Sym) and value.name == "none":
        return None
    out = convert(arg.kind, value, span, what)
    if arg.valid is not None:
        check_range(arg.valid, out, span, what)
    return out


def check_range(valid: Range, value: Any, span: Span, what: str) -> None:
    """Raise when a number (or a component of a pair) of `value` is outside `valid`; symbols such
    as `same` or `auto` are not numbers and pass."""
    parts = value if isinstance(value, tuple) else (value,)
    for v in parts:
        if isinstance(v, int | float) and not isinstance(v, bool) and not valid.accepts(v):
            raise InceptTypeError(
                f"{what} must be {valid.text}; got {V.show(value)}", span, hint=valid.why
            )


#: Argument kinds that take one of a few names: kind -> the names.
CHOICES: dict[str, tuple[str, ...]] = {
    "drop_mode": ("row", "batch"),
    "resize_mode": ("nearest", "bilinear"),
}


def _choice(kind: str, value: Any, span: Span, what: str) -> str:
    names = CHOICES[kind]
    listed = " or ".join(names)
    if isinstance(value, str) and value in names:  # a signature's default
        return value
    if isinstance(value, V.Sym):
        if value.name in names:
            return value.name
        raise InceptTypeError(
            f"{what} must be {listed}; got '{value.name}'",
            span,
            hint=did_you_mean(value.name, list(names)),
        )
    raise InceptTypeError(f"{what} must be {listed}; got {V.describe(value)}", span)


def convert(kind: str, value: Any, span: Span, what: str) -> Any:
    """Check `value` against an argument kind and return its canonical form."""
    if kind == "count":
        n = V.as_int(value, span, what, 1)
        if n > MAX_CHANNELS:
            raise InceptLimitError(f"{what} is {n:,}; the limit is {MAX_CHANNELS:,}", span)
        return n
    if kind == "int":
        return V.as_int(value, span, what)
    if kind == "pair":
        return V.as_pair(value, span, what)
    if kind == "pair0":
        return V.as_pair(value, span, what, 0)
    if kind == "float":
        return V.as_float(value, span, what)
    if kind == "bool":
        return V.as_bool(value, span, what)
    if kind == "bias":
        if isinstance(value, V.Sym) and value.name == "auto":
            return "auto"
        return V.as_bool(value, span, what)
    if kind == "padding":
        if isinstance(value, V.Sym):
            if value.name in ("same", "valid"):
                return value.name
            hint = did_you_mean(value.name, ["same", "valid"])
            raise InceptTypeError(
                f"{what} must be same, valid, a number or a pair; got '{value.name}'",
                span,
                hint=hint,
            )
        return V.as_pair(value, span, what, 0)
    if kind == "pool_kernel":
        if isinstance(value, V.Sym) and value.name == "global":
            return "global"
        return V.as_pair(value, span, what)
    if kind in CHOICES:
        return _choice(kind, value, span, what)
    if kind == "act":
        if isinstance(value, V.Sym):
            if value.name in ("none", "identity"):
                return None
            if value.name in ACTIVATIONS:
                return value.name
            names = [*ACTIVATIONS, "none"]
            hint = synonym_hint(value.name, names) or did_you_mean(value.name, names)
            raise InceptTypeError(
                f"{what} must be one of {', '.join(ACTIVATIONS)} or none; got '{value.name}'",
                span,
                hint=hint,
            )
        raise InceptTypeError(f"{what} must be an activation name; got {V.describe(value)}", span)
    if kind == "shape":
        return value
    raise AssertionError(kind)  # pragma: no cover


def expect_shape(given: Bound, span: Span) -> tuple[int, ...] | Any:
    """The shape an `expect` asserts (`UNKNOWN` when not known yet); raises when it is missing
    or not a shape of whole numbers >= 1."""
    if "shape" not in given:
        raise InceptTypeError("expect needs the shape it asserts, e.g. expect(64x56x56)", span)
    value, where = given["shape"]
    if not is_known(value):
        return value
    dims = value if isinstance(value, tuple) else (value,)
    return tuple(V.as_int(d, where, "an expected dimension", 1) for d in dims)


def repeat_count(given: Bound, span: Span) -> int | Any:
    """The count of a `repeat` (`UNKNOWN` when not known yet); raises when it is missing, not a
    whole number >= 0, or past `MAX_REPEAT`."""
    if "n" not in given:
        raise InceptTypeError("repeat needs a count: repeat(n) { ... }", span)
    value, where = given["n"]
    if not is_known(value):
        return value
    n = V.as_int(value, where, "the repeat count", 0)
    if n > MAX_REPEAT:
        raise InceptLimitError(f"repeat({n}) is more than the limit of {MAX_REPEAT}", where)
    return n


def residual_scale(given: Bound) -> float | Any:
    """The `scale` of a `residual` (1.0 by default; `UNKNOWN` when not known yet)."""
    if "scale" not in given:
        return 1.0
    value, where = given["scale"]
    return V.as_float(value, where, "residual scale") if is_known(value) else value


#: The parameters of `repeat(n)` and `residual(scale = s)`.
REPEAT_PARAMS = ("n",)
RESIDUAL_PARAMS = ("scale",)
EXPECT_PARAMS = ("shape",)
