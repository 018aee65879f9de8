"""Go to definition, find references, and the document outline (models, blocks, bindings)."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from incept_dsl.frontend import ast
from incept_dsl.lsp.analysis import Analysis
from incept_dsl.lsp.index import DEFINITIONS, Item
from incept_dsl.lsp.positions import span_range
from incept_dsl.lsp.uris import file_uri, path_uri
from incept_dsl.source import Span


def _location(a: Analysis, uri: str, span: Span) -> types.Location:
    return types.Location(uri if a.is_own(span) else path_uri(span), span_range(span))


def _import_target(a: Analysis, item: Item) -> types.Location | None:
    path = Path(a.source.name)
    target = (path.parent / item.name) if path.is_absolute() else Path(item.name).absolute()
    if not target.is_file():
        return None
    start = types.Position(0, 0)
    return types.Location(file_uri(target.resolve()), types.Range(start, start))


def definition(a: Analysis, uri: str, offset: int) -> list[types.Location]:
    """Where the name under the cursor is defined (an import: the imported file)."""
    idx = a.index
    item = idx.at(offset) if idx is not None else None
    if item is None:
        return []
    if item.kind == "import":
        loc = _import_target(a, item)
        return [loc] if loc else []
    if item.kind in DEFINITIONS:
        return [_location(a, uri, item.span)]
    return [_location(a, uri, item.target)] if item.target is not None else []


def references(a: Analysis, uri: str, offset: int, declaration: bool) -> list[types.Location]:
    """Every use in this buffer of the name under the cursor (and its definition if asked)."""
    idx = a.index
    item = idx.at(offset) if idx is not None else None
    if idx is None or item is None:
        return []
    target = item.span if item.kind in DEFINITIONS else item.target
    if target is None:
        return []
    out = [_location(a, uri, i.span) for i in idx.uses_of(target)]
    if declaration:
        out.insert(0, _location(a, uri, target))
    return out


def _symbol(name: str, kind: types.SymbolKind, span: Span, sel: Span, children=None):
    return types.DocumentSymbol(
        name=name,
        kind=kind,
        range=span_range(span),
        selection_range=span_range(sel),
        children=children or None,
    )


def _block_symbol(b: ast.BlockDef) -> types.DocumentSymbol:
    params = [_symbol(p.name, types.SymbolKind.TypeParameter, p.span, p.span) for p in b.params]
    return _symbol(b.name, types.SymbolKind.Class, b.span, b.name_span, params)


def _model_symbol(m: ast.ModelDef) -> types.DocumentSymbol:
    children = [_symbol(p.name, types.SymbolKind.TypeParameter, p.span, p.span) for p in m.params]
    for st in m.body:
        if isinstance(st, ast.BlockDef):
            children.append(_block_symbol(st))
        elif isinstance(st, ast.InputStmt):
            children.append(_symbol(st.name, types.SymbolKind.Field, st.span, st.name_span))
        elif isinstance(st, ast.Bind):
            kind = types.SymbolKind.Variable if st.kind == "bind" else types.SymbolKind.Event
            children.append(_symbol(st.name, kind, st.span, st.name_span))
    return _symbol(m.name, types.SymbolKind.Module, m.span, m.name_span, children)


def document_symbols(a: Analysis) -> list[types.DocumentSymbol]:
    """The outline: top-level blocks (with their parameters) and models (with their parameters,
    inputs, bindings, outputs and local blocks), in source order."""
    prog = a.program
    if prog is None:
        return []
    out = [_block_symbol(b) for b in prog.blocks] + [_model_symbol(m) for m in prog.models]
    out.sort(key=lambda s: (s.range.start.line, s.range.start.character))
    return out
