"""What the elaborated graphs say about a stretch of source: output shape, parameters, MACs.

An element's nodes are the IR nodes whose span lies inside the element's span, and every node of
a block applied there (`graph.data["block_calls"]`: (file, start, end) of each block application). In a
block body, written once and applied many times, the facts are those of its first application.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import node_costs
from incept_dsl.source import Span
from incept_dsl.text import human_count


@dataclass(frozen=True)
class Facts:
    """The facts of one element in one model: where (`model`, `scope`) and what it computes."""

    model: str
    scope: str
    shape: tuple[int, ...]
    params: int
    macs: int
    nodes: int
    block: bool = False  # the element is written in a block body (facts of one application)


def _inside(span: Span | None, outer: Span) -> bool:
    return span is not None and _within((span.file, span.start, span.end), outer)


def _within(where: tuple[str, int, int], outer: Span) -> bool:
    """Whether (file, start, end) lies inside `outer`."""
    return where[0] == outer.file and outer.start <= where[1] and where[2] <= outer.end


def _application(g: Graph, scope: str) -> str:
    """The scope of the innermost block application holding `scope` ("" at the model's level)."""
    best = ""
    for key in g.data.get("blocks", {}):
        if (scope == key or scope.startswith(key + ".")) and len(key) > len(best):
            best = key
    return best


def element_nodes(g: Graph, outer: Span) -> list[int]:
    """The nodes an element at `outer` made in `g` (its first application, in a block body)."""
    order = g.order()
    direct = [n for n in order if _inside(g.span(n), outer)]
    calls = [s for s, w in g.data.get("block_calls", {}).items() if _within(w, outer)]
    if direct:
        app = _application(g, g.scope(direct[0]))
    elif calls:
        first = min(
            calls,
            key=lambda s: next(
                (i for i, n in enumerate(order) if g.scope(n).startswith(s + ".")), 0
            ),
        )
        app = _application(g, first.rsplit(".", 1)[0]) if "." in first else ""
    else:
        return []
    prefix = app + "." if app else ""
    keep = {n for n in direct if g.scope(n).startswith(prefix)}
    for s in calls:
        if s.startswith(prefix) or not prefix:
            keep.update(n for n in order if g.scope(n).startswith(s + "."))
    return [n for n in order if n in keep]


def facts_of(g: Graph, nodes: list[int]) -> Facts | None:
    """Output shape (of the last node in graph order), parameters and MACs of `nodes`."""
    if not nodes:
        return None
    total_params, total_macs = node_costs(g, nodes)
    last = nodes[-1]
    scope = g.scope(last).rsplit(".", 1)[0] if "." in g.scope(last) else g.scope(last)
    return Facts(g.name, scope, g.shape(last), total_params, total_macs, len(nodes))


def element_facts(graphs: dict[str, Graph], outer: Span, model: str | None) -> Facts | None:
    """The facts of the element at `outer`: in `model` when given (an element of that model),
    else (an element of a block body) in the first model that applies it."""
    for name, g in graphs.items():
        if model is not None and name != model:
            continue
        f = facts_of(g, element_nodes(g, outer))
        if f is not None:
            return replace(f, block=model is None)
    return None


def fmt_count(n: int) -> str:
    """`6,998,552 (7.0M)`: exact, then rounded with a unit."""
    return f"{n:,} ({human_count(n)})" if n >= 1000 else f"{n:,}"
