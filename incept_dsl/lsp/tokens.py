"""Semantic tokens from the Pygments lexer's categories (`incept_dsl.pygments_lexer`), so editors
colour a buffer as the documentation does: ops, blocks and models, keywords, keyword arguments,
numbers and shapes, strings, comments."""

from __future__ import annotations

from pygments.token import Comment, Keyword, Name, Number, Operator, String, _TokenType

from incept_dsl.lsp.positions import utf16_len
from incept_dsl.pygments_lexer import InceptLexer

#: The token types the server declares (its legend), in legend order.
TOKEN_TYPES = [
    "keyword",
    "function",
    "class",
    "variable",
    "parameter",
    "property",
    "enumMember",
    "number",
    "string",
    "comment",
    "operator",
]
TOKEN_MODIFIERS = ["defaultLibrary"]

#: Pygments categories -> (legend type, modifier bits); the most specific category first.
_MAP: list[tuple[_TokenType, str, int]] = [
    (Name.Builtin.Pseudo, "variable", 1),
    (Name.Builtin, "function", 1),
    (Name.Function, "function", 1),
    (Name.Class, "class", 0),
    (Name.Variable, "variable", 0),
    (Name.Attribute, "parameter", 0),
    (Name.Label, "property", 0),
    (Name.Constant, "enumMember", 0),
    (Keyword, "keyword", 0),
    (Number, "number", 0),
    (String, "string", 0),
    (Comment, "comment", 0),
    (Operator, "operator", 0),
]

_LEXER = InceptLexer(stripnl=False, ensurenl=False)


def _kind(tok: _TokenType) -> tuple[int, int] | None:
    for category, name, mods in _MAP:
        if tok in category:
            return TOKEN_TYPES.index(name), mods
    return None


def semantic_tokens(text: str) -> list[int]:
    """The LSP encoding (5 integers a token, positions relative to the previous token; UTF-16
    columns) of every categorised token; tokens never span lines."""
    data: list[int] = []
    line = col = prev_line = prev_col = 0
    for tok, value in _LEXER.get_tokens(text):
        kind = _kind(tok) if value.strip() else None
        if kind is not None and "\n" not in value:
            delta_line = line - prev_line
            delta_col = col - prev_col if delta_line == 0 else col
            data += [delta_line, delta_col, utf16_len(value), kind[0], kind[1]]
            prev_line, prev_col = line, col
        newlines = value.count("\n")
        if newlines:
            line += newlines
            col = utf16_len(value.rsplit("\n", 1)[1])
        else:
            col += utf16_len(value)
    return data
