"""The block view of the cost tables: one `BlockRow` per top-level block, the same units, in the
same order, as the network figure's top-level boxes and frames (`rows.block_of`): a block
application, a named group, a repeat (all its copies: "unit ×4"), or a lone op; with its type,
patch, output shape, depth, branch channels (GoogLeNet's Table 1 columns) and its rows' sums.

An analysis of the IR: it reads the graph and never changes it.
"""

from __future__ import annotations

import re

import networkx as nx

from incept_dsl.backends.summary.rows import (
    WINDOWED,
    BlockRow,
    Row,
    Totals,
    block_of,
    geometry,
)
from incept_dsl.frontend.signatures import ACTIVATIONS
from incept_dsl.ir.graph import Graph

_LAYER_FAMILIES = ("conv", "conv_transpose", "linear", "attention")  # what "depth" counts


def _depth(g: Graph, nodes: list[int]) -> int:
    """Conv, transposed conv, linear and attention layers on the longest path through `nodes`
    (given in topological order)."""
    inside = set(nodes)
    depth: dict[int, int] = {}
    for n in nodes:
        own = 1 if g.op(n) in _LAYER_FAMILIES else 0
        depth[n] = own + max((depth[i] for i in g.inputs(n) if i in inside), default=0)
    return max(depth.values(), default=0)


def _kernel(g: Graph, n: int) -> str:
    return "×".join(map(str, g.attrs(n)["kernel"]))


def _conv_like(g: Graph, n: int, shared: set[int]) -> tuple[str, int] | None:
    """(kernel, output channels) of a branch's own conv, or of a slice of a conv that several
    branches share (sibling convs merged by -O1), else None."""
    if g.op(n) == "conv" and n not in shared:
        return _kernel(g, n), g.attrs(n)["out_channels"]
    if g.op(n) == "slice":
        src = g.inputs(n)[0]
        while g.op(src) != "conv" and len(g.inputs(src)) == 1:
            src = g.inputs(src)[0]
        if g.op(src) == "conv":
            return _kernel(g, src), g.attrs(n)["end"] - g.attrs(n)["start"]
    return None


def _branch_channels(g: Graph, nodes: list[int]) -> dict[str, str]:
    """Role -> channels for a block whose last concat joins branches (GoogLeNet's Table 1
    columns): a lone 1×1 conv is `#1×1`; a pool then a conv is `pool proj`; otherwise the branch's
    last conv gives `#K×K` and each 1×1 before it is `#K×K reduce` (other kernels keep their own
    `#K×K`). A conv that several branches share (merged by -O1) counts in each branch by the
    slice that branch takes of it."""
    inside = set(nodes)
    joins = [n for n in nodes if g.op(n) == "concat"]
    if not joins:
        return {}
    branches = [(nx.ancestors(g.nx, b) | {b}) & inside for b in g.inputs(joins[-1])]
    seen: dict[int, int] = {}
    for br in branches:
        for n in br:
            seen[n] = seen.get(n, 0) + 1
    shared = {n for n, k in seen.items() if k > 1}
    roles: dict[str, list[str]] = {}
    for br in branches:
        seq = [n for n in nodes if n in br and n not in shared]
        convs = [c for c in (_conv_like(g, n, shared) for n in seq) if c is not None]
        if not convs:
            continue
        pooled = g.op(seq[0]) in ("maxpool", "avgpool")
        if pooled and len(convs) == 1:
            named = [("pool proj", convs[0][1])]
        elif len(convs) == 1 and convs[0][0] == "1×1":
            named = [("#1×1", convs[0][1])]
        else:
            last = f"#{convs[-1][0]}"
            named = [(f"{last} reduce" if k == "1×1" else f"#{k}", c) for k, c in convs[:-1]]
            named.append((last, convs[-1][1]))
        for role, channels in named:
            roles.setdefault(role, []).append(str(channels))
    return {role: "/".join(vals) for role, vals in roles.items()}


_OP_TYPES = {
    "conv": "convolution",
    "maxpool": "max pool",
    "avgpool": "avg pool",
    "global_avgpool": "avg pool",
    "adaptive_avgpool": "adaptive avg pool",
    "batchnorm": "batch norm",
    "lrn": "LRN",
    "conv_transpose": "transposed convolution",
    "layernorm": "layer norm",
    "groupnorm": "group norm",
    "class_token": "class token",
    "pos_embedding": "position embedding",
    "select": "select token",
}


def _block_type(g: Graph, key: str, nodes: list[int]) -> str:
    named = g.data.get("blocks", {})
    if key in named:
        return named[key]
    under = {s for s in named if s.startswith(key + ".") and "." not in s[len(key) + 1 :]}
    if len(under) == 1:
        return named[under.pop()]
    core = [n for n in nodes if g.op(n) not in (*ACTIVATIONS, "batchnorm")] or nodes
    if len(core) == 1:
        op = g.op(core[0])
        if op == "dropout":
            return f"dropout ({g.attrs(core[0])['p']:.0%})"
        return _OP_TYPES.get(op, op)
    base = key.split(".")[0]
    return re.sub(r"_\d+$", "", base)


def _patch(g: Graph, nodes: list[int]) -> str:
    windowed = [n for n in nodes if g.op(n) in (*WINDOWED, "global_avgpool")]
    if len(windowed) != 1:
        return ""
    kernel, stride, _ = geometry(g, windowed[0])
    assert kernel is not None and stride is not None  # windowed ops and global_avgpool have both
    s = str(stride[0]) if stride[0] == stride[1] else "×".join(map(str, stride))
    return f"{kernel[0]}×{kernel[1]}/{s}"


def _copies(g: Graph, key: str, nodes: list[int]) -> list[str]:
    """The copies of a repeat (`stage.0`, `stage.1`, ...) when block `key` is one (each of its
    own nodes is scoped `key.<copy>...`), else []."""
    paths: list[str] = []
    for n in nodes:
        parts = g.scope(n).split(".")
        if parts[0] != key:  # an identity that joined the block
            continue
        if len(parts) < 2 or not parts[1].isdigit():
            return []
        if f"{key}.{parts[1]}" not in paths:
            paths.append(f"{key}.{parts[1]}")
    return paths


def _type(g: Graph, key: str, nodes: list[int]) -> str:
    """The block's type; a repeat's is its copies' type and count ("unit ×4")."""
    copies = _copies(g, key, nodes)
    if not copies:
        return _block_type(g, key, nodes)
    first = [n for n in nodes if g.scope(n).startswith(copies[0] + ".")]
    return f"{_block_type(g, copies[0], first)} ×{len(copies)}"


def block_rows(g: Graph, parts: dict[int, str], rows: list[Row]) -> list[BlockRow]:
    """One `BlockRow` per top-level block (`rows.block_of`), in the order blocks first appear."""
    groups: dict[str, list[int]] = {}
    for n, key in block_of(g).items():
        groups.setdefault(key, []).append(n)
    by_name = {r.name: r for r in rows}
    heads = {h.node for h in g.heads}
    out = []
    for key, nodes in groups.items():
        inside = set(nodes)
        leaving = [
            n for n in nodes if n in heads or any(u not in inside for u, _ in g.users(n))
        ] or nodes
        mine = [by_name[g.scope(n)] for n in nodes]
        kinds = {parts[n] for n in nodes}
        part = "main" if "main" in kinds else "aux" if "aux" in kinds else "unused"
        t = Totals.of(mine)
        out.append(
            BlockRow(
                key,
                _type(g, key, nodes),
                part,
                _patch(g, nodes),
                g.shape(leaving[-1]),
                _depth(g, nodes),
                _branch_channels(g, nodes),
                t.layers,
                t.params,
                t.buffers,
                t.macs,
                t.memory_bytes,
            )
        )
    return out
