"""The pass pipeline, as data.

A pass is `PassFn = Callable[[Graph], bool]`: it rewrites the graph in place and returns whether it
changed anything (a second run returns False). `PIPELINES[level]` lists, by name, what `-O<level>`
runs; `run_pipeline` verifies the IR after every pass and names the culprit when it breaks.
"""

from __future__ import annotations

from collections.abc import Callable

from incept_dsl.ir.graph import Graph
from incept_dsl.ir.verify import verify
from incept_dsl.passes.infer_shapes import infer_shapes

PassFn = Callable[[Graph], bool]

PASSES: dict[str, PassFn] = {
    "infer-shapes": infer_shapes,
}

PIPELINES: dict[int, tuple[str, ...]] = {
    0: (),
    1: (),
    2: (),
}


def run_pipeline(graph: Graph, level: int = 0, passes: tuple[str, ...] | None = None,
                 log: Callable[[str, bool, Graph], None] | None = None) -> Graph:
    """Run `passes` (default: the `-O<level>` pipeline) on a copy of `graph`; return the copy.

    `log(name, changed, graph)` is called after each pass (for `--explain` / `--print-after-all`).
    """
    names = PIPELINES[level] if passes is None else passes
    g = graph.copy()
    ran: list[str] = []
    for name in names:
        changed = PASSES[name](g)
        ran.append(name)
        verify(g, after=name, ran=tuple(ran[:-1]))
        if log is not None:
            log(name, changed, g)
    return g
