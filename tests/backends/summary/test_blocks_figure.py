"""`summary --by block` and the network figure agree on what a block is: on every shipped model
the block rows stand for the same IR nodes, in the same order, under the same names, as the
figure's top-level boxes (a block, a repeat drawn as one box, a lone op) and frames (a named
group drawn open)."""

from __future__ import annotations

import pytest
from optimizer_helpers import ARCH, arch_models, ids

import incept_dsl
from incept_dsl.backends.figure.dot import figure
from incept_dsl.backends.figure.layout import Cluster, Figure
from incept_dsl.backends.figure.options import FigureOptions
from incept_dsl.backends.summary.rows import block_of

MODELS = arch_models()


def _cluster_nodes(fig: Figure, cl: Cluster) -> set[int]:
    out = {n for k in cl.items for n in fig.items[k].nodes}
    for sub in cl.clusters:
        out |= _cluster_nodes(fig, sub)
    return out


def top_level(fig: Figure) -> list[tuple[str, set[int]]]:
    """(name, IR nodes) of each top-level box and frame of the network figure, in the order of
    their first node in the graph (inputs and output heads left out)."""
    out = []
    for key in fig.top.items:
        item = fig.items[key]
        if item.kind in ("unit", "collapsed"):
            out.append((key, set(item.nodes)))
    for cl in fig.top.clusters:
        out.append((cl.container.path, _cluster_nodes(fig, cl)))
    rank = {n: i for i, n in enumerate(fig.graph.order())}
    return sorted(out, key=lambda e: min(rank[n] for n in e[1]))


@pytest.mark.parametrize(("file", "name"), MODELS, ids=ids(MODELS))
@pytest.mark.parametrize("opt_level", [0, 1])
def test_block_rows_are_the_figures_top_level_boxes(file: str, name: str, opt_level: int):
    model = incept_dsl.load(ARCH / file, model=name)
    aux = opt_level == 0
    graph = model.figure_graph(opt_level, aux)
    fig = figure(graph, FigureOptions(opt_level=opt_level, aux=aux))
    drawn = {n for it in fig.items.values() for n in it.nodes}
    groups: dict[str, set[int]] = {}
    for n, key in block_of(graph).items():
        if n in drawn:  # the figure leaves out identities (dropout p = 0, a concat of concats)
            groups.setdefault(key, set()).add(n)
    boxes = top_level(fig)
    assert [nodes for _, nodes in boxes] == list(groups.values())
    for (box, _), row in zip(boxes, groups, strict=True):
        # a block of one op is drawn as that op (`norm1.lrn_1` in block `norm1`)
        assert box == row or box.startswith(row + "."), (box, row)
    summary = model.summary(by="block", keep_aux=aux, opt_level=opt_level)
    assert [b.name for b in summary.blocks] == list(groups)
