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

Construction is staged. `add_node` first appends to two plain dicts (node id: its attributes;
node id: its inputs in port order), and the `networkx.MultiDiGraph` is built from them the first
time something needs the graph itself: `nx`, a mutation verb, `users`, `copy`. Elaboration only
appends, and a staged node may only read nodes made before it, so until then creation order is a
topological order and a backward sweep finds what a head depends on. `incept-dsl check` needs no
more than that, and so never imports networkx, a third of its start-up (issue 18).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from incept_dsl.source import Span

if TYPE_CHECKING:
    import networkx as nx


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
        self._data: dict[str, Any] = {
            "name": name,
            "inputs": [],
            "heads": [],
            "params": {},
            "source": None,
        }
        self._staged: dict[int, dict[str, Any]] = {}  # until `nx` is built: node -> attributes
        self._reads: dict[int, tuple[int, ...]] = {}  # until then: node -> inputs in port order
        self._plain_pos = True  # every staged node has the default `pos`, (its id,)
        self._nx: nx.MultiDiGraph | None = None
        self._next = 0

    @property
    def nx(self) -> nx.MultiDiGraph:
        """The networkx graph, built from the staged nodes on first use and the only store after.

        Node attribute dicts are copied into it: a dict taken from `node` before holds stale data.
        """
        if self._nx is None:
            import networkx

            g = networkx.MultiDiGraph()
            g.graph = self._data
            g.add_nodes_from(self._staged.items())
            g.add_edges_from(
                (src, n, port, {"port": port})
                for n, reads in self._reads.items()
                for port, src in enumerate(reads)
            )
            self._nx, self._staged, self._reads = g, {}, {}
        return self._nx

    # ---- graph-level data
    @property
    def data(self) -> dict[str, Any]:
        return self._data

    @property
    def name(self) -> str:
        return self._data["name"]

    @property
    def heads(self) -> list[Head]:
        return self._data["heads"]

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
        """Add a node reading `inputs` (in port order) and return its id.

        Raises `ValueError` when an input is not a node of the graph."""
        nid = self._next
        inputs = tuple(inputs)
        missing = [i for i in inputs if i not in self]
        if missing:
            raise ValueError(f"{scope} reads %{missing[0]}, which is not a node of the graph")
        self._next += 1
        data = {
            "op": op,
            "attrs": dict(attrs),
            "shape": tuple(shape),
            "scope": scope,
            "span": span,
            "pos": pos if pos is not None else (nid,),
            "meta": {},
        }
        if self._nx is None:
            self._staged[nid] = data
            self._reads[nid] = inputs
            self._plain_pos = self._plain_pos and data["pos"] == (nid,)
            return nid
        self._nx.add_node(nid, **data)
        for port, src in enumerate(inputs):
            self._nx.add_edge(src, nid, key=port, port=port)
        return nid

    def set_inputs(self, node: int, inputs: Iterable[int]) -> None:
        """Replace `node`'s input edges by `inputs` in port order."""
        for u, _, k in list(self.nx.in_edges(node, keys=True)):
            self.nx.remove_edge(u, node, key=k)
        for port, src in enumerate(inputs):
            self.nx.add_edge(src, node, key=port, port=port)

    # ---- queries
    def __contains__(self, node: int) -> bool:
        return node in self._staged if self._nx is None else node in self._nx

    def __len__(self) -> int:
        return len(self._staged) if self._nx is None else self._nx.number_of_nodes()

    def _items(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(node, attributes) pairs, in creation order while staged."""
        return iter(self._staged.items()) if self._nx is None else iter(self._nx.nodes(data=True))

    def node(self, n: int) -> dict[str, Any]:
        return self._staged[n] if self._nx is None else self._nx.nodes[n]

    def op(self, n: int) -> str:
        return self.node(n)["op"]

    def attrs(self, n: int) -> dict[str, Any]:
        return self.node(n)["attrs"]

    def shape(self, n: int) -> tuple[int, ...]:
        return self.node(n)["shape"]

    def scope(self, n: int) -> str:
        return self.node(n)["scope"]

    def span(self, n: int) -> Span | None:
        return self.node(n)["span"]

    def meta(self, n: int) -> dict[str, Any]:
        return self.node(n)["meta"]

    def inputs(self, n: int) -> list[int]:
        """`n`'s input nodes in port order."""
        if self._nx is None:
            return list(self._reads[n])
        edges = sorted(self._nx.in_edges(n, data="port"), key=lambda e: e[2])
        return [u for u, _, _ in edges]

    def users(self, n: int) -> list[tuple[int, int]]:
        """(user, port) pairs reading `n`'s output, in deterministic order."""
        g = self.nx
        return sorted(
            ((v, p) for _, v, p in g.out_edges(n, data="port")),
            key=lambda e: (g.nodes[e[0]]["pos"], e[1]),
        )

    def order(self) -> list[int]:
        """All nodes in a topological order that breaks ties by `pos` (source order).

        While staged with default keys that is creation order: `networkx`'s lexicographical
        topological sort gives the same list, as every node only reads nodes made before it."""
        if self._nx is None and self._plain_pos:
            return list(self._staged)
        import networkx

        pos = networkx.get_node_attributes(self.nx, "pos")
        return list(networkx.lexicographical_topological_sort(self.nx, key=lambda n: pos[n]))

    def nodes(self, op: str | None = None) -> Iterator[int]:
        """Nodes in deterministic order, optionally only those of one op."""
        for n in self.order():
            if op is None or self.op(n) == op:
                yield n

    def input_nodes(self) -> list[int]:
        by_name = {d["attrs"]["name"]: n for n, d in self._items() if d["op"] == "input"}
        return [by_name[name] for name in self._data["inputs"]]

    def head_nodes(self, kinds: tuple[str, ...] = ("output", "aux")) -> list[int]:
        return [h.node for h in self.heads if h.kind in kinds]

    def by_scope(self, scope: str) -> int:
        for n, d in self._items():
            if d["scope"] == scope:
                return n
        raise KeyError(scope)

    # ---- mutation verbs (used by passes)
    def replace_all_uses_with(self, old: int, new: int) -> None:
        """Every edge reading `old` reads `new` instead (same ports); heads follow too."""
        g = self.nx
        for _, v, k, port in list(g.out_edges(old, keys=True, data="port")):
            g.remove_edge(old, v, key=k)
            g.add_edge(new, v, key=port, port=port)
        self._data["heads"] = [
            Head(h.name, h.kind, h.weight, new if h.node == old else h.node) for h in self.heads
        ]

    def erase_node(self, n: int) -> None:
        if self.nx.out_degree(n):
            raise ValueError(f"cannot erase {self.scope(n)}: it still has users")
        self.nx.remove_node(n)

    def live_nodes(self, keep_kinds: tuple[str, ...] = ("output", "aux")) -> set[int]:
        """The nodes some head of `keep_kinds` depends on, and every input (the graph unchanged)."""
        live = set(self.head_nodes(keep_kinds))
        if self._nx is None:  # creation order is topological: one backward sweep
            for n in reversed(self._reads):
                if n in live:
                    live.update(self._reads[n])
        else:
            import networkx

            for n in list(live):
                live |= networkx.ancestors(self._nx, n)
        return live | {n for n, d in self._items() if d["op"] == "input"}

    def eliminate_dead_code(self, keep_kinds: tuple[str, ...] = ("output", "aux")) -> bool:
        """Remove nodes no kept head depends on (inputs always stay). Returns whether it changed."""
        live = self.live_nodes(keep_kinds)
        dead = [n for n in self.nx if n not in live]
        self.nx.remove_nodes_from(dead)
        kept = [h for h in self.heads if h.kind in keep_kinds]
        changed = bool(dead) or len(kept) != len(self.heads)
        self._data["heads"] = kept
        return changed

    def copy(self) -> Graph:
        """A deep copy (attrs and meta copied; spans shared), built as a networkx graph."""
        import networkx

        src = self.nx
        g = Graph.__new__(Graph)
        g._data = copy.deepcopy({k: v for k, v in self._data.items() if k != "source"})
        g._data["source"] = self._data.get("source")
        g._staged, g._reads, g._plain_pos = {}, {}, True
        g._nx = networkx.MultiDiGraph()
        g._nx.graph = g._data
        for n, d in src.nodes(data=True):
            g._nx.add_node(n, **{**d, "attrs": copy.deepcopy(d["attrs"]), "meta": dict(d["meta"])})
        g._nx.add_edges_from(src.edges(keys=True, data=True))
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
