"""The canonical formatter: `.incept` text -> the same program, laid out one way.

Guarantees of `format_text`:

- the result parses to the same AST as the input (equal up to spans, `ast_equal`), and
  formatting it again changes nothing (idempotent);
- every comment survives, on the line of the code it followed or before the code it preceded;
- layout: 4-space indents; one statement per line; `name = value` keywords and `a + b`
  operators spaced; a blank line before and after each model; other blank lines kept (at most
  one in a row, none right inside braces); a pipeline breaks before `->` where the
  source broke it, or where a line would pass `LINE_WIDTH`; `concat`/`add`/`mul`/`residual`/
  `repeat` bodies stay on one line if written so and they fit, else one branch per line; the trailing
  `-> expect(...)` checks of a statement's lines are aligned in one column; number literals are
  kept as written; `;` is written only where the grammar needs it.

- time and memory are linear in the size of the text (the nesting depth is bounded by the
  parser's `MAX_NESTING`); `\n`, `\r\n` and a lone `\r` all end a line, the output uses `\n`.

The layout of the code is `incept_dsl.fmt_layout`'s; this module puts the comments back. Lark
drops comments while parsing, so they are collected by one regular-expression scan of the text
(the grammar's STRING and COMMENT terminals) and re-attached by source line.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from incept_dsl.fmt_layout import INDENT, LINE_WIDTH
from incept_dsl.fmt_layout import Line as _Line
from incept_dsl.fmt_layout import Writer as _Writer
from incept_dsl.frontend.parser import parse
from incept_dsl.perf import ensure_recursion_limit
from incept_dsl.source import SourceFile, Span

__all__ = ["LINE_WIDTH", "ast_equal", "format_text"]

#: An import string or a comment (the grammar's STRING and COMMENT terminals).
_STRING_OR_COMMENT = re.compile(r'"[^"\r\n]*"|#[^\r\n]*')


@dataclass(frozen=True)
class _Comment:
    pos: int
    line: int
    text: str
    own_line: bool  # nothing but whitespace before it on its line


def format_text(text: str, name: str = "<string>") -> str:
    """`text` in canonical form. Raises `InceptSyntaxError` when it does not parse."""
    ensure_recursion_limit()
    program = parse(text, name)
    src = program.span.source
    w = _Writer(src)
    w.program(program)
    return _assemble(w.out, _comments(src), src)


def ast_equal(a: Any, b: Any) -> bool:
    """Whether two ASTs are equal, ignoring spans."""
    return _strip(a) == _strip(b)


def _strip(x: Any) -> Any:
    if isinstance(x, Span):
        return None
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__, *(_strip(getattr(x, f.name)) for f in dataclasses.fields(x)))
    if isinstance(x, tuple):
        return tuple(_strip(i) for i in x)
    return x


# ---- comments ----------------------------------------------------------------------------------
def _comments(src: SourceFile) -> list[_Comment]:
    """Every comment of `src` (text that parsed), in order; one linear scan.

    In text that parsed, `"` only delimits import strings and `#` outside a string starts a
    comment that runs to the line end (`\n`, `\r\n` or `\r`), as the grammar's terminals say.
    """
    out = []
    for m in _STRING_OR_COMMENT.finditer(src.text):
        if m.group().startswith('"'):
            continue
        pos = m.start()
        line, col = src.line_col(pos)
        before = src.text[pos - col + 1 : pos]
        out.append(_Comment(pos, line, m.group().rstrip(), not before.strip()))
    return out


# ---- assembly: comments and blank lines --------------------------------------------------------
def _assemble(lines: list[_Line], comments: list[_Comment], src: SourceFile) -> str:
    """Interleave `comments` with the code `lines`; linear in lines + comments.

    A trailing comment joins the last output line that holds code of its source line; an
    own-line comment (or a trailing one whose line holds no code) goes above the first output
    line whose code comes from a later source line.
    """
    last_holder: dict[int, int] = {}  # source line -> last output line holding its code
    for i, ln in enumerate(lines):
        for number in ln.lines:
            last_holder[number] = i
    trailing: dict[int, list[str]] = {}
    own: list[_Comment] = []
    for c in comments:
        target = None if c.own_line else last_holder.get(c.line)
        if target is None:
            own.append(c if c.own_line else dataclasses.replace(c, own_line=True))
        else:
            trailing.setdefault(target, []).append(c.text)

    out: list[_Line] = []
    pending = sorted(own, key=lambda c: c.pos)
    k = 0  # pending[k:] are not placed yet
    for i, ln in enumerate(lines):
        first = min(ln.lines) if ln.lines else None
        while k < len(pending) and first is not None and pending[k].line < first:
            c = pending[k]  # an own-line comment goes above the code that followed it
            k += 1
            indent = ln.indent + INDENT if ln.closer else ln.indent
            out.append(_Line(indent, c.text, {c.line}, comment=True, blank_before=ln.blank_before))
            ln.blank_before = False
        if i in trailing:
            ln.text += "  " + "  ".join(trailing[i])
        out.append(ln)
    for c in pending[k:]:
        out.append(_Line(0, c.text, {c.line}, comment=True))

    text_lines: list[str] = []
    for i, ln in enumerate(out):
        if i > 0 and not out[i - 1].opener and not ln.closer:
            first = min(ln.lines) if ln.lines else None
            blank = ln.blank_before or (
                first is not None
                and first > 1
                and not src.line_text(first - 1).strip()
                and first - 1 > max(out[i - 1].lines, default=0)
            )
            if blank and text_lines and text_lines[-1] != "":
                text_lines.append("")
        text_lines.append((" " * ln.indent + ln.text).rstrip())
    return "\n".join(text_lines).strip("\n") + "\n" if text_lines else ""
