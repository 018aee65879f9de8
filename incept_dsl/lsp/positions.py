"""LSP positions (line, UTF-16 character) <-> character offsets of a text, and spans -> ranges."""

from __future__ import annotations

from lsprotocol import types

from incept_dsl.source import SourceFile, Span


def utf16_len(text: str) -> int:
    """How many UTF-16 code units `text` takes (LSP's default position encoding)."""
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def offset_at(src: SourceFile, pos: types.Position) -> int:
    """The character offset of `pos` in `src`; a line or character past the end clamps to it
    (never an exception: clients send positions of buffers that changed since)."""
    line = max(0, pos.line) + 1
    start, end = src.line_bounds(line)
    if line > 1 and start == 0:  # past the last line (every later line starts after a newline)
        return len(src.text)
    units = 0
    i = start
    while i < end and units < pos.character:
        units += utf16_len(src.text[i])
        i += 1
    return i


def position_at(src: SourceFile, offset: int) -> types.Position:
    """The LSP position (0-based line, UTF-16 character) of a character offset."""
    line, col = src.line_col(offset)
    start, _ = src.line_bounds(line)
    return types.Position(line - 1, utf16_len(src.text[start : start + col - 1]))


def span_range(span: Span) -> types.Range:
    """The LSP range of a span (of its own source file)."""
    return types.Range(position_at(span.source, span.start), position_at(span.source, span.end))


def offsets_range(src: SourceFile, start: int, end: int) -> types.Range:
    return types.Range(position_at(src, start), position_at(src, end))
