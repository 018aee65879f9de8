"""fold-scale: fold a constant `scale`, or a learned per-channel `layer_scale`, into the conv or
linear layer before it.

Before (an Inception-ResNet residual branch)::

    %20 = conv(%19) {bias=True}  # b.conv_1
    %21 = scale(%20) {s=0.17}    # b.scale_1
    %22 = add(%3, %21)

After::

    %20 = conv(%19) {bias=True}  # b.conv_1   weights: Scale(Load(b.conv_1), 0.17)
    %22 = add(%3, %20)

A `layer_scale` folds the same way, per output channel (``w'[o] = gamma[o] * w[o]``,
``b'[o] = gamma[o] * b[o]``; recipe `ChannelScale`).

Guarantees: the function is unchanged (``w' = s * w``, ``b' = s * b``); the layer keeps its scope,
span and position. Only when the layer's raw output has no other reader. Returns whether anything
was folded.
"""

from __future__ import annotations

from incept_dsl.ir.graph import Graph
from incept_dsl.passes.common import note, sole_user
from incept_dsl.passes.recipes import ChannelScale, Recipe, Scale, recipe_of, set_recipe


def _fold(graph: Graph, op: str) -> int:
    """Fold every `op` node (scale or layer_scale) that follows a conv or linear whose output
    only it reads; how many were folded."""
    folded = 0
    for sc in list(graph.nodes(op)):
        (layer,) = graph.inputs(sc)
        if graph.op(layer) not in ("conv", "linear") or sole_user(graph, layer) != sc:
            continue
        src = recipe_of(graph, layer)
        recipe: Recipe = (
            Scale(src, graph.attrs(sc)["s"])
            if op == "scale"
            else ChannelScale(src, recipe_of(graph, sc))
        )
        set_recipe(graph, layer, recipe)
        graph.replace_all_uses_with(sc, layer)
        graph.erase_node(sc)
        folded += 1
    return folded


def fold_scale(graph: Graph) -> bool:
    folded = _fold(graph, "scale")
    if folded:
        note(
            graph,
            f"folded {folded} constant scale{'s' if folded > 1 else ''} into the layers "
            "before them",
        )
    learned = _fold(graph, "layer_scale")
    if learned:
        note(
            graph,
            f"folded {learned} layer_scale{'s' if learned > 1 else ''} into the layers before them",
        )
    return bool(folded or learned)
