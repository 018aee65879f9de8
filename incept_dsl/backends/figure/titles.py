"""The titles of a figure's boxes and clusters (`Labeler`): a fused unit's paper-style label, a
collapsed block's instance name, a collapsed repeat's contents with its count.
"""

from __future__ import annotations

import re

from incept_dsl.backends.figure.labels import (
    instance_title,
    name_title,
    op_label,
    pretty,
)
from incept_dsl.backends.figure.layout import Figure
from incept_dsl.backends.figure.structure import Container, Unit, is_trivial
from incept_dsl.frontend.signatures import ACTIVATIONS
from incept_dsl.ir.graph import Graph


class Labeler:
    """Titles of the figure's boxes and clusters."""

    def __init__(self, fig: Figure) -> None:
        self.fig = fig
        g = fig.graph
        convs = [n for n in g.nodes("conv")]
        acted = sum(1 for n in convs if _activation(g, n) is not None)
        #: most convs have an activation, so one without is marked "Linear" (as the
        #: Inception-ResNet paper marks its 1×1 projections)
        self.mark_linear = bool(convs) and acted * 2 > len(convs)

    def unit(self, u: Unit) -> str:
        g = self.fig.graph
        op = g.op(u.first)
        text = op_label(op, g.attrs(u.first))
        if op in ("conv", "conv_transpose", "linear"):
            act = next((n for n in u.nodes if g.op(n) in ACTIVATIONS), None)
            if act is not None and g.op(act) != "relu":  # its label: "LeakyReLU 0.2"
                text += f", {op_label(g.op(act), g.attrs(act))}"
            elif act is None and op == "conv" and self.mark_linear:
                text += " Linear"
        return text

    def container(self, c: Container) -> list[str]:
        """The lines of a collapsed block or repeat."""
        if c.kind == "block":
            return [instance_title(c.name, c.block or c.name)]
        if c.kind == "repeat":
            copies = c.copies
            body = copies[0] if copies else c
            lines = self.contents(body)
            name = _repeat_name(c)
            if len(lines) == 1:
                return [(f"{name} · " if name else "") + f"{lines[0]} ×{len(copies)}"]
            return [*([name] if name else []), *lines, f"×{len(copies)}"]
        return [pretty(c.name)]

    def contents(self, c: Container) -> list[str]:
        """One line per child of `c` (at most four, then an ellipsis)."""
        lines: list[str] = []
        for child in c.children:
            if isinstance(child, Unit):
                lines.append(self.unit(child))
            elif child.kind == "block":
                lines.append(
                    self.unit(child.units()[0])
                    if is_trivial(child)
                    else pretty(child.block or child.name)
                )
            else:
                lines.extend(self.contents(child))
        return lines if len(lines) <= 4 else [*lines[:3], "…"]

    def cluster(self, c: Container) -> str:
        if c.kind == "block":
            return instance_title(c.name, c.block or c.name)
        if c.kind == "repeat":
            name = _repeat_name(c)
            return (f"{name} " if name else "") + f"×{len(c.copies)}"
        return ""


def _repeat_name(c: Container) -> str | None:
    """The title of a repeat named with `as` (`repeat(2) { ... } as layer1`: "Layer (1)")."""
    if re.fullmatch(r"repeat(_\w+)?", c.name):  # unnamed, or named just "repeat_a"
        return None
    return name_title(c.name)


def _activation(g: Graph, conv: int) -> str | None:
    """The activation elaboration attached to `conv` (directly, or after its batch norm)."""
    n = conv
    for _ in range(2):
        users = g.users(n)
        if len(users) != 1:
            return None
        n = users[0][0]
        if g.op(n) in ACTIVATIONS:
            return g.op(n)
        if g.op(n) != "batchnorm":
            return None
    return None
