"""The rows of the cost tables: one `Row` per IR node and one `BlockRow` per top-level block,
with exact integer counts (parameters and buffers by `ir.ops.param_count`, MACs by the rules of
`ir.costs`, memory = output elements × 4 bytes), and `Totals` over any set of them (which count
the memory of views, `IROp.view` in the op table, once: with the tensor they view).

An analysis of the IR: it reads the graph and never changes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import networkx as nx

from incept_dsl.frontend.signatures import ACTIVATIONS
from incept_dsl.ir.costs import memory_bytes
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import OPS, macs, param_count

Shape = tuple[int, ...]
Pair = tuple[int, int]

_WINDOWED = ("conv", "conv_transpose", "maxpool", "avgpool")
_LAYER_FAMILIES = ("conv", "conv_transpose", "linear", "attention")  # what "depth" counts


@dataclass(frozen=True)
class Totals:
    """Sums over a set of rows."""

    layers: int
    params: int
    buffers: int
    macs: int
    memory_bytes: int

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @classmethod
    def of(cls, rows: list[Any]) -> Totals:
        return cls(
            sum(getattr(r, "layers", 1) for r in rows),
            sum(r.params for r in rows),
            sum(r.buffers for r in rows),
            sum(r.macs for r in rows),
            sum(r.memory_bytes for r in rows if not getattr(r, "view", False)),
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "layers": self.layers,
            "params": self.params,
            "buffers": self.buffers,
            "macs": self.macs,
            "flops": self.flops,
            "memory_bytes": self.memory_bytes,
        }


@dataclass(frozen=True)
class Row:
    """One IR node: where it is (`name`, `block`, `part`: main | aux | unused), what it does and
    what it costs per sample."""

    name: str
    op: str
    block: str
    part: str
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    kernel: Pair | None
    stride: Pair | None
    padding: Pair | None
    params: int
    buffers: int
    macs: int
    memory_bytes: int

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def input_shape(self) -> Shape:
        return self.input_shapes[0] if self.input_shapes else ()

    @property
    def view(self) -> bool:
        """The output is a view of the input (its memory is counted with the input's)."""
        return OPS[self.op].view

    def to_dict(self) -> dict[str, Any]:
        def pair(p: Pair | None) -> list[int] | None:
            return list(p) if p is not None else None

        return {
            "name": self.name,
            "op": self.op,
            "block": self.block,
            "part": self.part,
            "input_shape": list(self.input_shape),
            "input_shapes": [list(s) for s in self.input_shapes],
            "output_shape": list(self.output_shape),
            "kernel": pair(self.kernel),
            "stride": pair(self.stride),
            "padding": pair(self.padding),
            "params": self.params,
            "buffers": self.buffers,
            "macs": self.macs,
            "flops": self.flops,
            "memory_bytes": self.memory_bytes,
            "view": self.view,
        }


@dataclass(frozen=True)
class BlockRow:
    """One top-level block: its `type` (block or op name), `patch` (kernel/stride of a one-layer
    block), output shape, `depth` (conv, transposed conv, linear and attention layers on its
    longest path), `channels` (role
    -> output channels, for a block ending in a concat of branches) and its rows' sums."""

    name: str
    type: str
    part: str
    patch: str
    output_shape: Shape
    depth: int
    channels: dict[str, str]
    layers: int
    params: int
    buffers: int
    macs: int
    memory_bytes: int

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "part": self.part,
            "patch": self.patch,
            "output_shape": list(self.output_shape),
            "depth": self.depth,
            "channels": dict(self.channels),
            "layers": self.layers,
            "params": self.params,
            "buffers": self.buffers,
            "macs": self.macs,
            "flops": self.flops,
            "memory_bytes": self.memory_bytes,
        }


# ---- analysis ----------------------------------------------------------------------------------
def node_parts(g: Graph) -> dict[int, str]:
    """Each node's part: "main" (an `output` needs it), "aux" (only aux heads need it) or
    "unused" (no head needs it)."""
    need: dict[str, set[int]] = {"output": set(), "aux": set()}
    for h in g.heads:
        need[h.kind] |= nx.ancestors(g.nx, h.node) | {h.node}
    return {
        n: "main" if n in need["output"] else "aux" if n in need["aux"] else "unused" for n in g.nx
    }


def block_key(scope: str) -> str:
    """The top-level block of a scope: its first part, with a repeat's copy number
    (`layer1.0.conv_1` -> `layer1.0`)."""
    parts = scope.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 and parts[1].isdigit() else parts[0]


def _geometry(g: Graph, n: int) -> tuple[Pair | None, Pair | None, Pair | None]:
    op, a = g.op(n), g.attrs(n)
    if op in _WINDOWED:
        return a["kernel"], a["stride"], a["padding"]
    if op == "global_avgpool":
        c, h, w = g.shape(g.inputs(n)[0])
        return (h, w), (1, 1), (0, 0)
    return None, None, None


def layer_rows(g: Graph, parts: dict[int, str]) -> list[Row]:
    """A `Row` for every node but the inputs, in `g.order()`."""
    rows = []
    for n in g.order():
        op = g.op(n)
        if op == "input":
            continue
        a, out = g.attrs(n), g.shape(n)
        ins = tuple(g.shape(i) for i in g.inputs(n))
        params, buffers = param_count(op, a)
        kernel, stride, padding = _geometry(g, n)
        rows.append(
            Row(
                g.scope(n),
                op,
                block_key(g.scope(n)),
                parts[n],
                ins,
                out,
                kernel,
                stride,
                padding,
                params,
                buffers,
                macs(op, a, list(ins), out),
                memory_bytes(out),
            )
        )
    return rows


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
    windowed = [n for n in nodes if g.op(n) in (*_WINDOWED, "global_avgpool")]
    if len(windowed) != 1:
        return ""
    kernel, stride, _ = _geometry(g, windowed[0])
    assert kernel is not None and stride is not None  # windowed ops and global_avgpool have both
    s = str(stride[0]) if stride[0] == stride[1] else "×".join(map(str, stride))
    return f"{kernel[0]}×{kernel[1]}/{s}"


def block_rows(g: Graph, parts: dict[int, str], rows: list[Row]) -> list[BlockRow]:
    """One `BlockRow` per top-level block, in the order blocks first appear."""
    groups: dict[str, list[int]] = {}
    for n in g.order():
        if g.op(n) != "input":
            groups.setdefault(block_key(g.scope(n)), []).append(n)
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
                _block_type(g, key, nodes),
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
