"""PyTorch backend, one unit's code: the `__init__` and `forward` lines of a unit (`units.Unit`),
with each number that may differ between instances of its class left as a slot (`slots`).

`__init__` registers the unit's modules in the flat module's registration order (so every
state_dict key and the state_dict's order stay as they were): containers as `nn.Module()` (or
`nn.ModuleList` of repeat copies), child units as instances of their classes. `forward` runs the
unit's items (nodes and child units) in order, one statement each, and frees each tensor after its
last use there: a chain reuses its local (`out = self.conv_2.conv(out)`), other tensors are
`del`eted, and the unit's own inputs are left to its caller.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from incept_dsl.backends.pytext import comment_text
from incept_dsl.backends.torch.frees import frame_frees, in_place
from incept_dsl.backends.torch.lowering import LOWER, attr_path
from incept_dsl.backends.torch.naming import TensorNames
from incept_dsl.backends.torch.slots import Slot, renumber, slotted
from incept_dsl.backends.torch.units import Unit, item_reads
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import WEIGHTED
from incept_dsl.text import fmt_shape

_AUTO = re.compile(r"^[A-Za-z]+(_[A-Za-z]+)*_\d+$|^\d+$")


@dataclass
class Code:
    """A unit's lines, with `slots` numbered in order through `init` and then `forward`."""

    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)
    srcs: list[str] = field(default_factory=list)  # per slot: its node's source line
    where: list[str] = field(default_factory=list)  # per slot: "init" or "forward"

    def add(self, lines: list[str], part: str, text: str, slots: list[Slot], src: str) -> None:
        lines.append(renumber(text, len(self.slots)))
        self.slots += slots
        self.srcs += [src] * len(slots)
        self.where += [part] * len(slots)


@dataclass
class Context:
    """What rendering needs besides the unit: the graph, the registration order, the repeat
    containers' sizes, the roles, and how a child unit is constructed (`child_ctor`)."""

    graph: Graph
    registration: list[int]
    containers: dict[str, int]
    roles: dict[int, str]
    child_ctor: Callable[[Unit], str]
    positional: dict[str, tuple[str, ...]]
    reserved: set[str]
    slot_numbers: bool = True  # False for the model's own class: numbers stay literals


@functools.lru_cache(maxsize=64)
def _lines(path: str) -> tuple[str, ...]:
    """The lines of the file at `path` exactly (no search path), none when it cannot be read."""
    try:
        return tuple(Path(path).read_text(encoding="utf-8").splitlines())
    except (OSError, ValueError):  # missing, unreadable, a NUL in the name, not UTF-8
        return ()


def source_line(graph: Graph, n: int) -> str:
    """The source line of node `n` (empty when unknown); it only guides which parameter names a
    number, and never reaches the generated code."""
    span = graph.span(n)
    lines = _lines(span.file) if span and Path(span.file).is_absolute() else ()
    return lines[span.line - 1] + "\n" if span and 0 < span.line <= len(lines) else ""


def _where(graph: Graph, n: int) -> str:
    span = graph.span(n)
    return f"{comment_text(span.file.split('/')[-1])}:{span.line}" if span else ""


def _emit(code: Code, lines: list[str], part: str, text: str, ctx: Context, src: str) -> None:
    if ctx.slot_numbers:
        target, rhs = text.split(" = ", 1)
        body, slots = slotted(rhs, ctx.positional)
        code.add(lines, part, f"{target} = {body}", slots, src)
    else:
        lines.append(text)


def render_init(u: Unit, ctx: Context, code: Code) -> None:
    """`u`'s module registrations into `code.init`."""
    g = ctx.graph
    children = {c.scope: c for c in u.children}
    declared: set[str] = set()
    for n in ctx.registration:
        if n not in u.subtree or g.op(n) not in WEIGHTED:
            continue
        parts = u.rel(g.scope(n)).split(".")
        done = False
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            full = f"{u.scope}.{prefix}" if u.scope else prefix
            if full in children:
                if prefix not in declared:
                    declared.add(prefix)
                    child = children[full]
                    text = f"{attr_path(prefix)} = {ctx.child_ctor(child)}"
                    _emit(code, code.init, "init", text, ctx, _subtree_source(g, child))
                done = True
                break
            if parts[i].isdigit() and f"{full}.{parts[i]}" in children:
                if prefix not in declared:
                    declared.add(prefix)
                    copies = [children[f"{full}.{k}"] for k in range(ctx.containers[full])]
                    ctors = ", ".join(ctx.child_ctor(c) for c in copies)
                    text = f"{attr_path(prefix)} = nn.ModuleList([{ctors}])"
                    _emit(code, code.init, "init", text, ctx, "")
                done = True
                break
            if prefix in declared or parts[i - 1].isdigit():
                continue
            declared.add(prefix)
            size = ctx.containers[full]
            ctor = f"nn.ModuleList([nn.Module() for _ in range({size})])" if size else "nn.Module()"
            code.init.append(f"{attr_path(prefix)} = {ctor}")
        if not done:
            lowered, _ = LOWER[g.op(n)](g.attrs(n), g.shape(n), ["x"], "")
            text = f"{attr_path(u.rel(g.scope(n)))} = {lowered}"
            _emit(code, code.init, "init", text, ctx, source_line(g, n))
            code.init[-1] += f"  # {_where(g, n)}" if _where(g, n) else ""


def _subtree_source(g: Graph, u: Unit) -> str:
    """The source lines of `u`'s nodes, each once, in node order."""
    return "".join(dict.fromkeys(source_line(g, n) for n in sorted(u.subtree)))


def _writes(item: int | Unit) -> list[int]:
    return list(item.outputs) if isinstance(item, Unit) else [item]


def _base(u: Unit, g: Graph, item: int | Unit, default: str) -> str:
    scope = item.scope if isinstance(item, Unit) else g.scope(item)
    first = u.rel(scope).split(".")[0]
    stem = first.rsplit("_", 1)[0]
    auto = _AUTO.match(first) and (stem in LOWER or stem in _blocks(g) or stem == "repeat")
    return default if auto or first.isdigit() else first


def _blocks(g: Graph) -> set[str]:
    return {b for b in g.data.get("blocks", {}).values() if isinstance(b, str)}


@dataclass
class Forward:
    """The state of one `forward` being written: its locals and what they hold."""

    var: dict[int, str]
    params: set[str]
    names: TensorNames
    labels: dict[int, str] = field(default_factory=dict)  # a fresh local for a node: this name
    last_where: str = ""


def _call(u: Unit, g: Graph, item: int | Unit, ins: list[str]) -> tuple[str, int]:
    """(the expression computing `item` from the locals `ins`, the node it is located by)."""
    if isinstance(item, Unit):
        first = min(item.subtree, key=item.subtree_position.__getitem__)
        return f"{attr_path(u.rel(item.scope))}({', '.join(ins)})", first
    lowered = LOWER[g.op(item)](g.attrs(item), g.shape(item), ins, attr_path(u.rel(g.scope(item))))
    return lowered[1], item


def _out_names(
    u: Unit, g: Graph, item: int | Unit, fwd: Forward, dying: list[int], default: str
) -> list[str]:
    """The locals `item`'s outputs take: its first input's when that dies here (the chain goes
    on in it; removed from `dying`), else fresh ones named after the item's scope."""
    reads = item_reads(g, item)
    names: list[str] = []
    chain = next((t for t in reads if t in dying), None)
    for k, o in enumerate(_writes(item)):
        if k == 0 and chain is not None:
            names.append(fwd.var[chain])
            dying.remove(chain)
        elif o in fwd.labels:
            names.append(fwd.names.fresh(fwd.labels[o]))
        elif default == "x" and reads and fwd.var[reads[0]] in fwd.params:
            names.append(fwd.names.fresh("x"))
        else:
            names.append(fwd.names.fresh(_base(u, g, item, default)))
        fwd.var[o] = names[-1]
    return names


def _loop(code: Code, u: Unit, seq: Unit, name: str, src: str, block: str) -> None:
    """A repeat's copies run one after the other, each input freed when the next copy returns
    (as a chain of statements frees it; calling the `nn.Sequential` would hold its input)."""
    if name != src:
        code.forward.append(f"{name} = {src}")
    code.forward.append(f"for {block} in {attr_path(u.rel(seq.scope))}:")
    code.forward.append(f"    {name} = {block}({name})")


def render_forward(
    u: Unit,
    ctx: Context,
    code: Code,
    items: list[int | Unit],
    fwd: Forward,
    keep: set[int],
    default: str,
    frees: bool = True,
) -> None:
    """Statements for `items` of `u` into `code.forward`; with `frees`, each tensor not in `keep`
    is released after its last use among `items` (a reused local, or `del`). The model's class
    (`ctx.slot_numbers` false) comments each statement with its shape, a block's class with its
    source line where it changes."""
    g = ctx.graph
    held = keep | {t for t, v in fwd.var.items() if v in fwd.params}
    dies = frame_frees([item_reads(g, i) for i in items], held) if frees else [[] for _ in items]
    for j, item in enumerate(items):
        every = item.inputs if isinstance(item, Unit) else g.inputs(item)  # repeats included
        expr, node = _call(u, g, item, [fwd.var[t] for t in every])
        dying = list(dies[j])
        inplace = not isinstance(item, Unit) and in_place(g, item, dying)
        names = ", ".join(_out_names(u, g, item, fwd, dying, default))
        if inplace:
            expr = expr[:-1] + ", inplace=True)"
        where = _where(g, node)
        if isinstance(item, Unit) and item.sequence:
            _loop(code, u, item, names, fwd.var[item.inputs[0]], fwd.names.fresh("block"))
        elif not ctx.slot_numbers:
            note = "  # " + ", ".join(fmt_shape(g.shape(o)) for o in _writes(item))
            code.forward.append(f"{names} = {expr}{note}")
        else:
            note = f"  # {where}" if where and where != fwd.last_where else ""
            body, slots = slotted(expr, ctx.positional)
            code.add(code.forward, "forward", f"{names} = {body}", slots, source_line(g, node))
            code.forward[-1] += note
        fwd.last_where = where
        gone = sorted(fwd.var[t] for t in dying)
        if gone:
            code.forward.append("del " + ", ".join(gone))
