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
    """Several independent errors, reported together in source order.

    Nested collections are flattened, and an error reported twice (same place, same message, e.g.
    one block body failing in two models) is kept once. `render()` prints each error as
    `InceptError.render` does, separated by blank lines, then a line counting them. `span`,
    `message`, `notes` and `hint` are those of the first error.
    """

    errors: list[InceptError]

    def __init__(self, errors: Sequence[InceptError]):
        flat: list[InceptError] = []
        for e in errors:
            flat.extend(e.errors if isinstance(e, InceptErrors) else [e])
        unique: dict[tuple, InceptError] = {}
        for e in flat:
            unique.setdefault(_error_key(e), e)
        self.errors = sorted(unique.values(), key=_error_order)
        first = self.errors[0]
        super().__init__(first.message, first.span, first.notes, first.hint)

    @staticmethod
    def of(errors: Sequence[InceptError]) -> InceptError:
        """The one error itself, or an `InceptErrors` of several (`errors` must not be empty)."""
        collected = InceptErrors(errors)
        return collected.errors[0] if len(collected.errors) == 1 else collected

    def render(self) -> str:
        parts = [e.render() for e in self.errors]
        return "\n\n".join(parts) + f"\n\n{len(self.errors)} errors"

    def with_note(self, message: str, span: Span | None = None) -> InceptError:
        for e in self.errors:
            e.with_note(message, span)
        return self


def _error_key(e: InceptError) -> tuple:
    where = (e.span.file, e.span.start, e.span.end) if e.span else ("", -1, -1)
    return (*where, e.message)


def _error_order(e: InceptError) -> tuple:
    return (e.span.file, e.span.start) if e.span else ("", -1)


class UsageError(Exception):
    """A command-line or API usage mistake (not a program error): exit code 2 in the CLI."""


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' suffix for `word` among `candidates`, or None when nothing is close."""
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


class CompilerBug(Exception):
    """An internal error: a pass or backend broke an invariant. Names the pass and what ran before."""
