"""Parse `.incept` text into the AST with lark's LALR parser (grammar: `grammars/incept.lark`).

`parse` guarantees: it returns a `Program` whose every node carries a span into `source`, or raises
`InceptSyntaxError` located at the offending token, saying in words what was expected there.
"""

from __future__ import annotations

import functools
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from incept_dsl.errors import InceptLimitError, InceptSyntaxError
from incept_dsl.frontend import ast
from incept_dsl.resources import grammar_path
from incept_dsl.source import SourceFile, Span

#: Deepest nesting of brackets a program may use (keeps the tree walkers far from Python's
#: recursion limit). Generous: the shipped architectures nest at most 6 deep.
MAX_NESTING = 200
#: Largest program text accepted, in characters.
MAX_SOURCE_CHARS = 5_000_000


@functools.cache
def _parser() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
        start=["start", "expr"],
    )


_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "SHAPE": "a shape such as 3x224x224",
    "STRING": 'a quoted path such as "blocks.incept"',
    "$END": "the end of the file",
}


@functools.cache
def _terminal_words() -> dict[str, str]:
    words = dict(_WORDS)
    for term in _parser().terminals:
        if term.name not in words and term.pattern.type == "str":
            words[term.name] = f"'{term.pattern.value}'"
    return words


def _describe(expected: set[str] | frozenset[str]) -> str:
    words = _terminal_words()
    names = sorted({words.get(t, t.lower()) for t in expected if not t.startswith("__ANON")} | {
        words.get(t, t) for t in expected if t.startswith("__ANON")
    })
    if not names:
        return "something else"
    if len(names) > 8:
        keep = [n for n in names if n in ("a name", "a number", "'->'", "'}'", "')'", "'{'")]
        names = keep or names[:8]
        return "one of " + ", ".join(names) + ", …"
    if len(names) == 1:
        return names[0]
    return "one of " + ", ".join(names[:-1]) + " or " + names[-1]


def _token_text(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    return f"'{tok.value}'"


def _syntax_error(src: SourceFile, exc: UnexpectedInput) -> InceptSyntaxError:
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        at_end = tok.type == "$END" or tok.start_pos is None
        start = len(src.text.rstrip()) if at_end else tok.start_pos
        end = tok.end_pos if tok.end_pos is not None else start
        span = src.span(start, max(end, start + (1 if start < len(src.text) else 0)))
        expected = _describe(exc.accepts or exc.expected)
        err = InceptSyntaxError(f"unexpected {_token_text(tok)}; expected {expected}", span)
        if tok.value in ("=",) and "COLON" in (exc.accepts or exc.expected):
            err.hint = "an input is declared as `input NAME: CxHxW`"
        return err
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        ch = src.text[pos] if pos < len(src.text) else ""
        what = f"character {ch!r}" if ch.strip() else "whitespace"
        err = InceptSyntaxError(f"unexpected {what}", src.span(pos, pos + 1))
        if ch == '"':
            err.hint = "strings are only used by `import \"file.incept\"` and must end on their line"
        elif ch in "[]":
            err.hint = "use parentheses for tuples, e.g. (1, 7), or a kernel literal such as 1x7"
        return err
    if isinstance(exc, UnexpectedEOF):
        return InceptSyntaxError(
            f"unexpected end of file; expected {_describe(set(exc.expected))}",
            src.span(len(src.text), len(src.text)),
        )
    return InceptSyntaxError(str(exc).splitlines()[0], src.span(0, 0))


def _check_limits(src: SourceFile) -> None:
    if len(src.text) > MAX_SOURCE_CHARS:
        raise InceptLimitError(
            f"file is {len(src.text):,} characters long; the limit is {MAX_SOURCE_CHARS:,}",
            src.span(0, 0),
        )
    depth = 0
    in_comment = in_string = False
    for i, ch in enumerate(src.text):
        if in_comment:
            in_comment = ch != "\n"
            continue
        if in_string:
            in_string = ch not in '"\n'
            continue
        if ch == "#":
            in_comment = True
        elif ch == '"':
            in_string = True
        elif ch in "({":
            depth += 1
            if depth > MAX_NESTING:
                raise InceptLimitError(
                    f"brackets nest more than {MAX_NESTING} deep", src.span(i, i + 1),
                    hint="split the program into named blocks",
                )
        elif ch in ")}":
            depth = max(0, depth - 1)


def parse(text: str, name: str = "<string>", path: Any = None) -> ast.Program:
    """Parse one file's text. Raises `InceptSyntaxError` (located) on any syntax mistake."""
    src = SourceFile(name, text, path)
    return parse_source(src)


def parse_source(src: SourceFile) -> ast.Program:
    _check_limits(src)
    try:
        tree = _parser().parse(src.text, start="start")
    except UnexpectedInput as exc:
        raise _syntax_error(src, exc) from None
    return _ToAst(src).transform(tree)


def parse_expr(text: str, name: str = "<expr>") -> ast.Expr:
    """Parse a lone expression (a `--set k=v` value, say). Raises `InceptSyntaxError`."""
    src = SourceFile(name, text)
    _check_limits(src)
    try:
        tree = _parser().parse(text, start="expr")
    except UnexpectedInput as exc:
        raise _syntax_error(src, exc) from None
    return _ToAst(src).transform(tree)


def _tok_span(src: SourceFile, tok: Token) -> Span:
    return src.span(tok.start_pos or 0, tok.end_pos or 0)


@v_args(meta=True)
class _ToAst(Transformer):
    """Lark tree -> AST. One method per grammar rule, named after it."""

    def __init__(self, src: SourceFile):
        super().__init__()
        self.src = src

    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return self.src.span(0, 0)
        return self.src.span(meta.start_pos, meta.end_pos)

    def _ts(self, tok: Token) -> Span:
        return _tok_span(self.src, tok)

    # -- file
    def start(self, meta, items):
        imports = tuple(i for i in items if isinstance(i, ast.Import))
        blocks = tuple(i for i in items if isinstance(i, ast.BlockDef))
        models = tuple(i for i in items if isinstance(i, ast.ModelDef))
        return ast.Program(imports, blocks, models, self.src.span(0, len(self.src.text)))

    def import_stmt(self, meta, children):
        (tok,) = children
        return ast.Import(tok.value[1:-1], self._span(meta))

    def block_def(self, meta, children):
        name, *rest = children
        params = rest[0] if len(rest) == 2 else ()
        body = rest[-1]
        return ast.BlockDef(name.value, params, body, self._span(meta), self._ts(name))

    def model_def(self, meta, children):
        name, *rest = children
        params: tuple = ()
        if rest and isinstance(rest[0], tuple):
            params, rest = rest[0], rest[1:]
        return ast.ModelDef(name.value, params, tuple(rest), self._span(meta), self._ts(name))

    def param_list(self, meta, children):
        return tuple(children)

    def param(self, meta, children):
        name = children[0]
        default = children[1] if len(children) > 1 else None
        return ast.Param(name.value, default, self._span(meta))

    # -- statements
    def input_stmt(self, meta, children):
        name, shape = children
        return ast.InputStmt(name.value, shape, self._span(meta), self._ts(name))

    def bind_stmt(self, meta, children):
        name, pipe = children
        return ast.Bind("bind", name.value, pipe, self._span(meta), self._ts(name))

    def output_stmt(self, meta, children):
        name, pipe = children
        return ast.Bind("output", name.value, pipe, self._span(meta), self._ts(name))

    def aux_stmt(self, meta, children):
        name, pipe, weight = children
        return ast.Bind("aux", name.value, pipe, self._span(meta), self._ts(name), weight)

    def defaults_stmt(self, meta, children):
        op, *kws = children
        return ast.Defaults(op.value, tuple(kws), self._span(meta), self._ts(op))

    # -- pipelines
    def pipeline(self, meta, children):
        return ast.Pipeline(tuple(children), self._span(meta))

    def named(self, meta, children):
        element, name = children
        return ast.Named(element, name.value, self._span(meta), self._ts(name))

    def call(self, meta, children):
        name = children[0]
        args = children[1] if len(children) > 1 else None
        return ast.Call(name.value, args, self._span(meta), self._ts(name))

    def call_args(self, meta, children):
        positional = tuple(c for c in children if not isinstance(c, ast.KwArg))
        keywords = tuple(c for c in children if isinstance(c, ast.KwArg))
        return ast.Args(positional, keywords, self._span(meta))

    def kwarg(self, meta, children):
        name, value = children
        return ast.KwArg(name.value, value, self._span(meta), self._ts(name))

    def concat_block(self, meta, children):
        return ast.Branches("concat", tuple(children), self._span(meta))

    def add_block(self, meta, children):
        return ast.Branches("add", tuple(children), self._span(meta))

    def branch(self, meta, children):
        (pipe,) = children
        return ast.Branch(None, pipe, self._span(meta))

    def labeled_branch(self, meta, children):
        label, pipe = children
        return ast.Branch(label.value, pipe, self._span(meta), self._ts(label))

    def residual_block(self, meta, children):
        args = children[0] if len(children) == 2 else None
        return ast.Residual(args, children[-1], self._span(meta))

    def repeat_block(self, meta, children):
        args, body = children
        return ast.Repeat(args, body, self._span(meta))

    def _join(self, kind, meta, children):
        names = tuple((t.value, self._ts(t)) for t in children)
        return ast.Join(kind, names, self._span(meta))

    def concat_join(self, meta, children):
        return self._join("concat", meta, children)

    def add_join(self, meta, children):
        return self._join("add", meta, children)

    def group(self, meta, children):
        (pipe,) = children
        return ast.Group(pipe, self._span(meta))

    # -- expressions
    def number(self, meta, children):
        (tok,) = children
        text = tok.value
        value: int | float
        if any(c in text for c in ".eE"):
            value = float(text)
        else:
            value = int(text)
        return ast.Num(value, self._ts(tok))

    def shape(self, meta, children):
        (tok,) = children
        return ast.ShapeLit(tuple(int(d) for d in tok.value.split("x")), self._ts(tok))

    def name(self, meta, children):
        (tok,) = children
        return ast.NameRef(tok.value, self._ts(tok))

    def true(self, meta, children):
        return ast.Bool(True, self._span(meta))

    def false(self, meta, children):
        return ast.Bool(False, self._span(meta))

    def func(self, meta, children):
        name, *args = children
        return ast.FuncCall(name.value, tuple(args), self._span(meta), self._ts(name))

    def tuple(self, meta, children):
        return ast.TupleLit(tuple(children), self._span(meta))

    def _bin(op):  # noqa: N805 - a method factory used in the class body
        def method(self, meta, children):
            left, right = children
            return ast.BinOp(op, left, right, self._span(meta))

        return method

    add = _bin("+")
    sub = _bin("-")
    mul = _bin("*")
    div = _bin("/")
    floordiv = _bin("//")
    mod = _bin("%")

    def neg(self, meta, children):
        return ast.UnaryOp("-", children[0], self._span(meta))

    def pos(self, meta, children):
        return ast.UnaryOp("+", children[0], self._span(meta))
