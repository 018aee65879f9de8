"""`verify(graph, after=...)`: the IR's invariants, checked between passes.

Guarantees when it returns: the graph is acyclic; every node's op is in the op table with exactly
its schema's attributes; ports are 0..k-1 without gaps and match the op's arity; every stored shape
equals the shape rule's result; scopes are unique; every head names a node. A violation raises
`CompilerBug` naming the pass after which it was found.
"""

from __future__ import annotations

import networkx as nx

from incept_dsl.errors import CompilerBug
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import OPS, infer_shape
from incept_dsl.ir.shapes import ShapeProblem


def verify(graph: Graph, after: str | None = None, ran: tuple[str, ...] = ()) -> None:
    where = f" after pass '{after}'" if after else ""
    if ran:
        where += f" (passes run: {', '.join(ran)})"

    def bug(msg: str) -> CompilerBug:
        return CompilerBug(f"IR verification failed{where}: {msg}")

    g = graph.nx
    if not nx.is_directed_acyclic_graph(g):
        raise bug("the graph has a cycle")
    inputs: dict[int, list[tuple[int, int]]] = {n: [] for n in g}
    for u, v, port in g.edges(data="port"):
        inputs[v].append((port, u))
    scopes: dict[str, int] = {}
    for n, d in g.nodes(data=True):
        op = d.get("op")
        if op not in OPS:
            raise bug(f"node {n} has unknown op {op!r}")
        spec = OPS[op]
        if tuple(d["attrs"]) != spec.attrs:
            raise bug(f"{d['scope']}: attrs {tuple(d['attrs'])} != schema {spec.attrs}")
        ins = sorted(inputs[n])
        ports = [p for p, _ in ins]
        if ports != list(range(len(ports))):
            raise bug(f"{d['scope']}: input ports {ports} have gaps")
        if spec.arity is not None and len(ports) != spec.arity:
            raise bug(f"{d['scope']}: {len(ports)} inputs, {op} takes {spec.arity}")
        if d["scope"] in scopes:
            raise bug(f"scope {d['scope']!r} is used by nodes {scopes[d['scope']]} and {n}")
        scopes[d["scope"]] = n
        try:
            shape = infer_shape(op, d["attrs"], [g.nodes[u]["shape"] for _, u in ins])
        except ShapeProblem as p:
            raise bug(f"{d['scope']}: {p.message}") from None
        if shape != d["shape"]:
            raise bug(f"{d['scope']}: stored shape {d['shape']} != inferred {shape}")
    for h in graph.heads:
        if h.node not in g:
            raise bug(f"head {h.name} refers to a missing node")
