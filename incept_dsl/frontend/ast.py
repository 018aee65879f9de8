"""The AST of `.incept` programs: frozen dataclasses, each with the `span` it was parsed from.

The AST mirrors the grammar (`grammars/incept.lark`); it holds no resolved meaning. Elaboration
(`incept_dsl.ir.build`) gives it one.
"""

from __future__ import annotations

from dataclasses import dataclass

from incept_dsl.source import Span


# ---- expressions -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Num:
    value: int | float
    span: Span


@dataclass(frozen=True)
class ShapeLit:
    """`3x224x224` or `1x7`: integers joined by `x`."""

    dims: tuple[int, ...]
    span: Span


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span


@dataclass(frozen=True)
class NameRef:
    """A bare name in an expression: a parameter, or a symbol such as `relu`, `same`, `global`."""

    id: str
    span: Span


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * / // %
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class UnaryOp:
    op: str  # - or +
    operand: Expr
    span: Span


@dataclass(frozen=True)
class FuncCall:
    """`min(a, b)`, `max(a, b)`, `int(x)`, `round(x)`."""

    name: str
    args: tuple[Expr, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True)
class TupleLit:
    items: tuple[Expr, ...]
    span: Span


Expr = Num | ShapeLit | Bool | NameRef | BinOp | UnaryOp | FuncCall | TupleLit


# ---- pipelines ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class KwArg:
    name: str
    value: Expr
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Args:
    """A call's argument list: positional expressions, then keywords (order as written)."""

    positional: tuple[Expr, ...]
    keywords: tuple[KwArg, ...]
    span: Span


@dataclass(frozen=True)
class Call:
    """`op(args)`, `op`, `block(args)`, or a tensor name at the start of a binding."""

    name: str
    args: Args | None
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Branch:
    label: str | None
    pipeline: Pipeline
    span: Span
    label_span: Span | None = None


@dataclass(frozen=True)
class Branches:
    """`concat { ... }`, `add { ... }` or `mul { ... }`: branches applied to the same input."""

    kind: str  # "concat" | "add" | "mul"
    branches: tuple[Branch, ...]
    span: Span


@dataclass(frozen=True)
class Residual:
    """`residual(scale = s) { BODY }`: x + s * BODY(x)."""

    args: Args | None
    body: Pipeline
    span: Span


@dataclass(frozen=True)
class Repeat:
    """`repeat(n) { BODY }`: n copies in sequence, each with its own weights."""

    args: Args
    body: Pipeline
    span: Span


@dataclass(frozen=True)
class Join:
    """`concat(a, b)` / `add(a, b)` / `mul(a, b)` of bound tensors."""

    kind: str  # "concat" | "add" | "mul"
    names: tuple[tuple[str, Span], ...]
    span: Span


@dataclass(frozen=True)
class Group:
    pipeline: Pipeline
    span: Span


@dataclass(frozen=True)
class Named:
    """`ELEMENT as NAME`: names the element's scope. `display`: the display name of
    `ELEMENT as NAME "Display Name"` (figures show it instead of NAME; text only)."""

    element: Element
    name: str
    span: Span
    name_span: Span
    display: str | None = None
    display_span: Span | None = None


Element = Call | Branches | Residual | Repeat | Join | Group | Named


@dataclass(frozen=True)
class Pipeline:
    elements: tuple[Element, ...]
    span: Span


# ---- statements --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: Pipeline
    span: Span
    name_span: Span


@dataclass(frozen=True)
class InputStmt:
    name: str
    shape: Expr
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Bind:
    """`NAME = PIPELINE` (kind "bind"), `output NAME = ...` ("output") or `aux NAME = ... weight W`."""

    kind: str  # "bind" | "output" | "aux"
    name: str
    pipeline: Pipeline
    span: Span
    name_span: Span
    weight: Expr | None = None


@dataclass(frozen=True)
class Defaults:
    op: str
    keywords: tuple[KwArg, ...]
    span: Span
    op_span: Span


Stmt = InputStmt | Bind | Defaults | BlockDef


@dataclass(frozen=True)
class ModelDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Import:
    path: str
    span: Span


@dataclass(frozen=True)
class Program:
    """One parsed file: its imports, top-level blocks and models, in source order."""

    imports: tuple[Import, ...]
    blocks: tuple[BlockDef, ...]
    models: tuple[ModelDef, ...]
    span: Span
