"""Text from a program or a path, made safe to place in generated Python source.

Everything of a program that reaches the generated PyTorch file goes through this module or is a
validated identifier or a `repr` literal. File names in particular may hold any character a file
system allows (line breaks, quotes, U+2028, lone surrogates from undecodable bytes), so they are
never written raw.

Guarantees of `comment_text(s)`: the result consists only of printable characters (so no line
break of any kind that Python's tokenizer, `str.splitlines` or an editor would honour), holds no
`"` and no `\\` other than the ones that start an escape, and is encodable as UTF-8. Characters
outside that set are written as Python-style escapes (`\\n`, `\\x00`, `\\u2028`, `\\x22` for a quote), so a
reader can still tell what the name was. `docstring_text(s)` is the same text with its
backslashes doubled, so that inside a (non-raw) docstring its *value* reads as `comment_text(s)`.
"""

from __future__ import annotations

import builtins
import keyword

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape(ch: str) -> str:
    if ch in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _safe(ch: str) -> bool:
    return ch.isprintable() and ch not in '"\\' and not 0xD800 <= ord(ch) <= 0xDFFF


def comment_text(text: str) -> str:
    """`text` for a `#` comment or a docstring line: printable, one line, no quote, UTF-8 safe."""
    if all(map(_safe, text)):
        return text
    return "".join(ch if _safe(ch) else _escape(ch) for ch in text)


def docstring_text(text: str) -> str:
    """`comment_text(text)` with each backslash doubled, for the inside of a `\"\"\"` docstring."""
    return comment_text(text).replace("\\", "\\\\")


def is_plain_identifier(name: str) -> bool:
    """True when `name` may be written verbatim as a Python name: an ASCII identifier that is not
    a keyword (hard or soft) and does not start with an underscore (no name mangling)."""
    return (
        name.isascii()
        and name.isidentifier()
        and not keyword.iskeyword(name)
        and not keyword.issoftkeyword(name)
        and not name.startswith("_")
    )


def utf8_text(text: str) -> str:
    """`text` with every lone surrogate (an undecodable byte of a file name) written as a
    `\\udcXX` escape, so that it encodes as UTF-8 (protobuf strings, JSON files, terminals)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


#: Names a generated module's code relies on at module level or as builtins: a class or local of
#: the generated code must not take one of them.
BUILTIN_NAMES = frozenset(dir(builtins))
