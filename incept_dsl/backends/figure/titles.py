"""The titles of a figure's boxes and clusters (`Labeler`): a fused unit's paper-style label, a
collapsed block's instance name, a collapsed repeat's contents with its count.

Names are shown as written in the source (`enc1`, `aspp`, `inception_3a`); a display name given
with `ELEMENT as NAME "Display Name"` (`graph.data["display_names"]`, keyed by scope path) is
shown instead. An unnamed block instance (`inception_2`) is titled by its block's name.
"""

from __future__ import annotations

import re

from incept_dsl.backends.figure.labels import instance_title, op_label
from incept_dsl.backends.figure.layout import Figure
from incept_dsl.backends.figure.options import FigureOptions
from incept_dsl.backends.figure.structure import Container, Unit, is_trivial
from incept_dsl.backends.figure.wording import NO_ACT, concat_word
from incept_dsl.frontend.signatures import ACTIVATIONS
from incept_dsl.ir.graph import Graph


class Labeler:
    """Titles of the figure's boxes and clusters."""

    def __init__(self, fig: Figure, options: FigureOptions | None = None) -> None:
        self.fig = fig
        g = fig.graph
        self.options = options or FigureOptions()
        self.display: dict[str, str] = dict(g.data.get("display_names", {}))
        block = fig.top.container.block if fig.view == "block" else None
        self.concat = concat_word(g, block)
        convs = [n for n in g.nodes("conv")]
        acted = sum(1 for n in convs if _activation(g, n) is not None)
        #: most convs have an activation, so one without is marked "(no act.)" (the
        #: Inception-ResNet paper's "Linear")
        self.mark_linear = bool(convs) and acted * 2 > len(convs)

    def unit(self, u: Unit) -> str:
        """A fused unit's label: the op's, with its batch norm and activation as `wording` says."""
        g = self.fig.graph
        op = g.op(u.first)
        text = self.concat if op == "concat" else op_label(op, g.attrs(u.first))
        if op not in ("conv", "conv_transpose", "linear"):
            return text
        act = next((n for n in u.nodes if g.op(n) in ACTIVATIONS), None)
        if self.options.show_norm_act:
            if any(g.op(n) == "batchnorm" for n in u.nodes):
                text += " + BN"
            if act is not None:
                text += f" + {op_label(g.op(act), g.attrs(act))}"
        elif act is not None and g.op(act) != "relu":  # its label: "LeakyReLU 0.2"
            text += f", {op_label(g.op(act), g.attrs(act))}"
        elif act is None and op == "conv" and self.mark_linear:
            text += NO_ACT
        return text

    def title(self, c: Container) -> str:
        """A block, repeat or group as written (or its display name): an unnamed block
        instance by its block's name."""
        if c.path in self.display:
            return self.display[c.path]
        if c.kind == "block" and c.block:
            return instance_title(c.name, c.block)
        return c.name

    def container(self, c: Container) -> list[str]:
        """The lines of a collapsed block or repeat."""
        if c.kind == "block":
            return [self.title(c)]
        if c.kind == "repeat":
            copies = c.copies
            body = copies[0] if copies else c
            lines = self.contents(body)
            name = self._repeat_name(c)
            if len(lines) == 1:
                return [(f"{name} · " if name else "") + f"{lines[0]} ×{len(copies)}"]
            return [*([name] if name else []), *lines, f"×{len(copies)}"]
        return [self.title(c)]

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
                    else self.display.get(child.path, child.block or child.name)
                )
            else:
                lines.extend(self.contents(child))
        return lines if len(lines) <= 4 else [*lines[:3], "…"]

    def cluster(self, c: Container) -> str:
        if c.kind == "block":
            return self.title(c)
        if c.kind == "repeat":
            name = self._repeat_name(c)
            return (f"{name} " if name else "") + f"×{len(c.copies)}"
        return ""

    def _repeat_name(self, c: Container) -> str | None:
        """The title of a repeat named with `as` (`repeat(2) { ... } as layer1`: "layer1")."""
        if c.path in self.display:
            return self.display[c.path]
        if re.fullmatch(r"repeat(_\d+)?", c.name):  # unnamed
            return None
        return c.name


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
