"""Syntax errors in words: lark's exceptions -> located `InceptSyntaxError`s.

Guarantees: the message never shows lark's terminal names (`RPAR`, `__ANON_0`); it says what was
found and what was expected, grouping alternatives the way a reader thinks of them ("an
expression", "a statement"); the caret sits under the offending token, or just after the previous
token when what is missing belongs at the end of an earlier line; common slips get a `help:` line.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import cast

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from incept_dsl.errors import InceptSyntaxError
from incept_dsl.source import SourceFile

_NAMED = {
    "NAME": "a name",
    "NUMBER": "a number",
    "SHAPE": "a shape such as 3x224x224",
    "STRING": 'a quoted path such as "blocks.incept"',
    "$END": "the end of the file",
}

#: Alternatives that stand for one idea, tried in this order: (members, words). Members are
#: literal token texts or terminal names.
_GROUPS: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = (
    (frozenset({"import", "block", "model"}), ("'import'", "'block'", "'model'")),
    (
        frozenset({"input", "output", "aux", "defaults", "block", "NAME"}),
        ("a statement (input, output, aux, defaults, block or NAME = ...)",),
    ),
    (
        frozenset({"NAME", "(", "concat", "add", "mul", "residual", "repeat"}),
        ("an op or a block (or concat, add, mul, residual, repeat, '(')",),
    ),
    (frozenset({"NUMBER", "SHAPE", "NAME", "(", "-", "+", "true", "false"}), ("an expression",)),
    (frozenset({"+", "-", "*", "/", "//", "%"}), ("an operator",)),
)

#: Order of single alternatives in a message: closers and separators first.
_ORDER = (
    ")",
    ",",
    "}",
    "->",
    "=",
    ":",
    "{",
    "(",
    "as",
    "weight",
    "NAME",
    "NUMBER",
    "SHAPE",
    "STRING",
)


def describe_expected(expected: Iterable[str], texts: dict[str, str]) -> str:
    """Words for the set of terminals lark `expected` (`texts` maps terminal -> literal text)."""
    items = {texts.get(t, t) for t in expected}
    if len(items) > 1:
        items.discard(";")  # a separator is never required, so never the one thing expected
    words: list[str] = []
    for members, text in _GROUPS:
        if members <= items:
            if text == ("an operator",) and len(items) > len(members):
                items -= members  # an operator is a rare intention next to ')' or ','
                continue
            words.extend(text)
            items -= members
    rank = {t: i for i, t in enumerate(_ORDER)}
    rest = sorted(items, key=lambda t: (rank.get(t, len(rank)), t))
    end = [_word(t) for t in rest if t == "$END"]
    words += [_word(t) for t in rest if t != "$END"] + end
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _word(t: str) -> str:
    return _NAMED.get(t, f"'{t}'")


def _found(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    text = tok.value if len(tok.value) <= 30 else tok.value[:29] + "…"
    return f"'{text}'"


def syntax_error(
    src: SourceFile, exc: UnexpectedInput, parser: Lark, end_words: str = "end of the file"
) -> InceptSyntaxError:
    """The located error for lark's `exc` while parsing `src` with `parser` (`end_words` names
    the end of the input: the end of a file, or of a `--set` value)."""
    if isinstance(exc, UnexpectedToken):
        return _unexpected_token(src, exc, parser, end_words)
    if isinstance(exc, UnexpectedCharacters):
        # lark declares `pos_in_stream = None` on the base class; `UnexpectedCharacters` sets an int
        return _unexpected_character(src, cast(int, exc.pos_in_stream))
    if isinstance(exc, UnexpectedEOF):
        end = len(src.text.rstrip())
        return InceptSyntaxError(
            f"unexpected {end_words}; expected {describe_expected(exc.expected, _texts(parser))}",
            src.span(end, end),
        )
    return InceptSyntaxError(str(exc).splitlines()[0], src.span(0, 0))  # pragma: no cover


def _texts(parser: Lark) -> dict[str, str]:
    out = {"$END": "$END"}
    for term in parser.terminals:
        out[term.name] = term.pattern.value if term.pattern.type == "str" else term.name
    return out


def _previous_tokens(src: SourceFile, pos: int, parser: Lark, n: int = 2) -> list[Token]:
    """The last `n` tokens before `pos` (the text up to an error lexes, since the parser got there)."""
    window = max(0, pos - 2000)
    while window > 0 and src.text[window - 1] not in "\r\n":  # a line start: comments lex right
        window -= 1
    try:
        tokens = list(parser.lex(src.text[window:pos]))
    except UnexpectedInput:
        return []
    for t in tokens:
        t.start_pos = (t.start_pos or 0) + window
        t.end_pos = (t.end_pos or 0) + window
    return tokens[-n:]


def _unexpected_token(
    src: SourceFile, exc: UnexpectedToken, parser: Lark, end_words: str
) -> InceptSyntaxError:
    tok = exc.token
    texts = _texts(parser)
    expected_terms: Collection[str] = exc.accepts or exc.expected
    expected = describe_expected(expected_terms, texts)
    at_end = tok.type == "$END" or tok.start_pos is None
    start = len(src.text.rstrip()) if at_end else tok.start_pos
    before = _previous_tokens(src, start, parser)
    prev = before[-1] if before else None
    missing_arrow = _missing_arrow(src, before, {texts.get(t, t) for t in expected_terms})
    if at_end:
        err = InceptSyntaxError(
            f"unexpected {end_words}; expected {expected}", src.span(start, start)
        )
    elif missing_arrow is not None:
        return missing_arrow
    elif (
        prev is not None
        and prev.end_pos is not None
        and src.line_col(prev.end_pos)[0] < src.line_col(start)[0]
    ):
        # what is missing belongs at the end of an earlier line: point there
        err = InceptSyntaxError(
            f"expected {expected} after {_found(prev)}, found {_found(tok)}",
            src.span(prev.end_pos, prev.end_pos),
        )
    else:
        end = tok.end_pos if tok.end_pos is not None else start + 1
        err = InceptSyntaxError(
            f"unexpected {_found(tok)}; expected {expected}", src.span(start, max(end, start + 1))
        )
    err.hint = _token_hint(tok, {texts.get(t, t) for t in expected_terms}, before, src)
    return err


def _token_hint(tok: Token, expected: set[str], before: list[Token], src: SourceFile) -> str | None:
    value = tok.value if tok.type != "$END" else ""
    if value == "=" and ":" in expected:
        return "an input is declared as `input NAME: CxHxW`"
    spaced = tok.start_pos and src.text[tok.start_pos - 1].isspace()
    if {",", ")"} <= expected and tok.type in ("NUMBER", "NAME", "SHAPE") and spaced:
        return "separate arguments with ','"
    if value == "{" and "=" in expected:
        return "a block is defined as `block NAME(params) = PIPELINE`"
    if value == "=" and "{" in expected:
        return "a model's statements go in braces: `model NAME(params) { ... }`"
    if value == "*" and "NUMBER" in expected:
        return "there is no power operator; write the product out or use a parameter"
    if value in ("concat", "add", "mul") and "(" in expected:
        return f"`{value}` is a keyword; choose another name"
    if [t.type for t in before] == ["MUL", "LPAR"] and tok.type != "NAME":
        return (
            "`mul(a, b)` multiplies bound tensors: before '(' or '{', `mul` is a keyword, so a "
            "block named `mul` can only be applied without arguments; rename it"
        )
    return None


def _missing_arrow(
    src: SourceFile, before: list[Token], expected: set[str]
) -> InceptSyntaxError | None:
    """`x -> conv(8, 3) relu`: the parser read `relu` as the start of a new binding and then
    wanted '='. When that name follows an element on the same line, say what is missing."""
    if expected != {"="} or len(before) != 2:
        return None
    a, b = before
    if a.end_pos is None or b.start_pos is None or b.end_pos is None:  # set by `_previous_tokens`
        return None
    if b.type != "NAME" or src.line_col(a.end_pos)[0] != src.line_col(b.start_pos)[0]:
        return None
    if not (a.type in ("NAME", "NUMBER", "SHAPE") or a.value in (")", "}")):
        return None
    return InceptSyntaxError(
        f"expected '->' before '{b.value}'",
        src.span(b.start_pos, b.end_pos),
        hint="elements of a pipeline are joined by '->'; a new binding starts on its own "
        "statement: NAME = ...",
    )


def _unexpected_character(src: SourceFile, pos: int) -> InceptSyntaxError:
    ch = src.text[pos] if pos < len(src.text) else ""
    if ch == ">" and pos > 0 and src.text[pos - 1] == "-":
        # the contextual lexer read '-' as minus because '->' cannot come here
        err = InceptSyntaxError("'->' cannot appear here", src.span(pos - 1, pos + 1))
        if _open_parens(src.text[:pos]) > 0:
            err.hint = "is a ')' missing before it?"
        return err
    # no "expected ...": the character starts no token here, and the lexer's view of what may
    # follow is wider than the parser's, so listing it would mislead
    what = f"character {ch!r}" if ch.strip() else f"whitespace character {ch!r}"
    err = InceptSyntaxError(f"unexpected {what}", src.span(pos, pos + 1))
    if ch == '"':
        err.hint = 'strings are only used by `import "file.incept"` and must end on their line'
    elif ch == "'":
        err.hint = 'paths are written in double quotes: import "file.incept"'
    elif ch in "[]":
        err.hint = "use parentheses for tuples, e.g. (1, 7), or a kernel literal such as 1x7"
    elif ch in "×✕":
        err.hint = "write shapes with the letter x: 3x224x224"
    elif ch in "→⟶":
        err.hint = "write arrows as ->"
    elif ch == ".":
        err.hint = "a number needs a digit next to its point: 0.5, .5 or 5."
    elif ch == ">" and pos > 0 and src.text[pos - 1] == "=":
        err.hint = "write arrows as ->"
    elif ch and not ch.isascii() and ch.isalpha():
        err.hint = "names use ASCII letters, digits and _"
    return err


def _open_parens(text: str) -> int:
    """How many '(' are open at the end of `text` (comments and strings skipped)."""
    depth = 0
    for m in _BRACKET.finditer(text):
        c = m.group()
        if c == "(":
            depth += 1
        elif c == ")":
            depth = max(0, depth - 1)
    return depth


_BRACKET = re.compile(r'[()]|#[^\r\n]*|"[^"\r\n]*"?')
