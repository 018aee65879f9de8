"""What a figure shows: the IR grouped into boxes, clusters and arrows (no Graphviz here).

Three steps, each a pure function of the IR:

1. `fuse_units`: one *unit* per op as a reader counts layers: a conv with the batch norm and the
   activation that `conv(bn = true, act = ...)` elaborated to, a linear with its activation; every
   other op is a unit of its own.
2. `scope_tree`: the units arranged by their scope paths into *containers*: applied blocks
   (`graph.data["blocks"]`), repeats (a scope whose children are the copies `0`, `1`, ...), copies,
   and plain groups (branches, named concats and groups).
3. `layout`: given a view (network, expanded to a depth, or one block), which containers are drawn
   as a single box ("collapsed"), which as a cluster, and the arrows between what is shown.

Guarantees: everything is in the IR's deterministic order (`graph.order()`, ties broken by
source position), so branches appear in the order they are written, and the same graph gives the
same `Figure`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from incept_dsl.ir.graph import Graph, Head
from incept_dsl.ir.ops import ACTIVATIONS


# ---- 1. units -----------------------------------------------------------------------------------
@dataclass(eq=False)
class Unit:
    """IR nodes drawn as one box. `scope` names it (and is its DOT id); `nodes[0]` is the op that
    gives the label, `nodes[-1]` produces the unit's output tensor; `parent` is set by
    `scope_tree`."""

    scope: str
    nodes: list[int]
    parent: Container | None = None

    @property
    def first(self) -> int:
        return self.nodes[0]

    @property
    def last(self) -> int:
        return self.nodes[-1]


def fuse_units(graph: Graph) -> list[Unit]:
    """The units of `graph` in deterministic order (see the module docstring). A fused unit is
    named by the scope its nodes share (`conv_1` for `conv_1.conv`, `conv_1.bn`, `conv_1.relu`)."""
    heads = set(graph.head_nodes())
    units: list[Unit] = []
    unit_of: dict[int, Unit] = {}
    # Readers per node, counted once: asking per candidate would cost a node's whole fan-out for
    # each of its readers (quadratic in a wide concat's branch count).
    readers = {n: sum(1 for _ in graph.nx.out_edges(n)) for n in graph.nx.nodes}
    for n in graph.order():
        unit = _fusable_into(graph, n, unit_of, heads, readers)
        if unit is None:
            unit = Unit(graph.scope(n), [n])
            units.append(unit)
        else:
            unit.nodes.append(n)
            unit.scope = _parent(graph.scope(n))
        unit_of[n] = unit
    return units


def _parent(scope: str) -> str:
    return scope.rsplit(".", 1)[0] if "." in scope else ""


def _fusable_into(
    graph: Graph, n: int, unit_of: dict[int, Unit], heads: set[int], readers: dict[int, int]
) -> Unit | None:
    """The unit that node `n` completes, or None: the batch norm or activation that elaboration
    (or a pass) attached to the conv/linear before it, reading a tensor nothing else reads. Their
    scopes tell: `<s>.conv` -> `<s>.bn` -> `<s>.relu`, or `<s>` -> `<s>.relu`."""
    ins = graph.inputs(n)
    if len(ins) != 1:
        return None
    (p,) = ins
    unit = unit_of.get(p)
    if unit is None or unit.last != p or p in heads or readers[p] != 1:
        return None
    op, first, parent = graph.op(n), graph.op(unit.first), _parent(graph.scope(n))
    lone_conv = first == "conv" and len(unit.nodes) == 1 and unit.scope.endswith(".conv")
    if op == "batchnorm":
        return unit if lone_conv and parent == _parent(unit.scope) else None
    if op in ACTIVATIONS and first in ("conv", "linear"):
        if any(graph.op(m) in ACTIVATIONS for m in unit.nodes):
            return None
        same = parent == unit.scope or (lone_conv and parent == _parent(unit.scope))
        return unit if same else None
    return None


# ---- 2. containers ------------------------------------------------------------------------------
@dataclass(eq=False)
class Container:
    """A scope that holds units: `kind` is "root", "block", "repeat", "copy" or "group"."""

    path: str
    kind: str
    block: str | None = None
    parent: Container | None = None
    children: list[Container | Unit] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    def units(self) -> list[Unit]:
        """Every unit inside, in order."""
        out: list[Unit] = []
        for c in self.children:
            out.extend(c.units() if isinstance(c, Container) else [c])
        return out

    def containers(self) -> list[Container]:
        """Every container inside (pre-order, self excluded)."""
        out: list[Container] = []
        for c in self.children:
            if isinstance(c, Container):
                out.append(c)
                out.extend(c.containers())
        return out

    @property
    def copies(self) -> list[Container]:
        return [c for c in self.children if isinstance(c, Container) and c.kind == "copy"]


def scope_tree(
    graph: Graph, units: list[Unit]
) -> tuple[Container, dict[int, Unit], dict[str, Container]]:
    """(root container, unit of each IR node, container of each scope path)."""
    blocks: dict[str, str] = graph.data.get("blocks", {})
    root = Container("", "root")
    by_path: dict[str, Container] = {"": root}
    unit_scopes = {u.scope for u in units}
    unit_of: dict[int, Unit] = {}
    for u in units:
        for n in u.nodes:
            unit_of[n] = u
        parts = u.scope.split(".")
        parent = root
        for k in range(1, len(parts)):
            path = ".".join(parts[:k])
            if path in unit_scopes:  # an op scope holding an op that could not be fused
                continue
            c = by_path.get(path)
            if c is None:
                name = parts[k - 1]
                kind = "block" if path in blocks else "copy" if name.isdigit() else "group"
                c = Container(path, kind, blocks.get(path), parent)
                by_path[path] = c
                parent.children.append(c)
                if kind == "copy" and parent.kind == "group":
                    parent.kind = "repeat"
            parent = c
        parent.children.append(u)
        u.parent = parent
    return root, unit_of, by_path


def is_trivial(c: Container) -> bool:
    """A block or group that holds a single unit is drawn as that unit (`conv_bn(64)` is a conv)."""
    return len(c.units()) == 1


# ---- 3. layout ----------------------------------------------------------------------------------
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
    """An arrow between two items, carrying the output tensor of IR node `node`."""

    src: str
    dst: str
    node: int
    aux_only: bool = False


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
    main = _main_nodes(graph)

    def owner(u: Unit) -> str:
        """The key of the item `u` is drawn in: its outermost collapsed container, or itself."""
        chain: list[Container] = []
        c = u.parent
        while c is not None and c is not top_container:
            chain.append(c)
            c = c.parent
        for c in reversed(chain):
            if c.path in collapsed:
                return c.path
        return u.scope

    items: dict[str, Item] = {}
    item_of: dict[int, str] = {}
    drawn = [u for u in units if u in inside]
    elided = _elided(graph, [u for u in drawn if owner(u) == u.scope], by_path)
    for u in drawn:
        if all(n in elided for n in u.nodes):
            continue
        key = owner(u)
        if key not in items:
            if key != u.scope:
                items[key] = Item(key, "collapsed", container=by_path[key])
            else:
                kind = "input" if graph.op(u.first) == "input" else "unit"
                items[key] = Item(key, kind, unit=u)
        items[key].nodes.extend(u.nodes)
        for n in u.nodes:
            item_of[n] = key

    def sources(p: int) -> list[int]:
        """The drawn nodes whose tensors elided node `p` passes on (`p` itself if drawn)."""
        if p not in elided:
            return [p]
        return [s for q in graph.inputs(p) for s in sources(q)]

    edges: list[Edge] = []
    seen: set[tuple[str, str]] = set()
    outer: dict[int, str] = {}
    for n in graph.order():
        if n not in item_of:
            continue
        for p in (s for q in graph.inputs(n) for s in sources(q)):
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
    heads = set(graph.head_nodes())
    for it in items.values():
        it.exits = any(
            n in heads or any(v not in item_of and v not in elided for v, _ in graph.users(n))
            for n in it.nodes
        )
    if block is None:
        for h in graph.heads:
            key = f"output@{h.name}"
            items[key] = Item(key, "head", head=h, nodes=[h.node], aux_only=h.kind == "aux")
            for p in sources(h.node):
                edges.append(Edge(item_of[p], key, p))
    for it in items.values():  # (in the block view, the block is all there is)
        if block is None and it.kind != "head" and all(n not in main for n in it.nodes):
            it.aux_only = True
    for e in edges:  # an arrow into what only aux heads use is training-only too
        e.aux_only = items[e.dst].aux_only
    top = _clusters(top_container, items, collapsed)
    placed = set(_placed(top))
    top.items[:0] = [k for k in items if k.startswith("input@")]
    top.items.extend(k for k in items if k not in placed and not k.startswith("input@"))
    return Figure(items, edges, top, "block" if block is not None else "network", graph)


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
