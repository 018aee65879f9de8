"""Step 3 of a figure (see `structure`): the `Figure` of one view, that is which containers are
drawn as a single box ("collapsed"), which as a cluster, and the arrows between what is shown
(no Graphviz here).

Guarantees: items, arrows and clusters are in the IR's deterministic order, so the same graph
and view give the same `Figure`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from incept_dsl.backends.figure.structure import Container, Unit, is_trivial
from incept_dsl.ir.graph import Graph, Head


@dataclass
class Item:
    """One box of the figure. `kind`: "unit", "collapsed" (a block or repeat as one box),
    "input" (a model input, or a block's input in the block view) or "head" (an output)."""

    key: str
    kind: str
    unit: Unit | None = None
    container: Container | None = None
    head: Head | None = None  # for kind "head"
    nodes: list[int] = field(default_factory=list)  # the IR nodes it stands for
    aux_only: bool = False  # only aux (training) heads depend on it
    exits: bool = False  # its output leaves what is drawn (the block view), or is a head


@dataclass
class Edge:
    """An arrow between two items, carrying the output tensor of IR node `node`. `gate`: the
    tensor is a C×1×1 gate that a product broadcasts over a larger C×H×W tensor
    (squeeze-and-excitation)."""

    src: str
    dst: str
    node: int
    aux_only: bool = False
    gate: bool = False


@dataclass
class Cluster:
    """A container drawn expanded: its own items and nested clusters, in order."""

    container: Container
    items: list[str] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)


@dataclass
class Figure:
    """Everything a backend draws: items (in drawing order), arrows, the cluster hierarchy, the
    view ("network", which includes the expanded views, or "block") and the IR drawn."""

    items: dict[str, Item]
    edges: list[Edge]
    top: Cluster  # the root of the drawn hierarchy (its container is the root or the block)
    view: str
    graph: Graph


def level_collapse(root: Container, depth: int | None) -> set[str]:
    """Paths of the containers drawn as one box when blocks and repeats nested `depth` deep or
    deeper (counted from `root`, 1 = its children) are collapsed; None collapses nothing."""
    out: set[str] = set()
    if depth is None:
        return out

    def walk(c: Container, level: int) -> None:
        for child in c.children:
            if not isinstance(child, Container):
                continue
            collapsible = child.kind == "repeat" or (
                child.kind == "block" and not is_trivial(child)
            )
            here = level + 1 if collapsible else level
            if collapsible and here >= depth:
                out.add(child.path)
            else:
                walk(child, here)

    walk(root, 0)
    return out


def layout(
    graph: Graph,
    units: list[Unit],
    root: Container,
    by_path: dict[str, Container],
    depth: int | None,
    block: Container | None = None,
) -> Figure:
    """The `Figure` of one view: the whole network, or (`block` given) one container, whose
    inputs from outside become "input" items. `depth` as in `level_collapse`, counted from the
    container drawn."""
    top_container = block if block is not None else root
    collapsed = level_collapse(top_container, depth)
    inside = set(top_container.units())
    drawn = [u for u in units if u in inside]
    owner = {u: _owner(u, top_container, collapsed) for u in drawn}
    elided = _elided(graph, [u for u in drawn if owner[u] == u.scope], by_path)
    items, item_of = _unit_items(graph, drawn, owner, elided, by_path)
    edges = _edges(graph, items, item_of, elided)
    _mark_exits(graph, items, item_of, elided)
    if block is None:
        _add_heads(graph, items, item_of, edges, elided)
    _mark_aux(graph, items, edges, network=block is None)
    _mark_gates(graph, items, edges)
    top = _clusters(top_container, items, collapsed)
    placed = set(_placed(top))
    top.items[:0] = [k for k in items if k.startswith("input@")]
    top.items.extend(k for k in items if k not in placed and not k.startswith("input@"))
    return Figure(items, edges, top, "block" if block is not None else "network", graph)


def _owner(u: Unit, top: Container, collapsed: set[str]) -> str:
    """The key of the item `u` is drawn in: its outermost collapsed container (below `top`), or
    itself."""
    chain: list[Container] = []
    c = u.parent
    while c is not None and c is not top:
        chain.append(c)
        c = c.parent
    for c in reversed(chain):
        if c.path in collapsed:
            return c.path
    return u.scope


def _unit_items(
    graph: Graph,
    drawn: list[Unit],
    owner: dict[Unit, str],
    elided: set[int],
    by_path: dict[str, Container],
) -> tuple[dict[str, Item], dict[int, str]]:
    """(the items the drawn units make, in order: one per unit, or one per collapsed container;
    units whose nodes are all elided are left out, the item key of each IR node drawn)."""
    items: dict[str, Item] = {}
    item_of: dict[int, str] = {}
    for u in drawn:
        if all(n in elided for n in u.nodes):
            continue
        key = owner[u]
        if key not in items:
            if key != u.scope:
                items[key] = Item(key, "collapsed", container=by_path[key])
            else:
                kind = "input" if graph.op(u.first) == "input" else "unit"
                items[key] = Item(key, kind, unit=u)
        items[key].nodes.extend(u.nodes)
        for n in u.nodes:
            item_of[n] = key
    return items, item_of


def _sources(graph: Graph, elided: set[int], p: int) -> list[int]:
    """The drawn nodes whose tensors elided node `p` passes on (`p` itself if drawn)."""
    if p not in elided:
        return [p]
    return [s for q in graph.inputs(p) for s in _sources(graph, elided, q)]


def _edges(
    graph: Graph, items: dict[str, Item], item_of: dict[int, str], elided: set[int]
) -> list[Edge]:
    """The arrows between the items drawn, one per pair, in the IR's order. In the block view a
    tensor made outside the block is an "input@K" item, added to `items`."""
    edges: list[Edge] = []
    seen: set[tuple[str, str]] = set()
    outer: dict[int, str] = {}
    for n in graph.order():
        if n not in item_of:
            continue
        for p in (s for q in graph.inputs(n) for s in _sources(graph, elided, q)):
            if p in item_of:
                src = item_of[p]
            else:  # the block view: a tensor made outside the block
                if p not in outer:
                    outer[p] = f"input@{len(outer) + 1}"
                    items[outer[p]] = Item(outer[p], "input", nodes=[p])
                src = outer[p]
            dst = item_of[n]
            if src != dst and (src, dst) not in seen:
                seen.add((src, dst))
                edges.append(Edge(src, dst, p))
    return edges


def _mark_exits(
    graph: Graph, items: dict[str, Item], item_of: dict[int, str], elided: set[int]
) -> None:
    """Set `exits` on the items whose output is a head or is read by something not drawn."""
    heads = set(graph.head_nodes())
    for it in items.values():
        it.exits = any(
            n in heads or any(v not in item_of and v not in elided for v, _ in graph.users(n))
            for n in it.nodes
        )


def _add_heads(
    graph: Graph,
    items: dict[str, Item],
    item_of: dict[int, str],
    edges: list[Edge],
    elided: set[int],
) -> None:
    """Add an "output@NAME" item per head of the network view, with the arrows into it."""
    for h in graph.heads:
        key = f"output@{h.name}"
        items[key] = Item(key, "head", head=h, nodes=[h.node], aux_only=h.kind == "aux")
        for p in _sources(graph, elided, h.node):
            edges.append(Edge(item_of[p], key, p))


def _mark_aux(graph: Graph, items: dict[str, Item], edges: list[Edge], network: bool) -> None:
    """Mark what only aux heads use (in the network view), and the arrows into it."""
    main = _main_nodes(graph)
    for it in items.values():  # (in the block view, the block is all there is)
        if network and it.kind != "head" and all(n not in main for n in it.nodes):
            it.aux_only = True
    for e in edges:  # an arrow into what only aux heads use is training-only too
        e.aux_only = items[e.dst].aux_only


def _mark_gates(graph: Graph, items: dict[str, Item], edges: list[Edge]) -> None:
    """Mark the arrows that carry a gate into the product it scales: a C×1×1 tensor entering a
    `mul` drawn as its own box, whose output is larger (the gate broadcasts over it)."""
    for e in edges:
        dst = items[e.dst]
        if dst.kind != "unit" or dst.unit is None or graph.op(dst.unit.first) != "mul":
            continue
        shape = graph.shape(e.node)
        e.gate = len(shape) == 3 and shape[1:] == (1, 1) and graph.shape(dst.unit.first) != shape


def _elided(graph: Graph, units: list[Unit], by_path: dict[str, Container]) -> set[int]:
    """Nodes a reader is better off without, among the units drawn as their own boxes: a dropout
    with p = 0 (an identity), and a concat whose only reader is a concat of the same module
    (concat of concats is one concat, and the papers draw it as one "Filter concat")."""
    out: set[int] = set()
    for u in units:
        n = u.first
        if len(u.nodes) != 1:
            continue
        identity = graph.op(n) == "dropout" and graph.attrs(n)["p"] == 0
        if identity or (graph.op(n) == "concat" and _joins_into_concat(graph, n, by_path)):
            out.add(n)
    return out


def _joins_into_concat(graph: Graph, n: int, by_path: dict[str, Container]) -> bool:
    """Whether concat `n` feeds only one concat, in the same block (not across a block's or a
    repeat's boundary), and is no head."""
    users = graph.users(n)
    if len(users) != 1 or n in graph.head_nodes() or graph.op(users[0][0]) != "concat":
        return False
    outer = graph.scope(users[0][0]).rsplit(".", 1)[0] if "." in graph.scope(users[0][0]) else ""
    inner = graph.scope(n).split(".")[:-1]
    if outer and ".".join(inner[: len(outer.split("."))]) != outer:
        return False
    depth = len(outer.split(".")) if outer else 0
    for k in range(depth + 1, len(inner) + 1):
        c = by_path.get(".".join(inner[:k]))
        if c is not None and c.kind in ("block", "repeat", "copy"):
            return False
    return True


def _main_nodes(graph: Graph) -> set[int]:
    """The nodes some `output` head depends on (the rest serve only aux heads)."""
    out: set[int] = set()
    for n in graph.head_nodes(("output",)):
        out.add(n)
        out |= nx.ancestors(graph.nx, n)
    return out


def _clusters(top: Container, items: dict[str, Item], collapsed: set[str]) -> Cluster:
    """The drawn hierarchy under `top`: collapsed containers and units as items, the other
    containers as clusters (empty ones dropped)."""

    def build(c: Container) -> Cluster:
        cl = Cluster(c)
        for child in c.children:
            if isinstance(child, Unit):
                if child.scope in items:
                    cl.items.append(child.scope)
            elif child.path in collapsed:
                if child.path in items:
                    cl.items.append(child.path)
            else:
                sub = build(child)
                if sub.items or sub.clusters:
                    cl.clusters.append(sub)
        return cl

    return build(top)


def _placed(cl: Cluster) -> list[str]:
    out = list(cl.items)
    for sub in cl.clusters:
        out.extend(_placed(sub))
    return out
