"""infer-shapes: recompute every node's output shape from its inputs with the op table's rules.

Guarantees: afterwards every node's `shape` equals its rule's result on its inputs' shapes, in
topological order. Returns whether any stored shape changed (a second run returns False). A node
whose inputs do not fit raises a located `InceptShapeError`.
"""

from __future__ import annotations

from incept_dsl.errors import InceptShapeError
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import infer_shape
from incept_dsl.ir.shapes import ShapeProblem


def infer_shapes(graph: Graph) -> bool:
    changed = False
    for n in graph.order():
        d = graph.node(n)
        try:
            shape = infer_shape(d["op"], d["attrs"], [graph.shape(i) for i in graph.inputs(n)])
        except ShapeProblem as p:
            raise InceptShapeError(p.message, d["span"], hint=p.hint) from None
        if shape != d["shape"]:
            d["shape"] = shape
            changed = True
    return changed
