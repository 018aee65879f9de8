"""Block instances as ONNX local functions (`to_onnx(..., functions=True)`, `--functions`).

`block_units(graph)` assigns every IR node to a *unit*: the outermost block instance whose scope
holds it (`inception_3a`, from `graph.data["blocks"]`), or the node itself. `unit_order` orders
the units topologically. `FunctionTable.call` turns one instance's lowered ONNX nodes into a call
of a local function, sharing one function among instances whose bodies are identical.

Guarantees: the contracted graph (one vertex per unit) is a DAG, because an instance that is not
convex (an outside node on a path between two of its nodes) is dissolved into single nodes; so
every remaining instance can be one call, placed in a valid topological order. A function takes
the instance's weights as inputs (functions have no initializers), so the model stays valid for
`onnx.checker` and runs in onnxruntime, which inlines the calls.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from incept_dsl.backends.fresh_names import first_free
from incept_dsl.ir.graph import Graph

#: Domain of the local functions.
FUNCTION_DOMAIN = "incept_dsl.blocks"

Unit = int | str  # a node id, or the scope path of a block instance


def block_units(graph: Graph, order: list[int]) -> dict[int, Unit]:
    """Each node's unit: the outermost (convex) block instance it belongs to, or itself."""
    blocks = graph.data.get("blocks") or {}
    outer = {p for p in blocks if not any(p.startswith(q + ".") for q in blocks)}
    units: dict[int, Unit] = {}
    for n in order:
        parts = graph.scope(n).split(".")
        units[n] = n
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in outer:
                units[n] = prefix
                break
    while True:
        try:
            cycle = nx.find_cycle(contract(graph, units))
        except nx.NetworkXNoCycle:
            return units
        broken = {u for edge in cycle for u in edge[:2] if isinstance(u, str)}
        units = {n: (n if u in broken else u) for n, u in units.items()}


def contract(graph: Graph, units: dict[int, Unit]) -> nx.DiGraph:
    """The graph with each unit's nodes merged into one vertex."""
    q = nx.DiGraph()
    q.add_nodes_from(set(units.values()))
    q.add_edges_from((units[u], units[v]) for u, v in graph.nx.edges() if units[u] != units[v])
    return q


def unit_order(graph: Graph, units: dict[int, Unit], order: list[int]) -> list[Unit]:
    """Units in a topological order of the contracted graph, ties broken by first appearance."""
    first: dict[Unit, int] = {}
    for i, n in enumerate(order):
        first.setdefault(units[n], i)
    if all(isinstance(u, int) for u in first):
        return [units[n] for n in order]  # no instances: the IR's own order
    return list(nx.lexicographical_topological_sort(contract(graph, units), key=first.__getitem__))


class FunctionTable:
    """The local functions of one model, deduplicated by body."""

    def __init__(self, opset: int) -> None:
        from onnx import helper

        self.helper = helper
        self.opset = opset
        self.protos: list[Any] = []
        self._by_body: dict[bytes, str] = {}
        self._names: set[str] = set()  # function names taken

    def call(
        self, instance: str, block: str, body: list[Any], weights: set[str], outputs: list[str]
    ) -> Any:
        """The call node of `instance` (an application of `block`) whose lowered nodes are `body`.

        The function's inputs are the tensors `body` reads but does not make (activations become
        `input_<i>`, weights keep their key without the instance prefix); its outputs are
        `outputs` (the tensors used outside; a head's name becomes `output_<i>`). Names inside lose the `instance.` prefix, so two
        instances with the same structure get byte-identical bodies and share the function.
        """
        h = self.helper
        produced = {t for nd in body for t in nd.output}
        inputs: list[str] = []
        for nd in body:
            inputs.extend(t for t in nd.input if t and t not in produced and t not in inputs)
        prefix = instance + "."

        def local(t: str) -> str:
            return t[len(prefix) :] if t.startswith(prefix) else t

        rename = {t: local(t) for t in produced}
        for i, t in enumerate(outputs):
            if rename[t] == t:  # a head's name: the call site names it, not the body
                rename[t] = f"output_{i}"
        for i, t in enumerate(inputs):
            rename[t] = local(t) if t in weights else f"input_{i}"
        nodes = []
        for nd in body:
            copy = type(nd)()
            copy.CopyFrom(nd)
            copy.name = local(nd.name)
            copy.input[:] = [rename.get(t, t) for t in nd.input]
            copy.output[:] = [rename[t] for t in nd.output]
            nodes.append(copy)
        proto = h.make_function(
            FUNCTION_DOMAIN,
            block,
            [rename[t] for t in inputs],
            [rename[t] for t in outputs],
            nodes,
            [h.make_opsetid("", self.opset)],
        )
        key = proto.SerializeToString()
        name = self._by_body.get(key)
        if name is None:
            name = first_free(block, self._names)
            self._names.add(name)
            proto.name = name
            self._by_body[key] = name
            self.protos.append(proto)
        node = h.make_node(name, inputs, outputs, name=instance, domain=FUNCTION_DOMAIN)
        h.set_metadata_props(node, {"incept.block": block})
        return node
