"""prune-aux: remove the aux heads and every node only they use (for inference and export).

Before: ``aux aux1 = %12 -> avgpool -> conv -> flatten -> linear ...`` next to ``output logits``.
After: only the ``output`` heads remain, with their ancestors (and every model input).

Guarantees: the eval-mode function of the model is unchanged; afterwards no head is an aux head.
Returns whether it removed anything.
"""

from __future__ import annotations

from incept_dsl.ir.graph import Graph
from incept_dsl.passes.common import note


def prune_aux(graph: Graph) -> bool:
    aux = [h.name for h in graph.heads if h.kind == "aux"]
    before = len(graph)
    changed = graph.eliminate_dead_code(keep_kinds=("output",))
    if aux:
        note(
            graph,
            f"removed aux head{'s' if len(aux) > 1 else ''} {', '.join(aux)} and "
            f"{before - len(graph)} nodes only they use (keep them with --keep-aux)",
        )
    return changed
