"""Parse `.incept` text into the AST with lark's LALR parser (grammar: `grammars/incept.lark`).

`parse` guarantees: it returns a `Program` whose every node carries a span into `source`, or raises
`InceptSyntaxError` located at the offending token, saying in words what was expected there
(`syntax_errors.py`), or `InceptLimitError` for a program past a documented limit (file size,
bracket nesting, operator nesting, size of a number). Parsing never recurses: lark's LALR parser
builds the AST bottom-up, so no input can exhaust Python's stack here.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any

import lark
from lark import Lark
from lark.exceptions import UnexpectedInput

from incept_dsl.errors import InceptLimitError
from incept_dsl.frontend import ast
from incept_dsl.frontend.ast_builder import MAX_EXPR_DEPTH, MAX_LITERAL, PARSE_STATE, ToAst, unwrap
from incept_dsl.frontend.syntax_errors import syntax_error
from incept_dsl.perf import gc_paused
from incept_dsl.resources import grammar_path
from incept_dsl.source import SourceFile

__all__ = [
    "MAX_EXPR_DEPTH",
    "MAX_LITERAL",
    "MAX_NESTING",
    "MAX_SOURCE_CHARS",
    "parse",
    "parse_expr",
    "parse_source",
]

#: Deepest nesting of brackets a program may use (keeps the tree walkers far from Python's
#: recursion limit). Generous: the shipped architectures nest at most 6 deep.
MAX_NESTING = 200
#: Largest program text accepted, in characters.
MAX_SOURCE_CHARS = 5_000_000


def _cache_path() -> str | bool:
    """Where lark keeps the analysed grammar between runs (saves ~0.2 s per process)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "incept-dsl")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    return os.path.join(folder, f"grammar-lark{lark.__version__}.cache")


@functools.cache
def _parser() -> Lark:
    """The LALR parser. It builds the AST while it parses (no parse tree), which is about twice as
    fast as building a tree first; spans come from all tokens (`keep_all_tokens`)."""
    options = dict(
        parser="lalr",
        maybe_placeholders=False,
        keep_all_tokens=True,
        start=["start", "expr"],
        transformer=ToAst(),
    )
    text = grammar_path().read_text(encoding="utf-8")
    try:
        return Lark(text, cache=_cache_path(), **options)
    except Exception:  # noqa: BLE001 - an unreadable or stale cache must not stop the compiler
        return Lark(text, **options)


_BRACKETS = re.compile(r'[(){}]|#[^\r\n]*|"[^"\r\n]*"?')


def _check_limits(src: SourceFile) -> None:
    """File size and bracket nesting, checked before parsing."""
    if len(src.text) > MAX_SOURCE_CHARS:
        raise InceptLimitError(
            f"the file is {len(src.text):,} characters long; the limit is {MAX_SOURCE_CHARS:,}",
            src.span(0, 0),
            hint="split it into files joined by `import`",
        )
    depth = 0
    for m in _BRACKETS.finditer(src.text):
        ch = m.group()
        if ch in "({":
            depth += 1
            if depth > MAX_NESTING:
                raise InceptLimitError(
                    f"brackets nest more than {MAX_NESTING} deep",
                    src.span(m.start(), m.end()),
                    hint="split the program into named blocks",
                )
        elif ch in ")}":
            depth = max(0, depth - 1)


def parse(text: str, name: str = "<string>", path: Any = None) -> ast.Program:
    """Parse one file's text. Raises `InceptSyntaxError` (located) on any syntax mistake."""
    src = SourceFile(name, text, path)
    return parse_source(src)


def parse_source(src: SourceFile) -> ast.Program:
    """Parse `src` into a `Program`; raises a located `InceptSyntaxError`/`InceptLimitError`."""
    return _run(src, "start")


def parse_expr(text: str, name: str = "<expr>") -> ast.Expr:
    """Parse a lone expression (a `--set k=v` value, say). Raises `InceptSyntaxError`."""
    return unwrap(_run(SourceFile(name, text), "expr"))


def _run(src: SourceFile, start: str) -> Any:
    _check_limits(src)
    parser = _parser()
    previous = PARSE_STATE.src, PARSE_STATE.depths
    PARSE_STATE.src, PARSE_STATE.depths = src, {}
    try:
        with gc_paused():
            return parser.parse(src.text, start=start)
    except UnexpectedInput as exc:
        end = "end of the file" if start == "start" else "end of the value"
        raise syntax_error(src, exc, parser, end) from None
    finally:
        PARSE_STATE.src, PARSE_STATE.depths = previous
