"""Loading programs: read, decode, parse, and resolve `import`s into a table of visible blocks.

Guarantees: imports resolve relative to the importing file only (a string program resolves them
relative to `base_dir`, default the working directory); an import names a regular file whose name
ends in `.incept` (also after following symbolic links), anything else is refused before it is
read, so no other file's content is ever parsed or shown; an import cycle, a missing file, a
symbolic-link loop or a file past the size limit is an `InceptImportError`/`InceptLimitError`
located at the `import` line; a file that is not UTF-8 is an `InceptError`. Nothing in a program
is executed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from incept_dsl.errors import (
    InceptError,
    InceptErrors,
    InceptImportError,
    InceptNameError,
    Note,
)
from incept_dsl.frontend import ast
from incept_dsl.frontend.names import check_names
from incept_dsl.frontend.parser import parse_source
from incept_dsl.frontend.signatures import canonical_op
from incept_dsl.reading import read_regular_file
from incept_dsl.source import SourceFile, Span

#: Most files one program may pull in through imports.
MAX_IMPORTED_FILES = 1000
#: The file name ending every imported file must have (checked on the path as written and on
#: the file a symbolic link leads to), so no other kind of file is ever parsed as an import.
IMPORT_SUFFIX = ".incept"


@dataclass
class BlockEntry:
    """A block definition with the lexical scope it was defined in."""

    defn: ast.BlockDef
    blocks: BlockTable
    env: dict = field(default_factory=dict)  # parameter values visible to its defaults and body

    @property
    def key(self) -> tuple[str, int]:
        return (self.defn.span.file, self.defn.span.start)


class BlockTable:
    """Blocks visible at one place: a dict chained to its parent (model-local -> file -> imports)."""

    def __init__(self, parent: BlockTable | None = None) -> None:
        self.parent = parent
        self.table: dict[str, BlockEntry] = {}

    def lookup(self, name: str) -> BlockEntry | None:
        t: BlockTable | None = self
        while t is not None:
            if name in t.table:
                return t.table[name]
            t = t.parent
        return None

    def names(self) -> set[str]:
        out: set[str] = set()
        t: BlockTable | None = self
        while t is not None:
            out |= set(t.table)
            t = t.parent
        return out

    def define(
        self, defn: ast.BlockDef, env: dict | None = None, origin: Span | None = None
    ) -> None:
        """Add a block; a second definition of a name, or shadowing a built-in op, is an error."""
        if canonical_op(defn.name) is not None:
            raise InceptNameError(
                f"block '{defn.name}' has the name of a built-in op",
                defn.name_span,
                hint=f"rename the block, e.g. '{defn.name}_block'",
            )
        previous = self.table.get(defn.name)
        if previous is not None:
            err = InceptNameError(f"block '{defn.name}' is defined twice", origin or defn.name_span)
            err.notes.append(Note("first defined here", previous.defn.name_span))
            raise err
        seen: dict[str, Span] = {}
        for p in defn.params:
            if p.name in seen:
                raise InceptNameError(
                    f"parameter '{p.name}' of block '{defn.name}' is declared twice", p.span
                )
            seen[p.name] = p.span
        self.table[defn.name] = BlockEntry(defn, self, dict(env or {}))


@dataclass
class Unit:
    """One loaded file: its source, AST, and the blocks visible at its top level."""

    source: SourceFile
    program: ast.Program
    blocks: BlockTable
    sha256: str


def read_source(path: Path, span: Span | None = None) -> SourceFile:
    """Read and decode one file; unreadable or non-UTF-8 files are located `InceptError`s.

    Only a regular file is opened, and at most `MAX_SOURCE_BYTES` of it are read
    (`incept_dsl.reading`): a FIFO, a device or a huge file is refused, never waited on.
    """
    data = read_regular_file(path, span)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        src = SourceFile(str(path), data[: exc.start].decode("utf-8", "replace"), path)
        err = InceptError(
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            src.span(len(src.text), len(src.text)),
            hint="save the file as UTF-8",
        )
        raise err from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return SourceFile(str(path), text, path)


class Loader:
    """Loads files and their imports once each, detecting cycles."""

    def __init__(self) -> None:
        self.units: dict[Path, Unit] = {}
        self.stack: list[tuple[Path, Span | None]] = []
        self._on_stack: set[Path] = set()  # the paths of `stack`, for an O(1) cycle check

    def load_path(self, path: Path, span: Span | None = None) -> Unit:
        try:
            key = Path(os.path.realpath(path))  # a symlink loop stays a path; reading reports it
        except (OSError, ValueError):
            raise InceptImportError(
                f"cannot read {str(path)!r}: not a valid file name", span
            ) from None
        if span is not None and key.suffix != IMPORT_SUFFIX:
            raise InceptImportError(
                f"{path} is a link to {key}, which is not an {IMPORT_SUFFIX} file",
                span,
                hint=f"an import must name an {IMPORT_SUFFIX} file",
            )
        if key in self._on_stack:  # a cycle: only now walk the stack to describe it
            i = next(j for j, (p, _) in enumerate(self.stack) if p == key)
            chain = [q.name for q, _ in self.stack[i:]] + [key.name]
            err = InceptImportError("import cycle: " + " -> ".join(chain), span)
            for q, s in self.stack[i + 1 :]:
                if s is not None:
                    err.notes.append(Note(f"{q.name} is imported here", s))
            raise err
        if key in self.units:
            return self.units[key]
        # Files entered so far: the finished ones and those still loading their own imports (a
        # chain of imports finishes none until the deepest one is done).
        if len(self.units) + len(self.stack) >= MAX_IMPORTED_FILES:
            raise InceptImportError(f"more than {MAX_IMPORTED_FILES} files imported", span)
        src = read_source(path, span)
        return self._load(src, key, path.parent, span)

    def load_text(self, text: str, name: str, base_dir: Path) -> Unit:
        return self._load(SourceFile(name, text, None), None, base_dir, None)

    def _load(self, src: SourceFile, key: Path | None, base_dir: Path, span: Span | None) -> Unit:
        program = parse_source(src)
        if key is not None:
            self.stack.append((key, span))
            self._on_stack.add(key)
        try:
            imported = BlockTable()
            for imp in program.imports:
                unit = self.load_path(_import_path(base_dir, imp), imp.span)
                for name, entry in unit.blocks.table.items():
                    known = imported.table.get(name)
                    if known is not None and known.key == entry.key:
                        continue  # the same block reached through two imports
                    if known is not None:
                        err = InceptNameError(
                            f"block '{name}' is imported twice from different files", imp.span
                        )
                        err.notes.append(Note("the other definition", known.defn.name_span))
                        raise err
                    imported.table[name] = entry  # keeps its own lexical scope
            blocks = BlockTable(imported)
            errors: list[InceptError] = []
            for b in program.blocks:  # independent definitions: report every bad one
                try:
                    blocks.define(b)
                except InceptError as err:
                    errors.append(err)
            if errors:
                raise InceptErrors.of(errors)
        finally:
            if key is not None:
                self.stack.pop()
                self._on_stack.discard(key)
        _check_model_names(program)
        check_names(program)
        unit = Unit(src, program, blocks, hashlib.sha256(src.text.encode()).hexdigest())
        if key is not None:
            self.units[key] = unit
        return unit


def _import_path(base_dir: Path, imp: ast.Import) -> Path:
    """The file an `import` names: a path relative to the importing file's folder."""
    if not imp.path.strip():
        raise InceptImportError(
            "the import names no file",
            imp.span,
            hint='write the path of an .incept file: import "blocks.incept"',
        )
    if "\0" in imp.path:
        raise InceptImportError("the import path contains a NUL character", imp.span)
    if Path(imp.path).is_absolute() or imp.path.startswith("~"):
        raise InceptImportError(
            f"import paths are relative to the importing file; got {imp.path!r}",
            imp.span,
            hint='write the path from this file\'s folder, e.g. "../blocks/inception.incept"',
        )
    if not imp.path.endswith(IMPORT_SUFFIX) or Path(imp.path).suffix != IMPORT_SUFFIX:
        raise InceptImportError(
            f"an import must name an {IMPORT_SUFFIX} file; got {imp.path!r}",
            imp.span,
            hint=f'import another program file, e.g. import "blocks{IMPORT_SUFFIX}"',
        )
    return base_dir / imp.path


def _check_model_names(program: ast.Program) -> None:
    """Two models of one file with the same name are an error (located at the second)."""
    seen: dict[str, ast.ModelDef] = {}
    for m in program.models:
        if m.name in seen:
            err = InceptNameError(f"model '{m.name}' is defined twice", m.name_span)
            err.notes.append(Note("first defined here", seen[m.name].name_span))
            raise err
        seen[m.name] = m
