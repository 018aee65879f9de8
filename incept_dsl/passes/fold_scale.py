"""fold-scale: fold a constant `scale` into the conv or linear layer before it.

Before (an Inception-ResNet residual branch)::

    %20 = conv(%19) {bias=True}  # b.conv_1
    %21 = scale(%20) {s=0.17}    # b.scale_1
    %22 = add(%3, %21)

After::

    %20 = conv(%19) {bias=True}  # b.conv_1   weights: Scale(Load(b.conv_1), 0.17)
    %22 = add(%3, %20)

Guarantees: the function is unchanged (``w' = s * w``, ``b' = s * b``); the layer keeps its scope,
span and position. Only when the layer's raw output has no other reader. Returns whether anything
was folded.
"""

from __future__ import annotations

from incept_dsl.ir.graph import Graph
from incept_dsl.passes.common import note, sole_user
from incept_dsl.passes.recipes import Scale, recipe_of, set_recipe


def fold_scale(graph: Graph) -> bool:
    folded = 0
    for sc in list(graph.nodes("scale")):
        (layer,) = graph.inputs(sc)
        if graph.op(layer) not in ("conv", "linear") or sole_user(graph, layer) != sc:
            continue
        set_recipe(graph, layer, Scale(recipe_of(graph, layer), graph.attrs(sc)["s"]))
        graph.replace_all_uses_with(sc, layer)
        graph.erase_node(sc)
        folded += 1
    if folded:
        note(
            graph,
            f"folded {folded} constant scale{'s' if folded > 1 else ''} into the layers "
            "before them",
        )
    return bool(folded)
