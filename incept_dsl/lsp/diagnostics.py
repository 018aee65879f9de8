"""Compiler errors as LSP diagnostics: the error's range, its message, notes and help text.

An error located in an imported file is shown at the first place in this buffer its notes point
to (`in block 'x' applied here`), else at the first `import`, with the other file's location in
the message and as related information; an error without a location is shown at the start.
"""

from __future__ import annotations

from lsprotocol import types

from incept_dsl.errors import InceptError
from incept_dsl.lsp.analysis import Analysis
from incept_dsl.lsp.positions import offsets_range, span_range
from incept_dsl.lsp.uris import path_uri

SOURCE = "incept-dsl"


def _range(a: Analysis, err: InceptError) -> tuple[types.Range, bool]:
    """Where to show `err` in the buffer, and whether that is the error's own place."""
    if err.span is not None and a.is_own(err.span):
        return span_range(err.span), True
    for note in err.notes:
        if note.span is not None and a.is_own(note.span):
            return span_range(note.span), False
    if a.program is not None and a.program.imports:
        return span_range(a.program.imports[0].span), False
    return offsets_range(a.source, 0, 0), False


def _related(err: InceptError) -> list[types.DiagnosticRelatedInformation]:
    out = []
    for note in err.notes:
        if note.span is not None:
            loc = types.Location(path_uri(note.span), span_range(note.span))
            out.append(types.DiagnosticRelatedInformation(loc, note.message))
    return out


def to_diagnostic(a: Analysis, err: InceptError) -> types.Diagnostic:
    """One error as a diagnostic: message, then its notes and `help:` hint on their own lines."""
    rng, own = _range(a, err)
    lines = [err.message if own or err.span is None else f"{err.span}: {err.message}"]
    lines.extend(f"note: {n.message}" for n in err.notes if n.span is None)
    if err.hint:
        lines.append(f"help: {err.hint}")
    return types.Diagnostic(
        range=rng,
        message="\n".join(lines),
        severity=types.DiagnosticSeverity.Error,
        source=SOURCE,
        code=type(err).__name__,
        related_information=_related(err) or None,
    )


def diagnostics(a: Analysis) -> list[types.Diagnostic]:
    """Every error of the analysis, in source order, and an internal error (if any) at the start."""
    out = [to_diagnostic(a, e) for e in a.errors]
    out.sort(key=lambda d: (d.range.start.line, d.range.start.character))
    for msg in a.internal:
        rng = offsets_range(a.source, 0, 0)
        out.append(
            types.Diagnostic(rng, msg, severity=types.DiagnosticSeverity.Error, source=SOURCE)
        )
    return out
