"""PyTorch backend, structure: the units of a graph that become classes of the generated file.

A unit is a block application (a scope of `graph.data["blocks"]`) or a copy of a `repeat` (a scope
whose last part is a number) holding at least one layer with weights. `unit_tree` keeps the units
whose nodes a single call can run: every node of the unit plays one role (main path, aux head
only, or never run), and the unit is convex (no path leaves it and comes back), so calling it as a
whole keeps the graph's dependencies. The copies of one `repeat` are units together or not at all
(a container's indices must all be modules of the same kind). Nodes of a unit that is not kept
belong to the enclosing unit, as they do today in the flat module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import WEIGHTED


@dataclass
class Unit:
    """One unit: `scope` ("" for the model), its nodes and child units, and how it connects."""

    scope: str
    block: str | None  # the block it applies; None for a repeat copy and the model
    subtree: set[int] = field(default_factory=set)
    items: list[int | Unit] = field(default_factory=list)  # direct nodes and children, in order
    inputs: list[int] = field(default_factory=list)  # tensors from outside it, by first use
    outputs: list[int] = field(default_factory=list)  # its tensors read outside it, in order
    subtree_position: dict[int, int] = field(default_factory=dict)  # node -> execution order
    sequence: bool = False  # a repeat's container whose copies (`items`) run as nn.Sequential

    def rel(self, scope: str) -> str:
        """`scope` relative to this unit's."""
        return scope[len(self.scope) + 1 :] if self.scope else scope

    @property
    def children(self) -> list[Unit]:
        return [i for i in self.items if isinstance(i, Unit)]

    @property
    def instances(self) -> list[Unit]:
        """The child units that are instances of classes (a sequence's copies for it)."""
        out: list[Unit] = []
        for c in self.children:
            out += c.children if c.sequence else [c]
        return out


def item_reads(graph: Graph, item: int | Unit) -> list[int]:
    """The tensors `item` (a node, or a unit called as a whole) reads, each once, in port order."""
    return list(item.inputs) if isinstance(item, Unit) else list(dict.fromkeys(graph.inputs(item)))


def sequence(graph: Graph, u: Unit, copies: list[Unit]) -> Unit | None:
    """The container of `copies` (every copy of one repeat, in order, all items of `u`) as one
    item of `u` when they form a chain: one input and one output each, each copy's output read
    by the next copy only, consecutive among `u`'s items. None when they do not."""
    heads = {h.node for h in graph.heads}
    at = [next(k for k, it in enumerate(u.items) if it is c) for c in copies]
    if at != list(range(at[0], at[0] + len(copies))):
        return None
    if any(len(c.inputs) != 1 or len(c.outputs) != 1 for c in copies):
        return None
    for a, b in zip(copies, copies[1:], strict=False):
        out = a.outputs[0]
        if (
            b.inputs != [out]
            or out in heads
            or any(v not in b.subtree for v, _ in graph.users(out))
        ):
            return None
    seq = Unit(copies[0].scope.rsplit(".", 1)[0], None, sequence=True)
    seq.items = list(copies)
    seq.inputs, seq.outputs = list(copies[0].inputs), list(copies[-1].outputs)
    for c in copies:
        seq.subtree |= c.subtree
        seq.subtree_position.update(c.subtree_position)
    u.items[at[0] : at[-1] + 1] = [seq]
    return seq


def _candidates(graph: Graph) -> dict[str, str | None]:
    """Every block scope and repeat-copy scope of the graph -> its block (None: a copy)."""
    out: dict[str, str | None] = {}
    for n in graph.order():
        parts = graph.scope(n).split(".")
        for i in range(1, len(parts)):
            if parts[i].isdigit():
                out.setdefault(".".join(parts[: i + 1]), None)
    blocks = graph.data.get("blocks", {})
    out.update({s: b for s, b in blocks.items() if isinstance(b, str)})
    return out


def _convex(graph: Graph, members: set[int]) -> bool:
    """Whether no path leaves `members` and comes back into them."""
    seen: set[int] = set()
    todo = [u for n in members for u, _ in graph.users(n) if u not in members]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        for u, _ in graph.users(n):
            if u in members:
                return False
            todo.append(u)
    return True


def _kept(graph: Graph, roles: dict[int, str]) -> dict[str, str | None]:
    """The candidate scopes that make valid units (see the module's docstring)."""
    by_scope: dict[str, set[int]] = {}
    cands = _candidates(graph)
    for n in graph.order():
        if graph.op(n) == "input":
            continue
        parts = graph.scope(n).split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in cands:
                by_scope.setdefault(prefix, set()).add(n)
    kept: dict[str, str | None] = {}
    for scope, members in by_scope.items():
        if not any(graph.op(n) in WEIGHTED for n in members):
            continue
        if len({roles[n] for n in members}) == 1 and _convex(graph, members):
            kept[scope] = cands[scope]
    containers: dict[str, list[str]] = {}
    for scope in by_scope:
        if cands[scope] is None:
            containers.setdefault(scope.rsplit(".", 1)[0], []).append(scope)
    for copies in containers.values():
        if not all(c in kept for c in copies):
            for c in copies:
                kept.pop(c, None)
    return kept


def _innermost(scope: str, kept: dict[str, str | None]) -> str:
    """The longest kept unit scope above node scope `scope` ("" for the model)."""
    parts = scope.split(".")
    for i in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in kept:
            return prefix
    return ""


def unit_tree(graph: Graph, roles: dict[int, str], position: dict[int, int]) -> Unit:
    """The model's unit with its nested units; `roles` gives each non-input node's role
    ("main", "aux", "rest") and `position` its place in the flat module's execution order."""
    kept = _kept(graph, roles)
    units = {s: Unit(s, b) for s, b in sorted(kept.items())}
    root = Unit("", None)
    units[""] = root
    owner: dict[int, Unit] = {}
    for n in graph.order():
        if graph.op(n) != "input":
            owner[n] = units[_innermost(graph.scope(n), kept)]
    parent = {s: units[_innermost(s, kept)] for s in kept}
    for s, u in units.items():
        if s:
            u.subtree = {n for n, o in owner.items() if o.scope == s or o.scope.startswith(s + ".")}
    root.subtree = set(owner)
    for u in units.values():
        u.subtree_position = {n: position[n] for n in u.subtree}

    def item_of(n: int, u: Unit) -> int | Unit:
        o = owner[n]
        while o is not u and parent[o.scope] is not u:
            o = parent[o.scope]
        return n if o is u else o

    for u in units.values():
        _connect(graph, u, item_of, position)
    return root


def _connect(graph: Graph, u: Unit, item_of, position: dict[int, int]) -> None:
    """`u`'s items in a topological order that follows `position`, its inputs and outputs."""
    heads = {h.node for h in graph.heads}
    dag: nx.DiGraph = nx.DiGraph()
    key: dict[int | Unit, int] = {}
    ident: dict[int, int | Unit] = {}
    for n in sorted(u.subtree, key=position.__getitem__):
        it = item_of(n, u)
        ident.setdefault(id(it), it)
        key.setdefault(id(it), position[n])
        dag.add_node(id(it))
        for i in graph.inputs(n):
            if i in u.subtree:
                j = item_of(i, u)
                if j is not it:
                    dag.add_edge(id(j), id(it))
            elif i not in u.inputs:
                u.inputs.append(i)
        if u.scope and (n in heads or any(v not in u.subtree for v, _ in graph.users(n))):
            u.outputs.append(n)
    u.items = [ident[k] for k in nx.lexicographical_topological_sort(dag, key=key.__getitem__)]
