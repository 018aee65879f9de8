"""cancel-split-concat: a concat of consecutive slices of one tensor, in order, is that tensor.

Before (branches that were only merged 1×1 convs)::

    %5 = slice(%4) {start=0, end=32}
    %6 = slice(%4) {start=32, end=64}
    %7 = concat(%5, %6, %9)

After::

    %7 = concat(%4, %9)        # or %4 itself when the slices cover all of it and nothing else joins

Adjacent slices of one tensor that cover a contiguous range become one slice; a range covering the
whole tensor becomes the tensor; a concat left with one input is replaced by it. Slices left without
readers are removed. Guarantees: the function is unchanged. Returns whether anything changed.
"""

from __future__ import annotations

from incept_dsl.ir.graph import Graph
from incept_dsl.passes.common import add_like, fresh_scope, is_head, note


def _runs(graph: Graph, ins: list[int]) -> list[tuple[int, int, int, list[int]]]:
    """Maximal runs of adjacent slices of one tensor with touching ranges: (src, start, end, nodes)."""
    runs: list[tuple[int, int, int, list[int]]] = []
    for n in ins:
        if graph.op(n) == "slice":
            (src,) = graph.inputs(n)
            a = graph.attrs(n)
            if runs and runs[-1][0] == src and runs[-1][2] == a["start"] and runs[-1][3]:
                s, start, _, nodes = runs[-1]
                runs[-1] = (s, start, a["end"], [*nodes, n])
                continue
            runs.append((src, a["start"], a["end"], [n]))
        else:
            runs.append((n, 0, 0, []))
    return runs


def cancel_split_concat(graph: Graph) -> bool:
    changed = False
    for cat in list(graph.nodes("concat")):
        ins = graph.inputs(cat)
        new_ins: list[int] = []
        for src, start, end, nodes in _runs(graph, ins):
            if len(nodes) < 2:
                new_ins.extend(nodes or [src])
            elif start == 0 and end == graph.shape(src)[0]:
                new_ins.append(src)
            else:
                scope = fresh_scope(graph, graph.scope(cat).rpartition(".")[0], "slice")
                new_ins.append(
                    add_like(graph, nodes[0], "slice", {"start": start, "end": end}, [src], scope)
                )
        if new_ins == ins:
            continue
        changed = True
        note(
            graph,
            f"{graph.scope(cat)}: joined {len(ins) - len(new_ins) + 1} adjacent slices "
            f"back into {'their source' if len(new_ins) > 1 else 'the tensor they split'}",
        )
        if len(new_ins) == 1:
            graph.replace_all_uses_with(cat, new_ins[0])
            graph.erase_node(cat)
        else:
            graph.set_inputs(cat, new_ins)
        for n in ins:
            if (
                n in graph
                and graph.op(n) == "slice"
                and not graph.users(n)
                and not is_head(graph, n)
            ):
                graph.erase_node(n)
    return changed
