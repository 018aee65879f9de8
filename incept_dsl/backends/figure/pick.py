"""Which block instance `--block NAME` draws (`pick_block`).

NAME is an instance's scope path (`inception_3a`, `layer1.0`), drawn as named; or a block's name,
whose instances are drawn by the first one when they all have one form (the same ops, wiring,
kernels, strides and dilations; widths and sizes may differ, as GoogLeNet's nine inception modules
do). When a block's instances have different forms (ResNet's first bottleneck of a stage has a
projection shortcut, the others not), `pick_block` raises a `UsageError` listing one instance of
each form, to pick by scope: it never draws one of them silently.
"""

from __future__ import annotations

from incept_dsl.backends.figure.structure import Container
from incept_dsl.errors import UsageError, did_you_mean
from incept_dsl.ir.graph import Graph

#: The attributes that make a block's form (the rest are widths, sizes and rates).
FORM_ATTRS = ("kernel", "stride", "dilation")


def pick_block(graph: Graph, root: Container, name: str) -> Container:
    """The block instance `--block name` draws (see the module docstring); `UsageError` when
    there is none, or when NAME's instances differ in form."""
    blocks = [c for c in root.containers() if c.kind == "block"]
    for c in blocks:
        if c.path == name:
            return c
    same = [c for c in blocks if c.block == name]
    if same:
        forms: dict[tuple[object, ...], list[Container]] = {}
        for c in same:
            forms.setdefault(form(graph, c), []).append(c)
        if len(forms) > 1:
            raise UsageError(_ambiguous(name, len(same), list(forms.values())))
        return same[0]
    names = sorted({c.block for c in blocks if c.block})
    if name in set(graph.data.get("blocks", {}).values()):
        raise UsageError(
            f"block '{name}' adds no layer to draw (its body only checks shapes); "
            f"blocks with layers: {', '.join(names) or 'none'}"
        )
    hint = did_you_mean(name, names + [c.path for c in blocks])
    raise UsageError(
        f"no block '{name}' is applied in this model (blocks it applies: "
        f"{', '.join(names) or 'none'})" + (f"; {hint}" if hint else "")
    )


def form(graph: Graph, c: Container) -> tuple[object, ...]:
    """The form of a block instance: per IR node in order, its op, its `FORM_ATTRS` and where
    its inputs come from (an earlier node of the instance by index, or "in" from outside)."""
    nodes = [n for u in c.units() for n in u.nodes]
    index = {n: i for i, n in enumerate(nodes)}
    out: list[object] = []
    for n in nodes:
        attrs = graph.attrs(n)
        kept = tuple((k, str(attrs[k])) for k in FORM_ATTRS if k in attrs)
        ins = tuple(index.get(p, "in") for p in graph.inputs(n))
        out.append((graph.op(n), kept, ins))
    return tuple(out)


def _ambiguous(name: str, count: int, groups: list[list[Container]]) -> str:
    """The message for a block whose instances have several forms: one line per form."""
    lines = []
    for group in groups:
        first = group[0]
        ops = len([n for u in first.units() for n in u.nodes])
        others = f" (and {len(group) - 1} more like it)" if len(group) > 1 else ""
        lines.append(f"  --block {first.path}: {ops} ops{others}")
    return (
        f"block '{name}' has {len(groups)} different forms among its {count} instances; "
        "pick one by its scope:\n" + "\n".join(lines)
    )
