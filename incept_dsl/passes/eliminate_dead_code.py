"""eliminate-dead-code: remove nodes that no head (output or aux) depends on.

Guarantees: every remaining node is a model input or an ancestor of a head; heads are unchanged.
Returns whether it removed anything.
"""

from __future__ import annotations

from incept_dsl.ir.graph import Graph
from incept_dsl.passes.common import note


def eliminate_dead_code(graph: Graph) -> bool:
    before = {n: graph.scope(n) for n in graph.nx}
    changed = graph.eliminate_dead_code()
    gone = sorted(s for n, s in before.items() if n not in graph)
    if gone:
        note(
            graph,
            f"removed {len(gone)} unused node{'s' if len(gone) > 1 else ''}: "
            + ", ".join(gone[:5])
            + (", ..." if len(gone) > 5 else ""),
        )
    return changed
