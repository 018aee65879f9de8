"""Hover text (Markdown) for the name or element under the cursor.

An op name: its call form, doc and each argument with its kind and default (`incept-dsl ops`).
A block (definition or application): its signature and the comment above its definition. A bound
name, an element, a block application or an `as` name: output shape, parameters and MACs from the
elaborated model. A keyword argument: that argument of the op. A model: inputs, outputs, totals.
"""

from __future__ import annotations

from typing import Any

from incept_dsl.commands.ops import detail, kind_text, value_text
from incept_dsl.frontend import ast
from incept_dsl.frontend.signatures import REQUIRED, SIGNATURES, canonical_op
from incept_dsl.lsp.analysis import Analysis
from incept_dsl.lsp.facts import Facts, element_facts, element_nodes, facts_of, fmt_count
from incept_dsl.lsp.index import Item
from incept_dsl.source import Span
from incept_dsl.text import fmt_shape


def hover_text(a: Analysis, offset: int) -> tuple[str, Span] | None:
    """Markdown for the cursor at `offset` and the span it describes, or None."""
    idx = a.index
    if idx is None:
        return None
    item = idx.at(offset)
    if item is not None:
        text = _item_text(a, item)
        if text:
            return text, item.span
    el = idx.element_at(offset)
    if el is None:
        return None
    f = element_facts(a.graphs, el[0], _model_of(a, el[2]))
    return (_code(el[0]) + "\n\n" + _facts_text(f), el[0]) if f is not None else None


def _model_of(a: Analysis, owner: str | None) -> str | None:
    return owner if owner in a.graphs else None


def _code(span: Span) -> str:
    text = span.source.text[span.start : span.end].strip()
    first = text.splitlines()[0] if text else ""
    return f"```incept\n{first}\n```"


def _facts_text(f: Facts) -> str:
    """Shape, parameters and MACs, then where: a block body's element tells of the block's first
    application (its scope names it)."""
    where = f"model `{f.model}`" + (f", scope `{f.scope}`" if f.scope else "")
    if f.block:
        where = f"in its first application, {where}"
    return (
        f"**output** {fmt_shape(f.shape)}  \n**parameters** {fmt_count(f.params)}  \n"
        f"**MACs** {fmt_count(f.macs)}  \n_{where}_"
    )


def _item_text(a: Analysis, item: Item) -> str | None:
    kind = item.kind
    if kind == "op":
        return _op_text(a, item)
    if kind in ("block", "block_use"):
        return _block_text(a, item)
    if kind in ("tensor", "tensor_use"):
        return _tensor_text(a, item)
    if kind == "keyword":
        return _keyword_text(item)
    if kind in ("param", "param_use"):
        return _param_text(a, item)
    if kind == "model":
        return _model_text(a, item.name)
    if kind == "scope":
        f = element_facts(a.graphs, item.node.span, _model_of(a, item.owner))
        return f"scope `{item.name}`\n\n" + _facts_text(f) if f else f"scope `{item.name}`"
    if kind == "import":
        return f"import `{item.name}`"
    return None


def _op_text(a: Analysis, item: Item) -> str:
    name = canonical_op(item.name) or item.name
    text = f"```\n{detail(name)}\n```"
    if isinstance(item.node, ast.Call):
        f = element_facts(a.graphs, item.node.span, _model_of(a, item.owner))
        if f is not None:
            text += "\n\n" + _facts_text(f)
    return text


def doc_comment(defn: Any) -> str:
    """The `#` comment lines right above a definition, without their `#`."""
    src = defn.span.source
    line = defn.span.line - 1
    out: list[str] = []
    while line >= 1:
        t = src.line_text(line).strip()
        if not t.startswith("#"):
            break
        out.append(t[1:].strip())
        line -= 1
    return "\n".join(reversed(out))


def block_signature(defn: ast.BlockDef) -> str:
    parts = []
    for p in defn.params:
        if p.default is None:
            parts.append(p.name)
        else:
            src = p.default.span.source.text[p.default.span.start : p.default.span.end]
            parts.append(f"{p.name} = {src}")
    return f"block {defn.name}({', '.join(parts)})"


def _find_block(a: Analysis, item: Item) -> ast.BlockDef | None:
    if isinstance(item.node, ast.BlockDef):
        return item.node
    if a.unit is not None:
        entry = a.unit.blocks.lookup(item.name)
        if entry is not None:
            return entry.defn
    idx = a.index
    return idx.blocks.get(item.name) if idx is not None else None


def _block_text(a: Analysis, item: Item) -> str:
    defn = _find_block(a, item)
    if defn is None:
        return f"block `{item.name}`"
    text = f"```incept\n{block_signature(defn)}\n```"
    doc = doc_comment(defn)
    if doc:
        text += "\n\n" + doc
    if isinstance(item.node, ast.Call):
        f = element_facts(a.graphs, item.node.span, _model_of(a, item.owner))
        if f is not None:
            text += "\n\n" + _facts_text(f)
    return text


def _tensor_text(a: Analysis, item: Item) -> str:
    g = a.graphs.get(item.owner or "")
    head = f"tensor `{item.name}`"
    if g is None or item.target is None and item.kind == "tensor_use":
        return head
    idx = a.index
    defs = [i for i in (idx.items if idx else []) if i.kind == "tensor" and i.owner == item.owner]
    defn = next((d for d in defs if d.name == item.name), None)
    if defn is None:
        return head
    st = defn.node
    if isinstance(st, ast.InputStmt):
        ins = dict(zip(g.data["inputs"], [g.shape(n) for n in g.input_nodes()], strict=False))
        return f"input `{item.name}`: {fmt_shape(ins[item.name])}" if item.name in ins else head
    nodes = _pipeline_nodes(g, st.pipeline)
    f = facts_of(g, nodes)
    if f is None:
        return head
    return (
        f"{st.kind if st.kind != 'bind' else 'tensor'} `{item.name}`: {fmt_shape(f.shape)}\n\n"
        f"**parameters** {fmt_count(f.params)}  \n**MACs** {fmt_count(f.macs)} "
        f"_(of its pipeline)_"
    )


def _pipeline_nodes(g: Any, pipe: ast.Pipeline) -> list[int]:
    seen: dict[int, None] = {}
    for el in pipe.elements:
        for n in element_nodes(g, el.span):
            seen[n] = None
    order = {n: i for i, n in enumerate(g.order())}
    return sorted(seen, key=order.__getitem__)


def _keyword_text(item: Item) -> str | None:
    op = canonical_op(str(item.node))
    sig = SIGNATURES.get(op or "")
    arg = next((x for x in sig.args if x.name == item.name), None) if sig else None
    if arg is None:
        return f"argument `{item.name}` of `{item.node}`"
    default = "required" if arg.default is REQUIRED else f"default `{value_text(arg.default)}`"
    valid = f"; {arg.valid.text}" if arg.valid is not None and arg.valid.text else ""
    return f"`{op}` argument `{arg.name}`: {kind_text(arg.kind)}; {default}{valid}"


def _param_text(a: Analysis, item: Item) -> str:
    p = item.node if isinstance(item.node, ast.Param) else None
    text = f"parameter `{item.name}`"
    if p is not None and p.default is not None:
        text += " = `" + p.default.span.source.text[p.default.span.start : p.default.span.end] + "`"
    g = a.graphs.get(item.owner or "")
    if g is not None and item.name in g.data.get("params", {}):
        text += f" (value `{g.data['params'][item.name]}`)"
    return text


def _model_text(a: Analysis, name: str) -> str:
    g = a.graphs.get(name)
    if g is None:
        return f"model `{name}` (does not elaborate: see the problems)"
    ins = ", ".join(
        f"{k} {fmt_shape(g.shape(n))}"
        for k, n in zip(g.data["inputs"], g.input_nodes(), strict=False)
    )
    outs = ", ".join(f"{h.name} {fmt_shape(g.shape(h.node))}" for h in g.heads)
    f = facts_of(g, g.order())
    total = f"**parameters** {fmt_count(f.params)}  \n**MACs** {fmt_count(f.macs)}" if f else ""
    return f"model `{name}`\n\n**inputs** {ins}  \n**outputs** {outs}  \n{total}"
