"""Source files and spans: where every AST node, IR node and diagnostic comes from."""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

#: Widest source excerpt an error shows; longer lines are cut to a window around the caret.
EXCERPT_WIDTH = 100

_LINE_END = re.compile(r"\r\n?|\n")

#: Characters an excerpt never prints raw: controls but tab (ESC sequences would drive the
#: terminal), format characters (bidi overrides reorder what is shown) and line separators.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _printable(text: str) -> str:
    """`text` with each unprintable character replaced by U+FFFD (one for one: carets stay)."""
    return "".join(
        "\ufffd" if c != "\t" and unicodedata.category(c) in _UNPRINTABLE else c for c in text
    )


@dataclass(frozen=True, eq=False)
class SourceFile:
    """The text of one `.incept` file (or of a string passed to `loads`) and its name."""

    name: str
    text: str
    path: Path | None = None
    _line_starts: list[int] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        # a line ends at \n, \r\n or a lone \r (old Mac files), so no excerpt shows two lines
        self._line_starts.append(0)
        self._line_starts.extend(m.end() for m in _LINE_END.finditer(self.text))

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset; offsets past the end clamp to it."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def line_bounds(self, line: int) -> tuple[int, int]:
        """Offsets `[start, end)` of a 1-based line without its newline: O(1), from the line
        starts computed once (no scan of the line, however long)."""
        if line < 1 or line > len(self._line_starts):
            return 0, 0
        start = self._line_starts[line - 1]
        if line == len(self._line_starts):
            return start, len(self.text)
        end = self._line_starts[line]
        if end > start and self.text[end - 1] == "\n":
            end -= 1
        if end > start and self.text[end - 1] == "\r":
            end -= 1
        return start, end

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        start, end = self.line_bounds(line)
        return self.text[start:end]

    def span(self, start: int, end: int | None = None) -> Span:
        return Span(self, start, start if end is None else end)


@dataclass(frozen=True)
class Span:
    """A half-open character range `[start, end)` of a source file."""

    source: SourceFile
    start: int
    end: int

    @property
    def line(self) -> int:
        return self.source.line_col(self.start)[0]

    @property
    def column(self) -> int:
        return self.source.line_col(self.start)[1]

    @property
    def file(self) -> str:
        return self.source.name

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def __repr__(self) -> str:  # spans appear in IR dumps; keep them short
        return f"Span({self})"

    def excerpt(self) -> str:
        """The source line of the span's start and a caret line under the span (first line only).

        A line longer than `EXCERPT_WIDTH` characters is cut to a window around the span, with
        `…` where text was left out, so one generated or minified line never floods the terminal.
        Control and format characters show as U+FFFD, so an excerpt never drives the terminal.
        """
        line, col = self.source.line_col(self.start)
        line_start, line_end = self.source.line_bounds(line)
        size = line_end - line_start  # only a window of a long line is ever copied: O(width)
        end_line, end_col = self.source.line_col(max(self.start, self.end - 1))
        if self.end <= self.start:
            width = 1
        elif end_line == line:
            width = end_col - col + 1
        else:  # a span over several lines: underline the rest of its first line
            a = line_start + col - 1
            rest = self.source.text[a : min(line_end, a + EXCERPT_WIDTH + 1)]
            width = len(rest.rstrip()) if len(rest) <= EXCERPT_WIDTH else len(rest)
        width = max(1, min(width, max(1, size - col + 1)))
        if size > EXCERPT_WIDTH:
            first = max(0, min(col - 1 - EXCERPT_WIDTH // 3, size - EXCERPT_WIDTH))
            last = first + EXCERPT_WIDTH
            width = max(1, min(width, last - (col - 1)))
            lead = "…" if first > 0 else ""
            window = self.source.text[line_start + first : line_start + last]
            text = lead + window + ("…" if last < size else "")
            col = col - first + len(lead)
        else:
            text = self.source.text[line_start:line_end]
        text = _printable(text)
        gutter = f"{line:>4} | "
        pad = "".join("\t" if c == "\t" else " " for c in text[: col - 1])
        return f"{gutter}{text}\n{' ' * (len(gutter) - 2)}| {pad}{'^' * width}"

    def to(self, other: Span) -> Span:
        """The span covering this one and `other` (same file)."""
        return Span(self.source, min(self.start, other.start), max(self.end, other.end))
