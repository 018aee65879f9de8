"""What a figure adds around its boxes: the branch labels on arrows (`branch_label`), and
(`decorate`) the page hints of `page.plan_page`, the title and the legend.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from incept_dsl.backends.figure.layout import Item
from incept_dsl.backends.figure.legend import conventions, legend_label, title_attrs
from incept_dsl.backends.figure.structure import Container, Unit

if TYPE_CHECKING:  # pragma: no cover
    from incept_dsl.backends.figure.dot import _Writer

#: Names the compiler gives unlabelled branches and joins.
_AUTO = re.compile(r"(branch|concat|add|mul|residual|sequence|group)_\d+")
_JOINS = ("concat", "add", "mul")


def _branch(it: Item) -> Container | None:
    """The innermost labelled branch (`LABEL: ...` in a concat, add or mul) `it` is drawn in."""
    c: Container | Unit | None = it.unit if it.unit is not None else it.container
    while c is not None:
        parent = c.parent
        if (
            isinstance(c, Container)
            and c.kind == "group"
            and parent is not None
            and not _AUTO.fullmatch(c.name)
            and any(
                isinstance(s, Unit) and s.scope.rsplit(".", 1)[-1].startswith(_JOINS)
                for s in parent.children
            )
        ):
            return c
        c = parent
    return None


def _inside(it: Item, c: Container) -> bool:
    x: Container | Unit | None = it.unit if it.unit is not None else it.container
    while x is not None:
        if x is c:
            return True
        x = x.parent
    return False


def branch_label(src: Item, dst: Item) -> str | None:
    """The label of the branch an arrow enters (`pool` for `pool: maxpool(3) -> conv(64, 1)`),
    on the arrow into the branch's first box; None for other arrows."""
    branch = _branch(dst)
    if branch is None or _inside(src, branch):
        return None
    return branch.name


def decorate(dot: Any, w: _Writer) -> None:
    """Add the page hints, the title and the legend to the Graphviz digraph `dot`."""
    plan = w.page
    dot.graph_attr.update(plan.graph_attrs)
    for i, group in enumerate(plan.same_rank):
        with dot.subgraph(name=f"rank_{i}") as s:
            s.attr(rank="same")
            for key in group:
                s.node(key)
    for a, b in plan.invisible:
        dot.edge(a, b, style="invis")
    title = w.opt.title
    legend = _legend(w) if w.opt.legend else None
    if title or legend:
        dot.graph_attr.update(title_attrs(title, w.opt.font, legend))


def _legend(w: _Writer) -> str:
    """The legend table of what `w` drew (see `legend.legend_label`)."""
    g = w.fig.graph
    lines = conventions(
        w.drawn["labels"],
        circles=set(w.drawn["circles"]),
        opts={
            "shapes": w.opt.shapes,
            "tokens": any(len(g.shape(n)) == 2 for n in g.nodes()),
            "costs": w.opt.costs,
            "norm_act": w.opt.show_norm_act,
            "aux": any(it.aux_only for it in w.fig.items.values()),
            "convs": "conv" in w.drawn["families"]
            and any(g.op(n) == "batchnorm" for n in g.nodes()),
        },
    )
    return legend_label(sorted(set(w.drawn["families"])), lines, w.theme)
