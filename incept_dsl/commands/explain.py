"""`--explain`: what each pass of a pipeline changed, and what it left and why (text)."""

from __future__ import annotations

from incept_dsl.driver import lower
from incept_dsl.ir.graph import Graph
from incept_dsl.model import Model
from incept_dsl.passes import AUX_PASSES, PIPELINES, TARGET_SKIPS


def explain(model: Model, level: int, keep_aux: bool = False, target: str = "torch") -> str:
    """A report of the `-O<level>` pipeline for `target` on `model`: one block per pass with its
    node count and its notes (merged sibling groups, siblings not merged with the reason, folds,
    pruning), then the passes the target leaves to its runtime."""
    graph = model.graph
    names = PIPELINES[level]
    if not names:
        return f"-O{level}: no optimisation passes run on {graph.name} ({len(graph)} nodes)"
    lines = [f"-O{level} on {graph.name} ({len(graph)} nodes):"]
    count = [len(graph)]

    def log(name: str, changed: bool, g: Graph, notes: list[str]) -> None:
        delta = f"{count[0]} -> {len(g)} nodes" if len(g) != count[0] else f"{len(g)} nodes"
        lines.append(f"  {name}: {'changed' if changed else 'no change'} ({delta})")
        lines.extend(f"    {note}" for note in notes)
        count[0] = len(g)

    lower(model, level, keep_aux, log=log, target=target)
    skipped = [n for n in names if n in TARGET_SKIPS.get(target, ())]
    if skipped:
        lines.append(f"  (skipped {', '.join(skipped)}: --to {target}'s runtime does it itself)")
    if keep_aux:
        lines.append(f"  (skipped {', '.join(n for n in names if n in AUX_PASSES)}: --keep-aux)")
    return "\n".join(lines)
