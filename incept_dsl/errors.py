"""The project's error types. Every mistake in a program is an `InceptError` with a span."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from incept_dsl.source import Span


@dataclass
class Note:
    message: str
    span: Span | None = None


@dataclass
class InceptError(Exception):
    """A mistake in an `.incept` program, located by `span`.

    `str(err)` renders `file:line:col: error: message`, the source line with carets under the span,
    then each note (with its own excerpt when it has a span) and the hint.
    """

    message: str
    span: Span | None = None
    notes: list[Note] = field(default_factory=list)
    hint: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        head = f"{self.span}: error: {self.message}" if self.span else f"error: {self.message}"
        lines = [head]
        if self.span is not None:
            lines.append(self.span.excerpt())
        for note in self.notes:
            if note.span is not None:
                lines.append(f"{note.span}: note: {note.message}")
                lines.append(note.span.excerpt())
            else:
                lines.append(f"note: {note.message}")
        if self.hint:
            lines.append(f"help: {self.hint}")
        return "\n".join(lines)

    def with_note(self, message: str, span: Span | None = None) -> InceptError:
        self.notes.append(Note(message, span))
        return self

    @property
    def line(self) -> int | None:
        return self.span.line if self.span else None

    @property
    def column(self) -> int | None:
        return self.span.column if self.span else None


class InceptSyntaxError(InceptError):
    """The text does not follow the grammar."""


class InceptNameError(InceptError):
    """An unknown or doubly bound name: op, block, parameter, keyword or tensor."""


class InceptTypeError(InceptError):
    """A wrong number or kind of arguments."""


class InceptShapeError(InceptError):
    """Shapes that do not fit: mismatched branches, kernels larger than their input, failed expect."""


class InceptImportError(InceptError):
    """An import of a missing file, or an import cycle."""


class InceptLimitError(InceptError):
    """A program past one of the compiler's documented limits."""


class InceptErrors(InceptError):
    """Several independent errors of one file, reported together in source order."""

    def __init__(self, errors: Sequence[InceptError]):
        ordered = sorted(
            errors, key=lambda e: (e.span.file, e.span.start) if e.span else ("", -1)
        )
        self.errors = list(ordered)
        first = self.errors[0]
        super().__init__(first.message, first.span, first.notes, first.hint)

    def render(self) -> str:
        return "\n\n".join(e.render() for e in self.errors)


class UsageError(Exception):
    """A command-line or API usage mistake (not a program error): exit code 2 in the CLI."""


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' suffix for `word` among `candidates`, or None when nothing is close."""
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


class CompilerBug(Exception):
    """An internal error: a pass or backend broke an invariant. Names the pass and what ran before."""
