"""The IR: a typed facade over one `networkx.MultiDiGraph`.

A node is one op instance. Its networkx attributes are:

- ``op``     the IR op name (a key of `incept_dsl.ir.ops.OPS`),
- ``attrs``  resolved attributes, a dict in the op's schema order (ints, floats, bools, tuples),
- ``shape``  the output shape without the batch dimension: ``(C, H, W)`` or ``(F,)``,
- ``scope``  the hierarchical name (``inception_3a.branch_2.conv_1``), unique in the graph,
- ``span``   the source span it came from (a rewritten node inherits the span it replaces),
- ``pos``    its sort key for the deterministic order (creation order; passes may reuse a key),
- ``meta``   an open dict for analyses; never decides semantics.

An edge ``u -> v`` with attribute ``port=i`` says that ``u``'s output is ``v``'s i-th input. Every
node has one output tensor. Graph-level data (``graph.data``): ``name``, ``inputs`` (ordered names),
``heads`` (ordered list of `Head`), ``params`` (the model parameters' values), ``source``,
``blocks`` ({scope of an applied block: the block's name}), ``block_args`` ({that scope: its
evaluated arguments}), ``block_calls`` ({that scope: (file, start, end) of the application}),
``display_names`` ({scope named with `as NAME "Display"`: the display name}).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import networkx as nx

from incept_dsl.source import Span


@dataclass(frozen=True)
class Head:
    """A model output: `output` (kind "output", weight 1.0) or `aux` (kind "aux", its loss weight)."""

    name: str
    kind: str
    weight: float
    node: int


class Graph:
    """The IR of one model. Node ids are ints in creation order."""

    def __init__(self, name: str = "model") -> None:
        self.nx = nx.MultiDiGraph(name=name, inputs=[], heads=[], params={}, source=None)
        self._next = 0

    # ---- graph-level data
    @property
    def data(self) -> dict[str, Any]:
        return self.nx.graph

    @property
    def name(self) -> str:
        return self.nx.graph["name"]

    @property
    def heads(self) -> list[Head]:
        return self.nx.graph["heads"]

    # ---- construction
    def add_node(
        self,
        op: str,
        attrs: dict[str, Any],
        inputs: Iterable[int],
        shape: tuple[int, ...],
        scope: str,
        span: Span | None,
        pos: tuple | None = None,
    ) -> int:
        """Add a node reading `inputs` (in port order) and return its id."""
        nid = self._next
        self._next += 1
        self.nx.add_node(
            nid,
            op=op,
            attrs=dict(attrs),
            shape=tuple(shape),
            scope=scope,
            span=span,
            pos=pos if pos is not None else (nid,),
            meta={},
        )
        for port, src in enumerate(inputs):
            self.nx.add_edge(src, nid, key=port, port=port)
        return nid

    def set_inputs(self, node: int, inputs: Iterable[int]) -> None:
        """Replace `node`'s input edges by `inputs` in port order."""
        for u, _, k in list(self.nx.in_edges(node, keys=True)):
            self.nx.remove_edge(u, node, key=k)
        for port, src in enumerate(inputs):
            self.nx.add_edge(src, node, key=port, port=port)

    # ---- queries
    def __contains__(self, node: int) -> bool:
        return node in self.nx

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def node(self, n: int) -> dict[str, Any]:
        return self.nx.nodes[n]

    def op(self, n: int) -> str:
        return self.nx.nodes[n]["op"]

    def attrs(self, n: int) -> dict[str, Any]:
        return self.nx.nodes[n]["attrs"]

    def shape(self, n: int) -> tuple[int, ...]:
        return self.nx.nodes[n]["shape"]

    def scope(self, n: int) -> str:
        return self.nx.nodes[n]["scope"]

    def span(self, n: int) -> Span | None:
        return self.nx.nodes[n]["span"]

    def meta(self, n: int) -> dict[str, Any]:
        return self.nx.nodes[n]["meta"]

    def inputs(self, n: int) -> list[int]:
        """`n`'s input nodes in port order."""
        edges = sorted(self.nx.in_edges(n, data="port"), key=lambda e: e[2])
        return [u for u, _, _ in edges]

    def users(self, n: int) -> list[tuple[int, int]]:
        """(user, port) pairs reading `n`'s output, in deterministic order."""
        return sorted(
            ((v, p) for _, v, p in self.nx.out_edges(n, data="port")),
            key=lambda e: (self.nx.nodes[e[0]]["pos"], e[1]),
        )

    def order(self) -> list[int]:
        """All nodes in a topological order that breaks ties by `pos` (source order)."""
        pos = nx.get_node_attributes(self.nx, "pos")
        return list(nx.lexicographical_topological_sort(self.nx, key=lambda n: pos[n]))

    def nodes(self, op: str | None = None) -> Iterator[int]:
        """Nodes in deterministic order, optionally only those of one op."""
        for n in self.order():
            if op is None or self.nx.nodes[n]["op"] == op:
                yield n

    def input_nodes(self) -> list[int]:
        by_name = {self.attrs(n)["name"]: n for n in self.nx if self.op(n) == "input"}
        return [by_name[name] for name in self.nx.graph["inputs"]]

    def head_nodes(self, kinds: tuple[str, ...] = ("output", "aux")) -> list[int]:
        return [h.node for h in self.heads if h.kind in kinds]

    def by_scope(self, scope: str) -> int:
        for n, s in self.nx.nodes(data="scope"):
            if s == scope:
                return n
        raise KeyError(scope)

    # ---- mutation verbs (used by passes)
    def replace_all_uses_with(self, old: int, new: int) -> None:
        """Every edge reading `old` reads `new` instead (same ports); heads follow too."""
        for _, v, k, port in list(self.nx.out_edges(old, keys=True, data="port")):
            self.nx.remove_edge(old, v, key=k)
            self.nx.add_edge(new, v, key=port, port=port)
        self.nx.graph["heads"] = [
            Head(h.name, h.kind, h.weight, new if h.node == old else h.node) for h in self.heads
        ]

    def erase_node(self, n: int) -> None:
        if self.nx.out_degree(n):
            raise ValueError(f"cannot erase {self.scope(n)}: it still has users")
        self.nx.remove_node(n)

    def live_nodes(self, keep_kinds: tuple[str, ...] = ("output", "aux")) -> set[int]:
        """The nodes some head of `keep_kinds` depends on, and every input (the graph unchanged)."""
        live: set[int] = set()
        for n in self.head_nodes(keep_kinds):
            live.add(n)
            live |= nx.ancestors(self.nx, n)
        return live | {n for n in self.nx if self.op(n) == "input"}

    def eliminate_dead_code(self, keep_kinds: tuple[str, ...] = ("output", "aux")) -> bool:
        """Remove nodes no kept head depends on (inputs always stay). Returns whether it changed."""
        live = self.live_nodes(keep_kinds)
        dead = [n for n in self.nx if n not in live]
        self.nx.remove_nodes_from(dead)
        kept = [h for h in self.heads if h.kind in keep_kinds]
        changed = bool(dead) or len(kept) != len(self.heads)
        self.nx.graph["heads"] = kept
        return changed

    def copy(self) -> Graph:
        """A deep copy (attrs and meta copied; spans shared)."""
        g = Graph.__new__(Graph)
        g.nx = nx.MultiDiGraph()
        g.nx.graph.update(copy.deepcopy({k: v for k, v in self.nx.graph.items() if k != "source"}))
        g.nx.graph["source"] = self.nx.graph.get("source")
        for n, d in self.nx.nodes(data=True):
            g.nx.add_node(n, **{**d, "attrs": copy.deepcopy(d["attrs"]), "meta": dict(d["meta"])})
        g.nx.add_edges_from(self.nx.edges(keys=True, data=True))
        g._next = self._next
        return g

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self)} nodes>"

    def dump(self) -> str:
        """A readable listing, one node per line, for debugging and `--print-after-all`."""
        lines = []
        for n in self.order():
            d = self.node(n)
            ins = ", ".join(f"%{i}" for i in self.inputs(n))
            attrs = ", ".join(f"{k}={v}" for k, v in d["attrs"].items())
            shape = "x".join(map(str, d["shape"]))
            lines.append(f"%{n} = {d['op']}({ins}) {{{attrs}}} : {shape}  # {d['scope']}")
        for h in self.heads:
            lines.append(
                f"{h.kind} {h.name} = %{h.node}"
                + (f" weight {h.weight}" if h.kind == "aux" else "")
            )
        return "\n".join(lines)
