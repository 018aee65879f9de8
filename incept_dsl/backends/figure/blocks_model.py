"""What the blocks view draws: the tensors of a model from stem to head, one per unit as the
papers count them, with the sizes of their 3-D boxes (no coordinates here: see
`blocks_geometry`).

Units come from the collapsed network view (`structure` and `layout`, as the Graphviz figure
draws them): each stem layer, each block application, each repeat, each pooling, the head. When
that view has fewer than `MIN_BOXES` tensors (a model that is one big block, such as ViT), the
blocks one level deeper are opened, up to `MAX_DEPTH`. Units that leave the tensor as it is or
only relabel it (dropout, flatten, a lone norm or activation, a scale) are not drawn: their
arrows pass through.

Sizes, in points at scale 1 (each a monotone function with a floor, so a 7×7 map stays
visible): a C×H×W map is a box `thick(C)` wide, `side(H)` high and `side(W)` deep (drawn
obliquely, foreshortened by `DEPTH_FACTOR`); a pooling (or upsampling) is a thin slab of the
pool colour as high and deep as its output, and a block that downsamples inside gets such a slab
in front; a vector of F features (after flatten or linear) is a thin bar, as high as a map of
side F/16 (4096 features stand as high as a 256-pixel image); a token tensor L×D is drawn as the
√L×√L grid of D channels it usually comes from (ViT's 197×768 tokens look like its 14×14×768
patch grid), and its caption says L×D.

Guarantees: the same graph gives the same `Model` (the IR's deterministic order throughout).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from incept_dsl.backends.figure.layout import Figure, Item, layout
from incept_dsl.backends.figure.structure import fuse_units, scope_tree
from incept_dsl.backends.figure.titles import Labeler
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import OPS

MIN_BOXES = 5
MAX_DEPTH = 4
DEPTH_FACTOR = 0.5
SLAB = 3.0  # the width of a pooling slab and of a vector's bar
#: Ops whose unit is not drawn (their tensor is their input's, or a relabelling of it).
PASS_OPS = ("dropout", "flatten", "scale", "layer_scale", "stochastic_depth")
PASS_FAMILIES = ("norm", "act")


def side(n: float) -> float:
    """The drawn length of a side of `n` pixels (monotone, 10 for one pixel)."""
    return 6.0 + 4.0 * math.sqrt(max(n, 0.0))


def thick(c: float) -> float:
    """The drawn width of `c` channels (monotone, about 2.3 for one channel)."""
    return 1.5 + 0.8 * math.sqrt(max(c, 0.0))


@dataclass
class Tensor:
    """One drawn item: its box (kind "map", "slab", "bar" or "tokens") and, for a block that
    downsamples inside, a slab in front (`down`). `w`, `h`, `d`: width (channels), height and
    depth (before foreshortening) at scale 1."""

    key: str
    label: str
    shape: tuple[int, ...]
    family: str
    kind: str
    w: float
    h: float
    d: float
    aux: bool = False
    down: str = ""  # "front" or "back": a pooling slab (height `sh`, depth `sd`) on that side
    sh: float = 0.0
    sd: float = 0.0
    preds: list[str] = field(default_factory=list)  # drawn tensors feeding it, in order

    @property
    def shape_text(self) -> str:
        """ "256, 28×28" for a map, "197×768" for tokens, "1000" for a vector."""
        if len(self.shape) == 3:
            c, h, w = self.shape
            return f"{c}, {h}×{w}"
        return "×".join(str(d) for d in self.shape)


@dataclass
class Model:
    """The main path (in order), the aux tensors (in order), and the heads: (name, kind, the
    drawn tensor it reads)."""

    name: str
    main: list[Tensor]
    aux: list[Tensor]
    heads: list[tuple[str, str, str]]


def network_figure(graph: Graph) -> Figure:
    """The collapsed network view, opened deeper while it has fewer than `MIN_BOXES` drawn
    tensors and opening adds some (see the module docstring)."""
    units = fuse_units(graph)
    root, _, by_path = scope_tree(graph, units)
    fig = layout(graph, units, root, by_path, 1)
    count = _count(graph, fig)
    for depth in range(2, MAX_DEPTH + 1):
        if count >= MIN_BOXES:
            break
        deeper = layout(graph, units, root, by_path, depth)
        more = _count(graph, deeper)
        if more <= count:
            break
        fig, count = deeper, more
    return fig


def _count(graph: Graph, fig: Figure) -> int:
    return sum(1 for it in fig.items.values() if _drawn(graph, it) and it.kind != "input")


def _drawn(graph: Graph, it: Item) -> bool:
    if it.kind == "head":
        return False
    if it.kind != "unit" or it.unit is None:
        return True
    op = graph.op(it.unit.first)
    return op not in PASS_OPS and OPS[op].family not in PASS_FAMILIES


def build_model(graph: Graph, aux: bool = True) -> Model:
    """The tensors drawn for `graph` (aux ones only when `aux`), each with its drawn
    predecessors (arrows through undrawn units followed back to drawn ones)."""
    fig = network_figure(graph)
    labels = Labeler(fig)
    preds: dict[str, list[str]] = {k: [] for k in fig.items}
    for e in fig.edges:
        preds[e.dst].append(e.src)
    drawn = {k for k, it in fig.items.items() if _drawn(graph, it)}

    def resolve(k: str) -> list[str]:
        if k in drawn:
            return [k]
        out: list[str] = []
        for p in preds[k]:
            out.extend(q for q in resolve(p) if q not in out)
        return out

    main: list[Tensor] = []
    side_: list[Tensor] = []
    for k, it in fig.items.items():
        if k not in drawn or (it.aux_only and not aux):
            continue
        t = _tensor(graph, it, labels)
        t.preds = [q for p in preds[k] for q in resolve(p)]
        t.preds = list(dict.fromkeys(t.preds))
        (side_ if it.aux_only else main).append(t)
    heads = []
    for k, it in fig.items.items():
        if it.kind == "head" and it.head is not None and (aux or it.head.kind != "aux"):
            src = [q for p in preds[k] for q in resolve(p)]
            if src:
                heads.append((it.head.name, it.head.kind, src[-1]))
    return Model(graph.name, main, side_, heads)


def _tensor(graph: Graph, it: Item, labels: Labeler) -> Tensor:
    """The drawn tensor of item `it`: its label, colour family and box."""
    nodes = it.nodes
    out = _output(graph, nodes)
    shape = tuple(graph.shape(out))
    if it.kind == "unit" and it.unit is not None:
        label, family = labels.unit(it.unit), OPS[graph.op(it.unit.first)].family
    elif it.kind == "collapsed" and it.container is not None:
        label, family = " ".join(labels.container(it.container)), _family(graph, nodes)
    else:
        name = (
            graph.attrs(nodes[0]).get("name", it.key) if graph.op(nodes[0]) == "input" else it.key
        )
        label, family = str(name), "io"
    kind, w, h, d = _box(shape, family)
    t = Tensor(it.key, label, shape, family, kind, w, h, d, aux=it.aux_only)
    if it.kind == "collapsed" and kind == "map":
        _slab(graph, t, nodes, out)
    return t


def _slab(graph: Graph, t: Tensor, nodes: list[int], out: int) -> None:
    """Give block `t` its pooling slab when it downsamples: at the back when its output is a
    pooling (VGG's stages: the box is the map before it), else in front (U-Net's `down`,
    ResNet's stages)."""
    ins = graph.inputs(out)
    if OPS[graph.op(out)].family == "pool" and len(ins) == 1 and len(graph.shape(ins[0])) == 3:
        before = graph.shape(ins[0])
        if before[1] * before[2] > t.shape[1] * t.shape[2]:
            t.down, t.sh, t.sd = "back", t.h, t.d
            t.h, t.d = side(before[1]), side(before[2])
            return
    if _downsamples(graph, nodes, t.shape):
        t.down, t.sh, t.sd = "front", t.h, t.d


def _box(shape: tuple[int, ...], family: str) -> tuple[str, float, float, float]:
    """(kind, width, height, depth) of the box of a tensor of `shape` (see the module
    docstring)."""
    if len(shape) == 3:
        c, h, w = shape
        kind = "slab" if family == "pool" else "map"
        return kind, SLAB if kind == "slab" else thick(c), side(h), side(w)
    if len(shape) == 2:
        n, dim = shape
        return "tokens", thick(dim), side(math.sqrt(n)), side(math.sqrt(n))
    return "bar", SLAB, side(math.prod(shape) / 16), side(1)


def _family(graph: Graph, nodes: list[int]) -> str:
    """The colour of a collapsed block: attention if it has any, else that of its last conv or
    linear layer, else that of the op making its output."""
    ops = [graph.op(n) for n in nodes]
    if "attention" in ops:
        return "attention"
    layers = [op for op in ops if OPS[op].family in ("conv", "linear")]
    return OPS[layers[-1]].family if layers else OPS[graph.op(_output(graph, nodes))].family


def _output(graph: Graph, nodes: list[int]) -> int:
    """The node of `nodes` whose output leaves the group (the last one read from outside)."""
    inside = set(nodes)
    heads = set(graph.head_nodes())
    leaving = [n for n in nodes if n in heads or any(v not in inside for v, _ in graph.users(n))]
    return leaving[-1] if leaving else nodes[-1]


def _downsamples(graph: Graph, nodes: list[int], shape: tuple[int, ...]) -> bool:
    """Whether the block made of `nodes` reads a map larger (in H×W) than the one it makes."""
    inside = set(nodes)
    for n in nodes:
        for p in graph.inputs(n):
            s = graph.shape(p)
            if p not in inside and len(s) == 3 and s[1] * s[2] > shape[1] * shape[2]:
                return True
    return False
