"""The names of one parsed program: every definition and every use, with its span.

An `Item` is a name at a place: a definition (`model`, `block`, `param`, `tensor`, `scope`,
`import`) or a use (`op`, `block_use`, `tensor_use`, `param_use`, `keyword`, `unknown`); a use
carries the name span of its definition (`target`) when it has one. `Index.at(offset)` gives the
innermost item under a cursor, `Index.element_at(offset)` the innermost pipeline element.
Built from the AST alone, so it never raises on a program that parsed.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from incept_dsl.frontend import ast
from incept_dsl.frontend.loader import Unit
from incept_dsl.frontend.signatures import canonical_op
from incept_dsl.source import Span

DEFINITIONS = frozenset({"model", "block", "param", "tensor", "scope", "import"})


@dataclass(frozen=True)
class Item:
    """One name at one place; `owner` is the model or block it is written in (None: top level)."""

    kind: str
    name: str
    span: Span
    target: Span | None = None
    node: Any = None
    owner: str | None = None


@dataclass
class _Ctx:
    owner: str | None
    params: dict[str, Span]
    tensors: dict[str, Span]
    blocks: dict[str, Span]


@dataclass
class Index:
    """The items and pipeline elements of one program, sorted by where they start."""

    items: list[Item] = field(default_factory=list)
    elements: list[tuple[Span, Any, str | None]] = field(default_factory=list)
    models: dict[str, ast.ModelDef] = field(default_factory=dict)
    blocks: dict[str, ast.BlockDef] = field(default_factory=dict)

    def finish(self) -> None:
        self.items.sort(key=lambda i: (i.span.start, -i.span.end))
        self.elements.sort(key=lambda e: (e[0].start, -e[0].end))

    def at(self, offset: int) -> Item | None:
        """The innermost item whose span holds `offset` (its end included: a cursor after a word)."""
        starts = [i.span.start for i in self.items]
        k = bisect.bisect_right(starts, offset)
        best: Item | None = None
        for item in self.items[max(0, k - 64) : k]:
            if item.span.start <= offset <= item.span.end and (
                best is None or item.span.end - item.span.start <= best.span.end - best.span.start
            ):
                best = item
        return best

    def element_at(self, offset: int) -> tuple[Span, Any, str | None] | None:
        """The innermost pipeline element (its span, AST node, owner) holding `offset`."""
        best = None
        for el in self.elements:
            span = el[0]
            if span.start <= offset < span.end and (
                best is None or span.end - span.start <= best[0].end - best[0].start
            ):
                best = el
        return best

    def uses_of(self, target: Span) -> list[Item]:
        """Every use whose definition is `target` (same file, same start)."""
        key = (target.file, target.start)
        return [
            i for i in self.items if i.target is not None and (i.target.file, i.target.start) == key
        ]

    def owner_at(self, offset: int) -> ast.ModelDef | ast.BlockDef | None:
        """The model or top-level block whose text holds `offset`."""
        defs: list[ast.ModelDef | ast.BlockDef] = [*self.models.values(), *self.blocks.values()]
        for d in defs:
            if d.span.start <= offset <= d.span.end:
                return d
        return None


def _name_span(span: Span, name: str) -> Span:
    """The span of `name` at the start of `span` (parameters keep one span for `name = default`)."""
    return Span(span.source, span.start, span.start + len(name))


def build_index(program: ast.Program, unit: Unit | None) -> Index:
    """Every definition and use of `program`; `unit` (when it loaded) resolves imported blocks."""
    idx = Index()
    imported: dict[str, Span] = {}
    if unit is not None:
        for name in unit.blocks.names():
            entry = unit.blocks.lookup(name)
            if entry is not None:
                imported[name] = entry.defn.name_span
    for imp in program.imports:
        idx.items.append(Item("import", imp.path, imp.span, node=imp))
    top = {**imported, **{b.name: b.name_span for b in program.blocks}}
    for b in program.blocks:
        idx.blocks[b.name] = b
        _block(idx, b, _Ctx(None, {}, {}, top))
    for m in program.models:
        idx.models[m.name] = m
        _model(idx, m, top)
    idx.finish()
    return idx


def _params(idx: Index, params: tuple[ast.Param, ...], ctx: _Ctx) -> None:
    for p in params:
        if p.default is not None:
            _expr(idx, p.default, ctx)
        span = _name_span(p.span, p.name)
        ctx.params[p.name] = span
        idx.items.append(Item("param", p.name, span, node=p, owner=ctx.owner))


def _block(idx: Index, b: ast.BlockDef, outer: _Ctx) -> None:
    idx.items.append(Item("block", b.name, b.name_span, node=b, owner=outer.owner))
    ctx = _Ctx(b.name, dict(outer.params), {}, outer.blocks)
    _params(idx, b.params, ctx)
    _pipeline(idx, b.body, ctx, source=False)


def _model(idx: Index, m: ast.ModelDef, top: dict[str, Span]) -> None:
    idx.items.append(Item("model", m.name, m.name_span, node=m))
    ctx = _Ctx(m.name, {}, {}, dict(top))
    _params(idx, m.params, ctx)
    for st in m.body:  # names first: a use before its binding still finds it
        if isinstance(st, ast.InputStmt | ast.Bind):
            ctx.tensors.setdefault(st.name, st.name_span)
        elif isinstance(st, ast.BlockDef):
            ctx.blocks[st.name] = st.name_span
    for st in m.body:
        if isinstance(st, ast.BlockDef):
            _block(idx, st, ctx)
        elif isinstance(st, ast.InputStmt):
            idx.items.append(Item("tensor", st.name, st.name_span, node=st, owner=m.name))
            _expr(idx, st.shape, ctx)
        elif isinstance(st, ast.Bind):
            idx.items.append(Item("tensor", st.name, st.name_span, node=st, owner=m.name))
            _pipeline(idx, st.pipeline, ctx, source=True)
            if st.weight is not None:
                _expr(idx, st.weight, ctx)
        elif isinstance(st, ast.Defaults):
            idx.items.append(Item("op", st.op, st.op_span, node=st, owner=m.name))
            for kw in st.keywords:
                _keyword(idx, kw, st.op, ctx)


def _keyword(idx: Index, kw: ast.KwArg, callee: str, ctx: _Ctx) -> None:
    idx.items.append(Item("keyword", kw.name, kw.name_span, node=callee, owner=ctx.owner))
    _expr(idx, kw.value, ctx)


def _args(idx: Index, args: ast.Args | None, callee: str, ctx: _Ctx) -> None:
    if args is None:
        return
    for e in args.positional:
        _expr(idx, e, ctx)
    for kw in args.keywords:
        _keyword(idx, kw, callee, ctx)


def _pipeline(idx: Index, pipe: ast.Pipeline, ctx: _Ctx, source: bool) -> None:
    for i, el in enumerate(pipe.elements):
        _element(idx, el, ctx, source and i == 0)


def _call(idx: Index, el: ast.Call, ctx: _Ctx, first: bool) -> None:
    name, span = el.name, el.name_span
    if first and el.args is None and name in ctx.tensors:
        idx.items.append(Item("tensor_use", name, span, ctx.tensors[name], el, ctx.owner))
        return
    if canonical_op(name) is not None:
        idx.items.append(Item("op", name, span, node=el, owner=ctx.owner))
    elif name in ctx.blocks:
        idx.items.append(Item("block_use", name, span, ctx.blocks[name], el, ctx.owner))
    elif name in ctx.params:
        idx.items.append(Item("param_use", name, span, ctx.params[name], el, ctx.owner))
    else:
        idx.items.append(Item("unknown", name, span, node=el, owner=ctx.owner))
    _args(idx, el.args, name, ctx)


def _element(idx: Index, el: Any, ctx: _Ctx, first: bool) -> None:
    idx.elements.append((el.span, el, ctx.owner))
    if isinstance(el, ast.Call):
        _call(idx, el, ctx, first)
    elif isinstance(el, ast.Branches):
        for br in el.branches:
            if br.label is not None and br.label_span is not None:
                idx.items.append(Item("scope", br.label, br.label_span, node=br, owner=ctx.owner))
            _pipeline(idx, br.pipeline, ctx, source=False)
    elif isinstance(el, ast.Residual | ast.Repeat):
        _args(idx, el.args, type(el).__name__.lower(), ctx)
        _pipeline(idx, el.body, ctx, source=False)
    elif isinstance(el, ast.Join):
        for name, span in el.names:
            idx.items.append(Item("tensor_use", name, span, ctx.tensors.get(name), el, ctx.owner))
    elif isinstance(el, ast.Group):
        _pipeline(idx, el.pipeline, ctx, source=first)
    elif isinstance(el, ast.Named):
        _element(idx, el.element, ctx, first)
        idx.items.append(Item("scope", el.name, el.name_span, node=el, owner=ctx.owner))


def _expr(idx: Index, e: Any, ctx: _Ctx) -> None:
    if isinstance(e, ast.NameRef):
        if e.id in ctx.params:
            idx.items.append(Item("param_use", e.id, e.span, ctx.params[e.id], e, ctx.owner))
        elif e.id in ctx.blocks:
            idx.items.append(Item("block_use", e.id, e.span, ctx.blocks[e.id], e, ctx.owner))
    elif isinstance(e, ast.BinOp):
        _expr(idx, e.left, ctx)
        _expr(idx, e.right, ctx)
    elif isinstance(e, ast.UnaryOp):
        _expr(idx, e.operand, ctx)
    elif isinstance(e, ast.FuncCall | ast.TupleLit):
        for a in e.args if isinstance(e, ast.FuncCall) else e.items:
            _expr(idx, a, ctx)
