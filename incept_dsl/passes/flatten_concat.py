"""flatten-concat: a concat whose only reader is another concat is spliced into it.

Before (Inception-v3's Mixed_7b: two of its branches end in a concat of their own)::

    %5 = concat(%3, %4)          # Mixed_7b.branch3x3.concat_1
    %8 = concat(%6, %7)          # Mixed_7b.branch3x3dbl.concat_1
    %10 = concat(%1, %5, %8, %9) # Mixed_7b.concat_1

After::

    %10 = concat(%1, %3, %4, %6, %7, %9)

Every concat joins along the channels, and concatenation is associative, so the function is
unchanged; the inner copy goes (torch.onnx's exporter flattens these too, so without this pass our
Inception-v3 file had four Concat nodes more than its). An inner concat that is a head, or that
anything else reads (or the outer one reads twice), stays. Returns whether anything changed.
"""

from __future__ import annotations

from incept_dsl.ir.graph import Graph
from incept_dsl.passes.common import note, sole_user


def _spliceable(graph: Graph, n: int, outer: int) -> bool:
    return graph.op(n) == "concat" and sole_user(graph, n) == outer


def flatten_concat(graph: Graph) -> bool:
    spliced = 0
    changed = True
    while changed:  # an inner concat may itself hold one: splice until none is left
        changed = False
        for cat in list(graph.nodes("concat")):
            ins = graph.inputs(cat)
            inner = [n for n in ins if _spliceable(graph, n, cat)]
            if not inner:
                continue
            graph.set_inputs(
                cat, [i for n in ins for i in (graph.inputs(n) if n in inner else [n])]
            )
            for n in inner:
                graph.erase_node(n)
            spliced += len(inner)
            changed = True
    if spliced:
        note(
            graph,
            f"spliced {spliced} concat{'s' if spliced > 1 else ''} into the concat reading it",
        )
    return spliced > 0
