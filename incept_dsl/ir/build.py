"""Elaboration: one model of a loaded file -> the IR (`Graph`). The entry points are here; the
work is done by `Elaborator` (`incept_dsl.ir.elaborate_model` and the layers below it).

Guarantees of `build_model`:

- blocks are inlined under their own scopes; `defaults` of the model apply wherever an op is applied
  (inside inlined blocks too); `repeat(n)` makes n copies with their own weights;
- every node has a unique hierarchical scope name: `as NAME` names a scope; unnamed ones are
  `<op>_<k>` / `<block>_<k>` / `repeat_<k>` / `branch_<k>` numbered from 1 per kind within their
  parent scope (a label names a branch), and a repeat's copies are `0 .. n-1`. `concat`, `add`,
  `residual` and groups add no level unless named with `as`. A `conv(bn = true)` is the scope
  `conv_k` holding the nodes `conv_k.conv` and `conv_k.bn`; an `act` adds `<scope>.<act>`;
- every node's shape is inferred as it is created, so every shape error points at the source;
- any mistake is an `InceptError` with a span, never another exception;
- every independent mistake is reported (`InceptErrors`), none that another one caused: after an
  element fails, the elements after it are still elaborated when its output shape is known anyway
  (an op that keeps its input's shape, such as `dropout(p = 2)`), and otherwise checked without
  shapes (`incept_dsl.ir.static`); statements that read a failed statement's tensor are skipped;
- a block application whose body failed is not elaborated again with the same arguments, input
  shape and depth: its error is reported once, and error recovery stays linear in the program;
- the body of every block that the model does not apply (its own, the file's, imported ones) is
  checked without shapes, so a mistake in an unused block is an error too;
- elaboration ends within `MAX_WORK` steps and `MAX_NODES` nodes (`incept_dsl.ir.limits`): a
  `repeat` whose copies would pass a limit fails after its first copy, at the outermost `repeat`,
  and a block whose size (a lower bound counted over its body) would pass one fails before it is
  applied, so a blow-up fails in milliseconds, not after elaborating up to the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from incept_dsl.errors import (
    InceptError,
    InceptErrors,
    UsageError,
    did_you_mean,
    reset_suggestion_budget,
)
from incept_dsl.frontend import ast
from incept_dsl.frontend.loader import Unit
from incept_dsl.ir.elaborate_blocks import check_body, visible_entries
from incept_dsl.ir.elaborate_model import Elaborator
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.limits import (
    MAX_BLOCK_DEPTH,
    MAX_CHANNELS,
    MAX_LAYER_PARAMS,
    MAX_NODES,
    MAX_REPEAT,
    MAX_TENSOR_ELEMENTS,
    MAX_WORK,
)
from incept_dsl.perf import ensure_recursion_limit, gc_paused

__all__ = [
    "MAX_BLOCK_DEPTH",
    "MAX_CHANNELS",
    "MAX_LAYER_PARAMS",
    "MAX_NODES",
    "MAX_REPEAT",
    "MAX_TENSOR_ELEMENTS",
    "MAX_WORK",
    "Elaborator",
    "build_model",
    "check_blocks",
    "pick_model",
]


def check_blocks(unit: Unit) -> None:
    """Check, without shapes, the body of every block `unit` can see (its own and its imports');
    for a file without a model, whose blocks no `build_model` checks. Raises every mistake found
    (an `InceptError`, or `InceptErrors` for several)."""
    ensure_recursion_limit()
    errors: list[InceptError] = []
    for entry in visible_entries(unit.blocks):
        errors.extend(check_body(entry, None, (), "the file has no model to apply it"))
    if errors:
        raise InceptErrors.of(errors)


def build_model(
    unit: Unit,
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> Graph:
    """Elaborate one model of `unit` into a shape-checked IR graph.

    Every mistake raises an `InceptError`; independent mistakes (statements that do not read
    each other's tensors, branches of one `concat`) are reported together as `InceptErrors`."""
    ensure_recursion_limit()
    reset_suggestion_budget()
    with gc_paused():
        return Elaborator(unit, pick_model(unit, model), params, input_shape).build()


def pick_model(unit: Unit, model: str | None) -> ast.ModelDef:
    """The model named `model`; by default the file's only model, or the one named after the file
    (`googlenet.incept` -> `googlenet`). A `UsageError` lists the names when a choice is needed."""
    models = unit.program.models
    names = [m.name for m in models]
    if model is None:
        if len(models) == 1:
            return models[0]
        if not models:
            raise InceptError(
                f"{unit.source.name} defines no model",
                unit.source.span(0, 0),
                hint="add `model NAME { input ...; output ... }`",
            )
        stem = Path(unit.source.name).stem
        for m in models:
            if m.name == stem:  # googlenet.incept -> its model `googlenet`
                return m
        raise UsageError(
            f"{unit.source.name} defines several models; choose one with "
            f"--model/model=: {', '.join(names)}"
        )
    for m in models:
        if m.name == model:
            return m
    hint = did_you_mean(model, names)
    raise UsageError(
        f"{unit.source.name} has no model '{model}' (it has: "
        f"{', '.join(names) or 'none'})" + (f"; {hint}" if hint else "")
    )
