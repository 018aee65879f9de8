"""The driver: the one place that turns a checked model into the graph a backend draws from.

    Model --lower(level, keep_aux, weights, target)--> (Graph at -O<level>, its weights) --> a backend

`lower` is the only caller of the pass pipeline. It picks the passes of `-O<level>` less those the
target's runtime does better itself (`passes.TARGET_SKIPS`), adding `prune-aux` when aux heads are
to go (at every level) and dropping it when they stay; it checks the weights once against the -O0
graph, runs the passes, and carries the weights through the passes that rewrite them
(`incept_dsl.passes.recipes`, computed by `recipe_arrays`). Backends are pure functions of what it
returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from incept_dsl.errors import InceptExportError, UsageError, did_you_mean
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import state_tensors
from incept_dsl.passes import AUX_PASSES, PIPELINES, TARGET_SKIPS, Log, run_pipeline

if TYPE_CHECKING:
    import numpy as np


class Lowerable(Protocol):
    """What `lower` reads of a model (an `incept_dsl.Model`): its -O0 graph and its name."""

    graph: Graph

    @property
    def name(self) -> str: ...


Weights = dict[str, "np.ndarray"]


def passes_for(level: int, keep_aux: bool, target: str = "torch") -> tuple[str, ...]:
    """The passes `lower` runs: the `-O<level>` pipeline less what `target` skips
    (`TARGET_SKIPS`), with aux pruning first unless kept."""
    skips = TARGET_SKIPS.get(target, ())
    names = tuple(n for n in PIPELINES[level] if n not in skips)
    if keep_aux:
        return tuple(n for n in names if n not in AUX_PASSES)
    return names if AUX_PASSES[0] in names else (*AUX_PASSES, *names)


def lower(
    model: Lowerable,
    level: int,
    keep_aux: bool | None = None,
    weights: Mapping[str, np.ndarray] | None = None,
    log: Log | None = None,
    target: str = "torch",
) -> tuple[Graph, Weights | None]:
    """The `-O<level>` graph of `model` (a copy; the model is never changed) and `weights`, the
    -O0 module's state_dict as numpy arrays, carried to it: keyed like the lowered graph's own
    module, in its order. `weights=None` gives None. `keep_aux` defaults to keeping aux heads at
    -O0 (the trainable form) and pruning them at -O1/-O2. `log` sees every pass (`--explain`).
    `target` ("torch", "onnx"; others as "torch") drops the passes its runtime does better itself
    (`passes.TARGET_SKIPS`).

    Raises `InceptExportError` (located at the layer) or `UsageError` (a key the module lacks)
    when the weights do not fit the -O0 graph; nothing else checks them.
    """
    keep = level == 0 if keep_aux is None else keep_aux
    if weights is not None:
        check_weights(model.graph, weights, model.name)
    graph = run_pipeline(model.graph, level, passes=passes_for(level, keep, target), log=log)
    if weights is None:
        return graph, None
    from incept_dsl.passes.recipe_arrays import carry_weights  # numpy: only when weights travel

    return graph, carry_weights(graph, weights)


def check_weights(graph: Graph, state: Mapping[str, np.ndarray], name: str) -> None:
    """The weights fit the -O0 `graph`: every tensor present with its shape (else an error at the
    layer's source line), and no key the module lacks (a `UsageError`, as strict loading)."""
    expected = set()
    for n in graph.nodes():
        what = f"this {graph.op(n)}"
        for role, shape in state_tensors(graph.op(n), graph.attrs(n)):
            key = f"{graph.scope(n)}.{role}"
            expected.add(key)
            if key not in state:
                raise InceptExportError(
                    f"the weights have no tensor '{key}' for {what}",
                    graph.span(n),
                    hint="pass the state_dict of this program's -O0 module (Model.to_torch())",
                )
            got = tuple(state[key].shape)
            if got != shape:
                raise InceptExportError(
                    f"the weight '{key}' has shape {got}; {what} needs {shape}",
                    graph.span(n),
                    hint="the state_dict must come from a module compiled from this same program",
                )
    unknown = sorted(set(state) - expected)
    if unknown:
        hint = did_you_mean(unknown[0], expected)
        raise UsageError(
            f"the weights have tensors {name} does not: "
            f"{', '.join(unknown[:3])}{' ...' if len(unknown) > 3 else ''}"
            + (f"; {hint}" if hint else "")
        )
