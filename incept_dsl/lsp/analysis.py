"""One buffer, compiled: parse, resolve imports relative to the file, elaborate every model.

`analyze` never raises: every `InceptError` (several where the compiler finds several) lands in
`Analysis.errors`, and an unexpected exception in `Analysis.internal` (the server logs it), so a
half-typed program gives diagnostics and never an exception out of a handler.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from incept_dsl.errors import InceptError, InceptErrors, UsageError
from incept_dsl.frontend import ast
from incept_dsl.frontend.loader import Loader, Unit
from incept_dsl.frontend.parser import parse_source
from incept_dsl.ir.build import build_model, check_blocks
from incept_dsl.ir.graph import Graph
from incept_dsl.lsp.index import Index, build_index
from incept_dsl.perf import ensure_recursion_limit
from incept_dsl.source import SourceFile

log = logging.getLogger(__name__)


@dataclass
class Analysis:
    """What the compiler made of one version of a buffer.

    `program` is None when the text does not parse; `unit` is None when it did not load (an
    import or a name check failed); `graphs` holds each model that elaborated, by name.
    """

    source: SourceFile
    version: int | None
    program: ast.Program | None = None
    unit: Unit | None = None
    graphs: dict[str, Graph] = field(default_factory=dict)
    errors: list[InceptError] = field(default_factory=list)
    internal: list[str] = field(default_factory=list)

    @cached_property
    def index(self) -> Index | None:
        """The names of the program (None when it did not parse)."""
        return None if self.program is None else build_index(self.program, self.unit)

    def is_own(self, span: object) -> bool:
        """Whether a span lies in this buffer (not in an imported file)."""
        src = getattr(span, "source", None)
        return src is self.source or (
            src is not None and src.name == self.source.name and src.path is None
        )


def _flat(err: InceptError) -> list[InceptError]:
    return list(err.errors) if isinstance(err, InceptErrors) else [err]


def analyze(text: str, path: Path | None, version: int | None = None) -> Analysis:
    """Compile `text` as the file at `path` (imports resolve from its folder; the working
    directory for an unsaved, untitled buffer). Never raises."""
    name = str(path) if path is not None else "<untitled>"
    a = Analysis(SourceFile(name, text, None), version)
    try:
        _compile(a, path)
    except Exception as exc:  # noqa: BLE001 - a handler must never fail on a buffer
        log.exception("internal error while analysing %s", name)
        a.internal.append(f"internal error: {type(exc).__name__}: {exc}")
    return a


def _compile(a: Analysis, path: Path | None) -> None:
    ensure_recursion_limit()
    base = path.parent if path is not None else Path.cwd()
    try:
        a.unit = Loader().load_text(a.source.text, a.source.name, base)
    except InceptError as err:
        a.errors.extend(_flat(err))
        with contextlib.suppress(InceptError):  # a syntax error is among `errors` already
            a.program = parse_source(a.source)
        return
    a.program = a.unit.program
    a.source = a.unit.source
    if not (a.program.models or a.program.blocks or a.program.imports):  # as `check` says
        a.errors.append(
            InceptError(
                "the file is empty: it defines no model",
                a.source.span(0, 0),
                hint="add `model NAME { input ...; output ... }`",
            )
        )
        return
    if not a.program.models:
        try:
            check_blocks(a.unit)
        except InceptError as err:
            a.errors.extend(_flat(err))
        return
    for m in a.program.models:
        try:
            a.graphs[m.name] = build_model(a.unit, m.name)
        except InceptError as err:
            a.errors.extend(_flat(err))
        except UsageError as err:
            a.errors.append(InceptError(str(err), m.name_span))
    unique = {
        (e.span.file if e.span else "", e.span.start if e.span else 0, e.message): e
        for e in a.errors
    }
    a.errors = list(unique.values())
