"""Completion: op and block names, keyword arguments with their defaults, bound tensor names.

What is offered depends on the text before the cursor: inside the parentheses of a call, that
op's or block's keyword arguments (and the parameters in scope); inside `concat(`/`add(`/`mul(`
and after `->` or `=`, the tensors bound in the model; elsewhere op and block names. Names come
from the last version of the buffer that parsed, so a half-typed line still gets them.
"""

from __future__ import annotations

import re

from lsprotocol import types

from incept_dsl.commands.ops import op_line, value_text
from incept_dsl.frontend import ast
from incept_dsl.frontend.signatures import ALIASES, REQUIRED, SIGNATURES
from incept_dsl.lsp.analysis import Analysis
from incept_dsl.lsp.hover import block_signature, doc_comment

_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\($")
_JOINS = ("concat", "add", "mul")
Kind = types.CompletionItemKind


def _open_call(before: str) -> str | None:
    """The name of the call whose `(` is open at the end of `before`, if any."""
    depth = 0
    for i in range(len(before) - 1, -1, -1):
        c = before[i]
        if c == ")":
            depth += 1
        elif c == "(":
            if depth == 0:
                m = _CALL.search(before[: i + 1])
                return m.group(1) if m else None
            depth -= 1
        elif c in "{}" and depth == 0:
            return None
    return None


def _ops() -> list[types.CompletionItem]:
    out = []
    for name, sig in SIGNATURES.items():
        out.append(
            types.CompletionItem(
                name, kind=Kind.Function, detail=op_line(sig), documentation=sig.doc
            )
        )
    for alias, name in ALIASES.items():
        out.append(types.CompletionItem(alias, kind=Kind.Function, detail=f"alias of {name}"))
    return out


def _blocks(a: Analysis) -> list[types.CompletionItem]:
    defs: dict[str, ast.BlockDef] = {}
    if a.unit is not None:
        for name in a.unit.blocks.names():
            entry = a.unit.blocks.lookup(name)
            if entry is not None:
                defs[name] = entry.defn
    if a.index is not None:
        defs.update(a.index.blocks)
        for m in a.index.models.values():
            defs.update({s.name: s for s in m.body if isinstance(s, ast.BlockDef)})
    return [
        types.CompletionItem(
            n, kind=Kind.Class, detail=block_signature(d), documentation=doc_comment(d) or None
        )
        for n, d in sorted(defs.items())
    ]


def _keywords(a: Analysis, callee: str) -> list[types.CompletionItem]:
    name = ALIASES.get(callee, callee)
    if name in SIGNATURES:
        return [
            types.CompletionItem(
                x.name,
                kind=Kind.Property,
                detail="required" if x.default is REQUIRED else f"= {value_text(x.default)}",
                insert_text=f"{x.name} = ",
            )
            for x in SIGNATURES[name].args
        ]
    defn = a.index.blocks.get(callee) if a.index is not None else None
    if defn is None and a.unit is not None:
        entry = a.unit.blocks.lookup(callee)
        defn = entry.defn if entry is not None else None
    if defn is None:
        return []
    return [
        types.CompletionItem(p.name, kind=Kind.Property, insert_text=f"{p.name} = ")
        for p in defn.params
    ]


def _tensors(a: Analysis, offset: int) -> list[types.CompletionItem]:
    owner = a.index.owner_at(offset) if a.index is not None else None
    if not isinstance(owner, ast.ModelDef):
        return []
    names = [
        s.name
        for s in owner.body
        if isinstance(s, ast.InputStmt | ast.Bind) and s.span.end <= offset
    ]
    return [
        types.CompletionItem(n, kind=Kind.Variable, detail="tensor") for n in dict.fromkeys(names)
    ]


def complete(a: Analysis, text: str, offset: int) -> list[types.CompletionItem]:
    """The completion items for the cursor at `offset` of `text` (the buffer as it is now)."""
    before = text[:offset]
    word = re.search(r"[A-Za-z0-9_]*$", before)
    stem = before[: word.start()] if word else before
    callee = _open_call(stem)
    if callee in _JOINS:
        return _tensors(a, offset)
    if callee is not None and not stem.rstrip().endswith("="):
        return _keywords(a, callee) + _params(a, offset)
    items = _ops() + _blocks(a)
    if re.search(r"(->|=)\s*$", stem) or stem.rstrip().endswith("\n") or not stem.strip():
        items += _tensors(a, offset)
    return items


def _params(a: Analysis, offset: int) -> list[types.CompletionItem]:
    owner = a.index.owner_at(offset) if a.index is not None else None
    if owner is None:
        return []
    return [
        types.CompletionItem(p.name, kind=Kind.Variable, detail="parameter") for p in owner.params
    ]
