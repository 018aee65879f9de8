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


class InceptExportError(InceptError):
    """The program (or its weights) cannot be lowered or exported as asked; located at the line."""


class InceptErrors(InceptError):
    """Several independent errors, reported together in source order.

    Nested collections are flattened, and an error reported twice (same place, same message, e.g.
    one block body failing in two models) is kept once. `render()` prints each error as
    `InceptError.render` does, separated by blank lines, then a line counting them; past
    `MAX_RENDERED` errors only the first ones are printed, then `… and N more errors (M in all)`.
    `span`, `message`, `notes` and `hint` are those of the first error.
    """

    errors: list[InceptError]

    #: Most errors `render()` prints; `errors` keeps them all.
    MAX_RENDERED = 100

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
        shown = self.errors[: self.MAX_RENDERED]
        parts = [e.render() for e in shown]
        total = len(self.errors)
        if total > len(shown):
            more = total - len(shown)
            parts.append(f"… and {more} more error{'s' if more != 1 else ''} ({total} in all)")
        else:
            parts.append(f"{total} errors")
        return "\n\n".join(parts)

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


#: Most candidates `did_you_mean` scores with difflib for one word; the others are dropped by
#: cheap tests first, so a misspelling among thousands of names costs little.
MAX_SUGGESTION_CANDIDATES = 64
#: Most candidate names all `did_you_mean` calls look at between two `reset_suggestion_budget`
#: calls (each model build resets it); past it no more suggestions are made, so a file with
#: thousands of misspellings among thousands of names stays linear.
SUGGESTION_BUDGET = 2_000_000
#: Most `close_matches` (and so `did_you_mean`) lookups between two `reset_suggestion_budget`
#: calls: a file with tens of thousands of unknown keywords among few names stays fast too.
MAX_SUGGESTION_LOOKUPS = 2_000
_suggestion_budget_left = SUGGESTION_BUDGET
_suggestion_lookups_left = MAX_SUGGESTION_LOOKUPS


def reset_suggestion_budget() -> None:
    """Start a new `SUGGESTION_BUDGET` (at the start of each model build)."""
    global _suggestion_budget_left, _suggestion_lookups_left
    _suggestion_budget_left = SUGGESTION_BUDGET
    _suggestion_lookups_left = MAX_SUGGESTION_LOOKUPS


def suggestions_left() -> bool:
    """Whether `did_you_mean` still makes suggestions (callers may skip listing candidates)."""
    return _suggestion_budget_left > 0 and _suggestion_lookups_left > 0


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' suffix for `word` among `candidates`, or None when nothing is close
    (or the suggestion budget is spent; see `close_matches`)."""
    matches = close_matches(word, candidates, 1)
    return f"did you mean '{matches[0]}'?" if matches else None


def close_matches(word: str, candidates: Iterable[str], n: int = 1) -> list[str]:
    """The (at most `n`) candidates closest to `word`, as `difflib.get_close_matches` with cutoff
    0.6 finds them; none once the suggestion budget is spent.

    Bounded work: a candidate whose length alone rules out a similarity of 0.6 is skipped (the
    bound difflib's `real_quick_ratio` uses), and of the rest at most `MAX_SUGGESTION_CANDIDATES`
    are scored, preferring those with the same first letter, then the closest length. Each call
    counts against `SUGGESTION_BUDGET` (its candidates) and `MAX_SUGGESTION_LOOKUPS` (one).
    """
    global _suggestion_budget_left, _suggestion_lookups_left
    if not suggestions_left():
        return []
    names = set(candidates)
    _suggestion_budget_left -= len(names)
    _suggestion_lookups_left -= 1
    n_word = len(word)
    lo, hi = (
        (3 * n_word + 6) // 7,
        (7 * n_word) // 3,
    )  # 2*min(n, m)/(n + m) >= 0.6 <=> lo <= m <= hi
    pool = [c for c in names if lo <= len(c) <= hi]
    if len(pool) > MAX_SUGGESTION_CANDIDATES:
        first = word[:1]
        pool = [c for c in pool if c[:1] == first] or pool
    if len(pool) > MAX_SUGGESTION_CANDIDATES:
        by_length: dict[int, list[str]] = {}
        for c in pool:
            by_length.setdefault(abs(len(c) - n_word), []).append(c)
        kept: list[str] = []
        for d in sorted(by_length):
            kept.extend(sorted(by_length[d]))
            if len(kept) >= MAX_SUGGESTION_CANDIDATES:
                break
        pool = kept[:MAX_SUGGESTION_CANDIDATES]
    return difflib.get_close_matches(word, sorted(pool), n=n, cutoff=0.6)


class CompilerBug(Exception):
    """An internal error: a pass or backend broke an invariant. Names the pass and what ran before."""
