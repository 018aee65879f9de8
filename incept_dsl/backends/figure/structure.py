"""What a figure shows: the IR grouped into boxes, clusters and arrows (no Graphviz here).

Three steps, each a pure function of the IR:

1. `fuse_units`: one *unit* per op as a reader counts layers: a conv (or transposed conv) with the
   batch norm and the activation that `conv(bn = true, act = ...)` elaborated to, a linear with
   its activation; every other op is a unit of its own.
2. `scope_tree`: the units arranged by their scope paths into *containers*: applied blocks
   (`graph.data["blocks"]`), repeats (a scope whose children are the copies `0`, `1`, ...), copies,
   and plain groups (branches, named concats and groups).
3. `layout` (in `layout.py`): given a view (network, expanded to a depth, or one block), which containers are drawn
   as a single box ("collapsed"), which as a cluster, and the arrows between what is shown.

Guarantees: everything is in the IR's deterministic order (`graph.order()`, ties broken by
source position), so branches appear in the order they are written, and the same graph gives the
same `Figure`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from incept_dsl.frontend.signatures import ACTIVATIONS
from incept_dsl.ir.graph import Graph

#: The ops that `bn = true` and `act = ...` attach to (elaborated as `<s>.conv` -> `<s>.bn` ->
#: `<s>.<act>`), and the ops an activation alone attaches to (`<s>` -> `<s>.<act>`).
_CONVS = ("conv", "conv_transpose")
_LAYERS = (*_CONVS, "linear")


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
    lone_conv = first in _CONVS and len(unit.nodes) == 1 and unit.scope.endswith(".conv")
    if op == "batchnorm":
        return unit if lone_conv and parent == _parent(unit.scope) else None
    if op in ACTIVATIONS and first in _LAYERS:
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
