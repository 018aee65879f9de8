"""Figures that fit a page (`plan_page`): a long chain wrapped into columns (rows with LR), an
encoder–decoder network drawn as a U, and the Graphviz `size` for `--width`.

Both layouts are hints Graphviz's `dot` follows, computed from the `Figure` alone:

- *wrap*: the items' ranks (longest path from an input) are cut into segments, only between
  top-level boxes or clusters (a block is never split), so that the estimated height : width of
  the figure comes near the page's (`target_aspect`). The first box of each segment is put on
  one rank (`rank=same`, kept in order by invisible arrows), and the arrows that cross a cut do
  not constrain the ranks: each segment becomes a column (TB) or a row (LR).
- *U*: when two or more long skip arrows into joins are nested (the U-Net's copy-and-crop
  arrows: the first tensor of the down path meets the last of the up path), the down path is
  drawn going down on the left, the up path going up on the right (its arrows reversed in the
  layout, drawn pointing the same way), and each skip on one rank: horizontal. Left to right
  (`--rankdir LR`), a figure without clusters (the network view) gets one column per level of
  the U instead, deeper levels to the right (a long LR strip otherwise); with clusters that is
  not done, as Graphviz does not keep the order of a column's boxes across clusters.

Guarantees: a pure function of the figure and the options (deterministic); a figure that fits
(the default target is lenient) gets no hints, so small figures are drawn as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from incept_dsl.backends.figure.layout import Cluster, Figure, Item
from incept_dsl.backends.figure.structure import is_trivial

#: Estimated inches per rank (a box with a shape line, and the gap to the next rank) and per
#: character of a label; rough on purpose: they only choose the number of columns.
RANK_IN = 0.62
CHAR_IN = 0.085
#: The fewest ranks a figure wraps at (a short chain stays one column).
MIN_RANKS = 12
#: The most columns (rows) a wrapped figure gets.
MAX_SEGMENTS = 8
#: Height : width (TB) a figure may have before it wraps when no width is given.
DEFAULT_ASPECT = 4.0
#: The height of a page's text block (inches): a figure laid out for a width fits under it.
PAGE_HEIGHT_IN = 9.0


@dataclass
class PagePlan:
    """Layout hints: graph attributes, `rank=same` groups, invisible ordering arrows, and per
    arrow (src, dst) its extra attributes and whether it is reversed in the layout."""

    graph_attrs: dict[str, str] = field(default_factory=dict)
    same_rank: list[list[str]] = field(default_factory=list)
    invisible: list[tuple[str, str]] = field(default_factory=list)
    edge_attrs: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    reversed: set[tuple[str, str]] = field(default_factory=set)
    kind: str = "plain"  # "plain", "wrap" or "u"
    segments: int = 1


def target_aspect(width: float | None, lr: bool) -> float:
    """The largest height : width (TB) or width : height (LR) a figure should have."""
    if width is None:
        return DEFAULT_ASPECT + (1.0 if lr else 0.0)
    return max(1.5, width / 2.0) if lr else max(1.0, PAGE_HEIGHT_IN / width)


def plan_page(fig: Figure, width: float | None, rankdir: str, label_of: dict[str, int]) -> PagePlan:
    """The hints for `fig` (see the module docstring). `label_of` gives the characters of each
    item's widest label line (for the width estimate)."""
    plan = PagePlan()
    if width is not None:
        plan.graph_attrs["size"] = f"{width:.3g},{max(PAGE_HEIGHT_IN, width * 1.3):.3g}"
    rank = ranks(fig)
    if not rank:
        return plan
    if fig.view == "network" and _plan_u(fig, rank, plan, rankdir in ("LR", "RL")):
        return plan
    _plan_wrap(fig, rank, plan, width, rankdir in ("LR", "RL"), label_of)
    return plan


def ranks(fig: Figure) -> dict[str, int]:
    """Each item's rank: the longest path of arrows from an item nothing points to."""
    g = nx.DiGraph()
    g.add_nodes_from(fig.items)
    g.add_edges_from((e.src, e.dst) for e in fig.edges)
    rank: dict[str, int] = {}
    order = {k: i for i, k in enumerate(fig.items)}
    for k in nx.lexicographical_topological_sort(g, key=order.__getitem__):
        preds = [rank[p] for p in g.predecessors(k)]
        rank[k] = max(preds) + 1 if preds else 0
    return rank


# ---- U ------------------------------------------------------------------------------------------
def _plan_u(fig: Figure, rank: dict[str, int], plan: PagePlan, lr: bool = False) -> bool:
    """Plan the U of an encoder–decoder; False (nothing planned) when the figure is not one.
    Left to right (`lr`) and without clusters, the levels of the U are columns instead
    (`_plan_levels`)."""
    skips = [
        e for e in fig.edges if _is_join(fig, fig.items[e.dst]) and rank[e.dst] - rank[e.src] >= 3
    ]
    if len(skips) < 2:
        return False
    skips.sort(key=lambda e: rank[e.src])
    srcs = [rank[e.src] for e in skips]
    dsts = [rank[e.dst] for e in skips]
    nested = all(a < b for a, b in zip(srcs, srcs[1:], strict=False)) and all(
        a > b for a, b in zip(dsts, dsts[1:], strict=False)
    )
    if not nested or max(srcs) >= min(dsts):
        return False
    plan.kind = "u"
    if lr and not _framed(fig.top):  # (Graphviz does not keep a column's order in clusters)
        _plan_levels(fig, rank, plan, srcs, dsts)
        return True
    turn = (max(srcs) + min(dsts)) / 2
    up = {k for k, r in rank.items() if r > turn}
    rows = _up_rows(fig, up, {e.dst for e in skips})
    row_of = {k: i for i, row in enumerate(rows) for k in row}
    for e in fig.edges:  # the up path is laid out downwards, reversed: drawn going up
        same_row = e.src in row_of and row_of.get(e.dst) == row_of[e.src]
        if e.src in up and e.dst in up and not same_row:
            plan.reversed.add((e.src, e.dst))
    for e in skips:
        plan.same_rank.append([e.src, e.dst])
    plan.same_rank.extend(row for row in rows if len(row) > 1)
    return True


def _framed(cl: Cluster) -> bool:
    """Whether a frame (a block or repeat cluster of several ops) is drawn under `cl`."""
    return any(
        (sub.container.kind in ("block", "repeat") and not is_trivial(sub.container))
        or _framed(sub)
        for sub in cl.clusters
    )


def _plan_levels(
    fig: Figure, rank: dict[str, int], plan: PagePlan, srcs: list[int], dsts: list[int]
) -> None:
    """The U left to right: one column per level (`rank=same`), the down path's and then the up
    path's boxes of a level going down it, the deeper levels to the right; the arrows up a level
    (into each concat) reversed in the layout, drawn pointing the same way."""
    turn = (max(srcs) + min(dsts)) / 2
    level = {
        k: sum(1 for s in srcs if s < r) if r <= turn else sum(1 for d in dsts if d > r)
        for k, r in rank.items()
    }
    for e in fig.edges:
        if level[e.dst] < level[e.src]:
            plan.reversed.add((e.src, e.dst))
    for lv in sorted(set(level.values())):
        plan.same_rank.append([k for k in fig.items if level[k] == lv])


def _up_rows(fig: Figure, up: set[str], joins: set[str]) -> list[list[str]]:
    """The up path's boxes between two of its skip joins, each run as one row (left to right):
    the U is then two ranks a level high on the up path instead of one per box."""
    rows: list[list[str]] = []
    current: list[str] = []
    for k in fig.items:  # in drawing order: the up path from the bottom of the U upwards
        if k not in up or fig.items[k].kind == "head":
            continue
        if k in joins:
            rows.append(current)
            current = []
        else:
            current.append(k)
    return [r for r in rows if r]


def _is_join(fig: Figure, it: Item) -> bool:
    """Whether `it` is a concat or a sum drawn as its own box."""
    return it.kind == "unit" and it.unit is not None and fig.graph.op(it.unit.first) in _JOINS


_JOINS = ("concat", "add")


# ---- wrap ---------------------------------------------------------------------------------------
def _plan_wrap(
    fig: Figure,
    rank: dict[str, int],
    plan: PagePlan,
    width: float | None,
    lr: bool,
    label_of: dict[str, int],
) -> None:
    """Cut the ranks into columns (rows) so the figure's aspect comes near `target_aspect`."""
    n_ranks = max(rank.values()) + 1
    if n_ranks < MIN_RANKS:
        return
    cuts = _allowed_cuts(fig.top, rank, n_ranks)
    across = [0.0] * n_ranks  # estimated extent of each rank across the flow (inches)
    along = [RANK_IN if not lr else 0.0] * n_ranks  # and along it
    for k, r in rank.items():
        box = label_of.get(k, 8) * CHAR_IN + 0.45
        across[r] += box if not lr else 0.55
        if lr:
            along[r] = max(along[r], box + 0.3)
    target = target_aspect(width, lr)
    best: list[int] = []
    for n in range(1, MAX_SEGMENTS + 1):
        starts = _balanced(cuts, n_ranks, n)
        if len(starts) < n:
            break
        bounds = [*starts, n_ranks]
        long = max(sum(along[a:b]) for a, b in zip(bounds, bounds[1:], strict=False))
        wide = sum(max(across[a:b]) for a, b in zip(bounds, bounds[1:], strict=False))
        wide += 0.5 * (n - 1)
        best = starts
        if long / wide <= target:
            break
    if len(best) <= 1:
        return
    _apply_wrap(fig, rank, plan, best)


def _allowed_cuts(top: Cluster, rank: dict[str, int], n_ranks: int) -> list[int]:
    """Ranks a new column may start at: no top-level cluster has items on both sides."""
    spans = []
    for sub in top.clusters:
        keys = _keys(sub)
        if keys:
            spans.append((min(rank[k] for k in keys), max(rank[k] for k in keys)))
    return [r for r in range(1, n_ranks) if not any(a < r <= b for a, b in spans)]


def _keys(cl: Cluster) -> list[str]:
    out = list(cl.items)
    for sub in cl.clusters:
        out.extend(_keys(sub))
    return out


def _balanced(cuts: list[int], n_ranks: int, n: int) -> list[int]:
    """The first ranks of `n` segments of about equal length, each starting at an allowed cut."""
    starts = [0]
    for i in range(1, n):
        ideal = n_ranks * i / n
        options = [c for c in cuts if c > starts[-1]]
        if not options:
            break
        starts.append(min(options, key=lambda c: (abs(c - ideal), c)))
    return starts


def _apply_wrap(fig: Figure, rank: dict[str, int], plan: PagePlan, starts: list[int]) -> None:
    def segment(k: str) -> int:
        return max(i for i, s in enumerate(starts) if rank[k] >= s)

    heads = []
    order = list(fig.items)
    for a in starts:
        firsts = [k for k in order if rank[k] == a]
        if firsts:
            heads.append(firsts[0])
    for e in fig.edges:
        if segment(e.src) != segment(e.dst):
            plan.edge_attrs[(e.src, e.dst)] = {"constraint": "false"}
    plan.same_rank.append(heads)
    plan.invisible.extend(zip(heads, heads[1:], strict=False))
    plan.kind, plan.segments = "wrap", len(heads)
