"""fold-scale: fold a constant `scale`, or a learned per-channel `layer_scale`, into the layer before
it: a conv, transposed conv, linear (on flat tensors or on tokens) or attention.

Before (an Inception-ResNet residual branch)::

    %20 = conv(%19) {bias=True}  # b.conv_1
    %21 = scale(%20) {s=0.17}    # b.scale_1
    %22 = add(%3, %21)

After::

    %20 = conv(%19) {bias=True}  # b.conv_1   weights: Scale(Load(b.conv_1), 0.17)
    %22 = add(%3, %20)

A `layer_scale` folds the same way, per output channel (``w'[o] = gamma[o] * w[o]``,
``b'[o] = gamma[o] * b[o]``; recipe `ChannelScale`). Output channels are the layer's own: dim 0
of a conv's or linear's weight (a linear on tokens L×D has D outputs, the channels a layer_scale
on tokens scales), dim 1 within each group of a conv_transpose's weight, the out-projection of an
attention (its in-projection is unchanged).

Guarantees: the function is unchanged; the layer keeps its scope, span and position. Only the
layer that computes the scaled tensor itself is changed, and only when its raw output has no
other reader: nothing folds across another op (a `tokens`, an activation, a join). Returns
whether anything was folded.
"""

from __future__ import annotations

from incept_dsl.ir.graph import Graph
from incept_dsl.passes.common import note, sole_user
from incept_dsl.passes.recipes import ChannelScale, Recipe, Scale, recipe_of, set_recipe

#: The layers a scale folds into: their output is an affine map of their weights.
LAYERS = ("conv", "conv_transpose", "linear", "attention")

_WHAT = {"scale": "constant scale", "layer_scale": "layer_scale"}


def _fold(graph: Graph) -> dict[str, list[str]]:
    """Fold every scale and layer_scale that follows a layer in `LAYERS` whose output only it
    reads, in graph order (so `layer -> layer_scale -> scale` folds both); for each of the two
    ops, the ops of the layers it folded into (and notes what it kept)."""
    into: dict[str, list[str]] = {"scale": [], "layer_scale": []}
    for sc in [n for n in graph.nodes() if graph.op(n) in into]:
        (layer,) = graph.inputs(sc)
        if graph.op(layer) not in LAYERS:
            note(
                graph,
                f"kept {graph.scope(sc)}: it follows {graph.op(layer)}, not a conv, "
                "conv_transpose, linear or attention layer",
            )
            continue
        if sole_user(graph, layer) != sc:
            note(
                graph,
                f"kept {graph.scope(sc)}: the raw output of {graph.scope(layer)} is also "
                "used elsewhere",
            )
            continue
        src = recipe_of(graph, layer)
        recipe: Recipe = (
            Scale(src, graph.attrs(sc)["s"])
            if graph.op(sc) == "scale"
            else ChannelScale(src, recipe_of(graph, sc))
        )
        into[graph.op(sc)].append(graph.op(layer))
        set_recipe(graph, layer, recipe)
        graph.replace_all_uses_with(sc, layer)
        graph.erase_node(sc)
    return into


def _summary(op: str, into: list[str]) -> str:
    """'folded 3 layer_scales into the layers before them (1 into an attention ...)'."""
    n = len(into)
    special = {
        "conv_transpose": ("a transposed convolution", "transposed convolutions"),
        "attention": ("an attention's out-projection", "attentions' out-projections"),
    }
    details = [f"{k} into {special[kind][k > 1]}" for kind in special if (k := into.count(kind))]
    return f"folded {n} {_WHAT[op]}{'s' if n > 1 else ''} into the layers before them" + (
        f" ({', '.join(details)})" if details else ""
    )


def fold_scale(graph: Graph) -> bool:
    folded = _fold(graph)
    for op, into in folded.items():
        if into:
            note(graph, _summary(op, into))
    return any(folded.values())
