"""The AST builder: lark's parse callbacks, one per grammar rule, that make the
`incept_dsl.frontend.ast` nodes, each with its span, while the LALR parser reduces (no parse tree
is built).

Also enforces the limits met while building: an expression's operator depth (`MAX_EXPR_DEPTH`),
the size of a number (`MAX_LITERAL`), and printable import paths. `incept_dsl.frontend.parser`
runs the parser and sets `PARSE_STATE` (the file being parsed) around each parse.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lark import Token, Transformer, Tree

from incept_dsl.errors import InceptImportError, InceptLimitError
from incept_dsl.frontend import ast
from incept_dsl.frontend.display_names import display_name, first_control_char
from incept_dsl.source import SourceFile, Span

#: Deepest nesting of operators in one expression (`-(-(-x))`, `1+1+...+1`): the AST walkers
#: recurse on expressions, so a chain of thousands of operators must be an error, not a crash.
MAX_EXPR_DEPTH = 200
#: Largest magnitude a number literal may have (the same bound as arithmetic results).
MAX_LITERAL = 10**12

#: Terminals that carry meaning; every other token (keywords, brackets, `->`) is punctuation.
_KEPT = frozenset({"NAME", "NUMBER", "SHAPE", "STRING"})


class _State(threading.local):
    """The file being parsed by this thread (the parser's callbacks build spans into it) and the
    operator depth of its compound expressions so far."""

    src: SourceFile | None = None
    depths: dict[int, int] = {}  # noqa: RUF012 - replaced per parse


PARSE_STATE = _State()


def _tok_span(src: SourceFile, tok: Token) -> Span:
    return src.span(tok.start_pos or 0, tok.end_pos or 0)


@dataclass(frozen=True)
class _Paren:
    """A parenthesised expression while parsing: the expression, and the extent with parens."""

    inner: Any
    start: int
    end: int


def unwrap(node: Any) -> Any:
    """`node` without the parentheses around it, if any."""
    return node.inner if type(node) is _Paren else node


def _bounds(children: list[Any]) -> tuple[int, int] | None:
    """The character range covered by a rule's children (tokens, AST nodes, parens), if any."""
    start = end = None
    for c in children:
        start = _start_of(c)
        if start is not None:
            break
    for c in reversed(children):
        end = _end_of(c)
        if end is not None:
            break
    if start is None or end is None:
        return None
    return start, end


def _start_of(c: Any) -> int | None:
    if type(c) is Token:
        return c.start_pos
    if type(c) is _Paren:
        return c.start
    span = getattr(c, "span", None)
    if span is not None:
        return span.start
    if isinstance(c, tuple) and c:  # a parameter list
        return _start_of(c[0])
    return None


def _end_of(c: Any) -> int | None:
    if type(c) is Token:
        return c.end_pos
    if type(c) is _Paren:
        return c.end
    span = getattr(c, "span", None)
    if span is not None:
        return span.end
    if isinstance(c, tuple) and c:
        return _end_of(c[-1])
    return None


def _rule(method: Callable[..., Any]) -> Callable[..., Any]:
    """Adapt an AST-building method to lark's callback: `method(self, span, kids)` gets the rule's
    span (all its tokens, parens included) and its meaningful children (punctuation dropped,
    parenthesised expressions unwrapped)."""

    @functools.wraps(method)
    def callback(self: ToAst, children: list[Any]) -> Any:
        src = PARSE_STATE.src
        assert src is not None
        bounds = _bounds(children)
        span = src.span(*bounds) if bounds is not None else src.span(0, 0)
        kids = [
            c.inner if type(c) is _Paren else c
            for c in children
            if type(c) is not Token or c.type in _KEPT
        ]
        return method(self, src, span, kids)

    return callback


def _bin(op: str) -> Callable[..., Any]:
    """The `ToAst` method for the binary operator `op`."""

    @_rule
    def method(self, src, span, children):
        left, right = children
        return _deep(ast.BinOp(op, left, right, span), children)

    return method


def _joining(kind: str, join: bool = False) -> Callable[..., Any]:
    """The `ToAst` method for `kind { ... }` (branches of one input) or, with `join`,
    `kind(a, b, ...)` of bound tensors; `kind` is concat, add or mul."""

    @_rule
    def method(self, src, span, children):
        if join:
            return ast.Join(kind, tuple((t.value, _tok_span(src, t)) for t in children), span)
        return ast.Branches(kind, tuple(children), span)

    return method


class ToAst(Transformer):
    """Parse callbacks -> AST. One method per grammar rule, named after it.

    Lark calls these while it reduces (no parse tree is built). Every method gets the source, the
    rule's span and its meaningful children; rules starting with `_` are inlined by lark.
    """

    def __default__(self, data: str, children: list[Any], meta: Any) -> Any:
        return Tree(data, children)  # `_item`, `_stmt`, ...: lark splices their children

    # -- file
    @_rule
    def start(self, src, span, items):
        imports = tuple(i for i in items if isinstance(i, ast.Import))
        blocks = tuple(i for i in items if isinstance(i, ast.BlockDef))
        models = tuple(i for i in items if isinstance(i, ast.ModelDef))
        return ast.Program(imports, blocks, models, src.span(0, len(src.text)))

    @_rule
    def import_stmt(self, src, span, children):
        (tok,) = children
        path = tok.value[1:-1]
        i = first_control_char(path)
        if i is not None:
            at = (tok.start_pos or 0) + 1 + i
            raise InceptImportError(
                f"the import path contains the control character U+{ord(path[i]):04X}",
                src.span(at, at + 1),
                hint="file names in imports are printable text; rename the file",
            )
        return ast.Import(path, span)

    @_rule
    def block_def(self, src, span, children):
        name, *rest = children
        params = rest[0] if len(rest) == 2 else ()
        body = rest[-1]
        return ast.BlockDef(name.value, params, body, span, _tok_span(src, name))

    @_rule
    def model_def(self, src, span, children):
        name, *rest = children
        params: tuple = ()
        if rest and isinstance(rest[0], tuple):
            params, rest = rest[0], rest[1:]
        return ast.ModelDef(name.value, params, tuple(rest), span, _tok_span(src, name))

    @_rule
    def param_list(self, src, span, children):
        return tuple(children)

    @_rule
    def param(self, src, span, children):
        name = children[0]
        default = children[1] if len(children) > 1 else None
        return ast.Param(name.value, default, span)

    # -- statements
    @_rule
    def input_stmt(self, src, span, children):
        name, shape = children
        return ast.InputStmt(name.value, shape, span, _tok_span(src, name))

    @_rule
    def bind_stmt(self, src, span, children):
        name, pipe = children
        return ast.Bind("bind", name.value, pipe, span, _tok_span(src, name))

    @_rule
    def output_stmt(self, src, span, children):
        name, pipe = children
        return ast.Bind("output", name.value, pipe, span, _tok_span(src, name))

    @_rule
    def aux_stmt(self, src, span, children):
        name, pipe, weight = children
        return ast.Bind("aux", name.value, pipe, span, _tok_span(src, name), weight)

    @_rule
    def defaults_stmt(self, src, span, children):
        op, *kws = children
        return ast.Defaults(op.value, tuple(kws), span, _tok_span(src, op))

    # -- pipelines
    @_rule
    def pipeline(self, src, span, children):
        return ast.Pipeline(tuple(children), span)

    @_rule
    def named(self, src, span, children):
        element, name, *display = children
        if not display:
            return ast.Named(element, name.value, span, _tok_span(src, name))
        text, where = display_name(src, display[0])
        return ast.Named(element, name.value, span, _tok_span(src, name), text, where)

    @_rule
    def call(self, src, span, children):
        name = children[0]
        args = children[1] if len(children) > 1 else None
        return ast.Call(name.value, args, span, _tok_span(src, name))

    @_rule
    def call_args(self, src, span, children):
        positional = tuple(c for c in children if not isinstance(c, ast.KwArg))
        keywords = tuple(c for c in children if isinstance(c, ast.KwArg))
        return ast.Args(positional, keywords, span)

    @_rule
    def kwarg(self, src, span, children):
        name, value = children
        return ast.KwArg(name.value, value, span, _tok_span(src, name))

    concat_block = _joining("concat")
    add_block = _joining("add")
    mul_block = _joining("mul")

    def mul_word(self, children: list[Token]) -> Token:
        """`mul` where no `{` or `(` follows: the name `mul`, exactly as v1 read it."""
        (tok,) = children
        return Token.new_borrow_pos("NAME", tok.value, tok)

    @_rule
    def branch(self, src, span, children):
        (pipe,) = children
        return ast.Branch(None, pipe, span)

    @_rule
    def labeled_branch(self, src, span, children):
        label, pipe = children
        return ast.Branch(label.value, pipe, span, _tok_span(src, label))

    @_rule
    def residual_block(self, src, span, children):
        args = children[0] if len(children) == 2 else None
        return ast.Residual(args, children[-1], span)

    @_rule
    def repeat_block(self, src, span, children):
        args, body = children
        return ast.Repeat(args, body, span)

    concat_join = _joining("concat", join=True)
    add_join = _joining("add", join=True)
    mul_join = _joining("mul", join=True)

    @_rule
    def group(self, src, span, children):
        (pipe,) = children
        return ast.Group(pipe, span)

    # -- expressions
    def atom(self, children: list[Any]) -> _Paren:
        """`( expr )`: the expression keeps its own span; the parens count for its parent's."""
        lpar, inner, rpar = children
        return _Paren(unwrap(inner), lpar.start_pos, rpar.end_pos)

    @_rule
    def number(self, src, span, children):
        (tok,) = children
        text = tok.value
        value: int | float
        if any(c in text for c in ".eE"):
            value = float(text)
            too_big = not math.isfinite(value) or abs(value) > MAX_LITERAL
        else:
            digits = text.lstrip("0")
            too_big = len(digits) > 13 or int(digits or "0") > MAX_LITERAL
            value = 0 if too_big else int(text)
        if too_big:
            raise InceptLimitError(
                f"the number {_clip(text)} is too large; the limit is {MAX_LITERAL:,}",
                _tok_span(src, tok),
            )
        return ast.Num(value, _tok_span(src, tok))

    @_rule
    def shape(self, src, span, children):
        (tok,) = children
        dims = tok.value.split("x")
        for d in dims:
            if len(d.lstrip("0")) > 13 or int(d) > MAX_LITERAL:
                raise InceptLimitError(
                    f"the dimension {_clip(d)} is too large; the limit is {MAX_LITERAL:,}",
                    _tok_span(src, tok),
                )
        return ast.ShapeLit(tuple(int(d) for d in dims), _tok_span(src, tok))

    @_rule
    def name(self, src, span, children):
        (tok,) = children
        return ast.NameRef(tok.value, _tok_span(src, tok))

    @_rule
    def true(self, src, span, children):
        return ast.Bool(True, span)

    @_rule
    def false(self, src, span, children):
        return ast.Bool(False, span)

    @_rule
    def func(self, src, span, children):
        name, *args = children
        return _deep(ast.FuncCall(name.value, tuple(args), span, _tok_span(src, name)), args)

    @_rule
    def tuple(self, src, span, children):
        return _deep(ast.TupleLit(tuple(children), span), children)

    add = _bin("+")
    sub = _bin("-")
    mul = _bin("*")
    div = _bin("/")
    floordiv = _bin("//")
    mod = _bin("%")

    @_rule
    def neg(self, src, span, children):
        return _deep(ast.UnaryOp("-", children[0], span), children)

    @_rule
    def pos(self, src, span, children):
        return _deep(ast.UnaryOp("+", children[0], span), children)


def _deep(node: Any, operands: list[Any]) -> Any:
    """Record `node`'s operator depth; past `MAX_EXPR_DEPTH` it is an `InceptLimitError`.

    Depths are kept by object id for this parse only (every node lives until the parse ends)."""
    table = PARSE_STATE.depths
    depth = 1 + max((table.get(id(o), 0) for o in operands), default=0)
    if depth > MAX_EXPR_DEPTH:
        raise InceptLimitError(
            f"the expression nests more than {MAX_EXPR_DEPTH} operators deep",
            node.span,
            hint="compute the value in steps, with parameters",
        )
    table[id(node)] = depth
    return node


def _clip(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
