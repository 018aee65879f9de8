"""eliminate-dropout: remove `dropout` and `stochastic_depth`, the identity at inference.

Before (a ConvNeXt block's residual branch end)::

    %7 = layer_scale(%6)                # b.layer_scale_1
    %8 = stochastic_depth(%7) {p=0.1}   # b.stochastic_depth_1
    %9 = add(%1, %8)

After::

    %7 = layer_scale(%6)                # b.layer_scale_1   (fold-scale then folds it)
    %9 = add(%1, %7)

An attention's own dropout (its attribute `dropout`, on the attention weights) is set to 0.0.

Guarantees: the eval-mode function is unchanged (in eval mode PyTorch's dropout, torchvision's
StochasticDepth and nn.MultiheadAttention's dropout are the identity); afterwards the graph has no
`dropout` or `stochastic_depth` node and no attention with dropout > 0, so the optimised module
is the same in train and eval mode as far as dropping goes. Readers and heads of a removed node
read its input. Runs at -O1 and -O2 only (the -O0 module keeps them for training). Returns whether
anything changed.
"""

from __future__ import annotations

from incept_dsl.ir.graph import Graph
from incept_dsl.passes.common import note

#: Ops that are the identity at inference.
DROPPING = ("dropout", "stochastic_depth")


def eliminate_dropout(graph: Graph) -> bool:
    removed = {op: 0 for op in DROPPING}
    attentions = 0
    for n in list(graph.nodes()):
        op = graph.op(n)
        if op in DROPPING:
            (src,) = graph.inputs(n)
            graph.replace_all_uses_with(n, src)
            graph.erase_node(n)
            removed[op] += 1
        elif op == "attention" and graph.attrs(n)["dropout"] != 0.0:
            graph.attrs(n)["dropout"] = 0.0
            attentions += 1
    said = [f"{k} {op}{'s' if k > 1 else ''}" for op, k in removed.items() if k]
    if said:
        note(graph, f"removed {' and '.join(said)} (the identity at inference)")
    if attentions:
        note(
            graph, f"set the dropout of {attentions} attention{'s' if attentions > 1 else ''} to 0"
        )
    return bool(said or attentions)
