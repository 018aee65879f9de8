"""Display names: `ELEMENT as NAME "Display Name"` (a v2 extension, see docs/language.md).

A display name is text only: figures show it instead of NAME, escaped for every output; it
changes no scope, name or state-dict key. The elaborator records it in the IR as
`graph.data["display_names"][scope path]`.
"""

from __future__ import annotations

import unicodedata

from lark import Token

from incept_dsl.errors import InceptSyntaxError
from incept_dsl.source import SourceFile, Span

#: Unicode categories refused in a string of a program (an import path, a display name):
#: controls (tab, ESC, NUL, ...), format characters (bidi overrides, zero-width), surrogates, and
#: the line/paragraph separators.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def first_control_char(text: str) -> int | None:
    """The index of the first character of `text` in a refused category, or None."""
    return next(
        (i for i, c in enumerate(text) if unicodedata.category(c) in _CONTROL_CATEGORIES), None
    )


#: The longest display name (`ELEMENT as NAME "Display Name"`), in characters.
MAX_DISPLAY_NAME = 80


def display_name(src: SourceFile, tok: Token) -> tuple[str, Span]:
    """The text of a display name token and its span; `InceptSyntaxError` for an empty one,
    one longer than `MAX_DISPLAY_NAME`, or one with a control character."""
    start = tok.start_pos or 0
    where = src.span(start, start + len(tok.value))
    text = tok.value[1:-1]
    at = first_control_char(text)
    bad = None if at is None else text[at]
    problem = (
        "is empty"
        if not text.strip()
        else f"is {len(text)} characters long (at most {MAX_DISPLAY_NAME})"
        if len(text) > MAX_DISPLAY_NAME
        else f"contains the control character U+{ord(bad):04X}"
        if bad is not None
        else None
    )
    if problem is not None:
        raise InceptSyntaxError(
            f"the display name {problem}",
            where,
            hint='a display name is a short line of text, e.g. `as inception_3a "Inception (3a)"`',
        )
    return text, where
