"""fold-batchnorm: fold an inference-mode batch norm into the conv, transposed conv or linear layer
before it.

Before::

    %1 = conv(%0) {bias=False}  # b.conv
    %2 = batchnorm(%1)          # b.bn
    %3 = relu(%2)               # b.relu

After::

    %1 = conv(%0) {bias=True}   # b.conv   weights: FoldBN(Load(b.conv), Load(b.bn), eps)
    %3 = relu(%1)               # b.relu

Guarantees: with the batch norm's running statistics (eval mode), the function is unchanged:
``w' = w * g / sqrt(v + eps)``, ``b' = (b - m) * g / sqrt(v + eps) + beta``, per output channel
(dim 0 of a conv's or linear's weight; dim 1, within each group, of a conv_transpose's
``in × out/groups × kh × kw`` weight: `recipe_arrays.evaluate`). The layer keeps its scope, span and
position; the batch norm's users read the layer. A batch norm is folded only when the layer's raw
output has no other reader. Returns whether anything was folded.
"""

from __future__ import annotations

from incept_dsl.ir.graph import Graph
from incept_dsl.passes.common import note, sole_user
from incept_dsl.passes.recipes import FoldBN, recipe_of, set_recipe

#: The layers a batch norm folds into (their output channels are the batch norm's features).
LAYERS = ("conv", "conv_transpose", "linear")


def fold_batchnorm(graph: Graph) -> bool:
    folded: list[str] = []
    transposed = 0
    for bn in list(graph.nodes("batchnorm")):
        (layer,) = graph.inputs(bn)
        if graph.op(layer) not in LAYERS:
            note(
                graph,
                f"kept {graph.scope(bn)}: it follows {graph.op(layer)}, not a conv, "
                "conv_transpose or linear layer",
            )
            continue
        if sole_user(graph, layer) != bn:
            note(
                graph,
                f"kept {graph.scope(bn)}: the raw output of {graph.scope(layer)} is "
                "also used elsewhere",
            )
            continue
        set_recipe(
            graph,
            layer,
            FoldBN(recipe_of(graph, layer), recipe_of(graph, bn), graph.attrs(bn)["eps"]),
        )
        graph.attrs(layer)["bias"] = True
        graph.replace_all_uses_with(bn, layer)
        graph.erase_node(bn)
        folded.append(graph.scope(layer))
        transposed += graph.op(layer) == "conv_transpose"
    if folded:
        kind = "a transposed convolution" if transposed == 1 else "transposed convolutions"
        among = f" ({transposed} into {kind})" if transposed else ""
        note(
            graph,
            f"folded {len(folded)} batch norm{'s' if len(folded) > 1 else ''} into "
            f"the layers before them{among}",
        )
    return bool(folded)
