"""Small helpers the rewrite passes share: use queries, new nodes, fresh scopes, explain notes."""

from __future__ import annotations

from typing import Any

from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import WEIGHTED, infer_shape


def is_head(graph: Graph, n: int) -> bool:
    """Whether `n`'s tensor is a model output or an aux head."""
    return any(h.node == n for h in graph.heads)


def sole_user(graph: Graph, n: int) -> int | None:
    """The one node reading `n` (on one port), or None: several readers, none, or `n` is a head."""
    users = graph.users(n)
    if len(users) != 1 or is_head(graph, n):
        return None
    return users[0][0]


def add_like(
    graph: Graph, like: int, op: str, attrs: dict[str, Any], inputs: list[int], scope: str
) -> int:
    """A new node that takes the place of `like`: its span and its sort position (source order).

    The output shape is inferred from the op table.
    """
    shape = infer_shape(op, attrs, [graph.shape(i) for i in inputs])
    return graph.add_node(
        op, attrs, inputs, shape, scope, graph.span(like), pos=graph.node(like)["pos"]
    )


def common_parent(scopes: list[str]) -> str:
    """The longest common scope prefix of the parents of `scopes` ('' at the top level)."""
    parents = [s.split(".")[:-1] for s in scopes]
    out: list[str] = []
    for parts in zip(*parents, strict=False):
        if len(set(parts)) != 1:
            break
        out.append(parts[0])
    return ".".join(out)


def fresh_scope(graph: Graph, parent: str, base: str) -> str:
    """`<parent>.<base>_<k>` with the smallest k >= 1 that no scope uses, as a name or a prefix.

    The result never nests under a parametric node's scope (a module cannot also be a container).
    """
    taken = {graph.scope(n) for n in graph.nx}
    modules = {graph.scope(n) for n in graph.nx if graph.op(n) in WEIGHTED}
    parts = parent.split(".") if parent else []
    while parts and any(".".join(parts[:i]) in modules for i in range(1, len(parts) + 1)):
        parts.pop()
    parent = ".".join(parts)
    prefixes = {".".join(s.split(".")[:i]) for s in taken for i in range(1, s.count(".") + 1)}
    k = 1
    while True:
        candidate = f"{parent}.{base}_{k}" if parent else f"{base}_{k}"
        if candidate not in taken and candidate not in prefixes:
            return candidate
        k += 1


def note(graph: Graph, message: str) -> None:
    """Record a line for `--explain`: what the running pass changed, or why it left something."""
    graph.data.setdefault("notes", []).append(message)


def take_notes(graph: Graph) -> list[str]:
    """The notes recorded since the last call (and forget them)."""
    return graph.data.pop("notes", [])
