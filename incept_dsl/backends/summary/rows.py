"""The rows of the cost tables: one `Row` per IR node and one `BlockRow` per top-level block
(made by `blocks`),
with exact integer counts (parameters and buffers by `ir.ops.param_count`, MACs by the rules of
`ir.costs`, memory = output elements × 4 bytes), and `Totals` over any set of them (which count
the memory of views, `IROp.view` in the op table, once: with the tensor they view).

An analysis of the IR: it reads the graph and never changes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from incept_dsl.ir.costs import memory_bytes
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import OPS, macs, param_count

Shape = tuple[int, ...]
Pair = tuple[int, int]

WINDOWED = ("conv", "conv_transpose", "maxpool", "avgpool")


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


def block_of(g: Graph) -> dict[int, str]:
    """Each node's block in the block view: the first part of its scope (a repeat is one block,
    as the network figure draws it: one box for all its copies), except that a top-level
    identity (a dropout with p = 0, which the figure leaves out) joins the block of the tensor
    it passes on. Input nodes are left out."""
    out: dict[int, str] = {}
    for n in g.order():
        if g.op(n) == "input":
            continue
        key = g.scope(n).split(".")[0]
        ins = g.inputs(n)
        identity = g.op(n) == "dropout" and g.attrs(n)["p"] == 0 and "." not in g.scope(n)
        if identity and len(ins) == 1 and ins[0] in out:
            key = out[ins[0]]
        out[n] = key
    return out


def geometry(g: Graph, n: int) -> tuple[Pair | None, Pair | None, Pair | None]:
    op, a = g.op(n), g.attrs(n)
    if op in WINDOWED:
        return a["kernel"], a["stride"], a["padding"]
    if op == "global_avgpool":
        c, h, w = g.shape(g.inputs(n)[0])
        return (h, w), (1, 1), (0, 0)
    return None, None, None


def layer_rows(g: Graph, parts: dict[int, str], batch: int = 1) -> list[Row]:
    """A `Row` for every node but the inputs, in `g.order()`; memory is that of `batch`
    samples, every other count per sample."""
    rows = []
    blocks = block_of(g)
    for n in g.order():
        op = g.op(n)
        if op == "input":
            continue
        a, out = g.attrs(n), g.shape(n)
        ins = tuple(g.shape(i) for i in g.inputs(n))
        params, buffers = param_count(op, a)
        kernel, stride, padding = geometry(g, n)
        rows.append(
            Row(
                g.scope(n),
                op,
                blocks[n],
                parts[n],
                ins,
                out,
                kernel,
                stride,
                padding,
                params,
                buffers,
                macs(op, a, list(ins), out),
                batch * memory_bytes(out),
            )
        )
    return rows
