"""PyTorch backend, block classes: one `nn.Module` class per block definition (and per repeat
body), shared by every application whose code has the same structure, its constructor taking the
block's parameters.

`Classes(graph, ...)` renders each unit (`render`) twice: first with child units named by their
class only, which groups instances of the same structure into one class, then with the children's
constructor arguments. Each number of a class's code that is a slot (`slots`) becomes, in every
instance alike, one of the block's parameters (or `in_channels`), a literal where it never
changes, or an extra constructor parameter named after the argument it is. A number used by
`forward` is kept on the module (`self.p = p`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from incept_dsl.backends.fresh_names import first_free
from incept_dsl.backends.pytext import BUILTIN_NAMES, docstring_text, is_plain_identifier
from incept_dsl.backends.torch.lowering import pyval
from incept_dsl.backends.torch.naming import MODULE_GLOBALS, TensorNames, class_name
from incept_dsl.backends.torch.render import Code, Context, Forward, render_forward, render_init
from incept_dsl.backends.torch.slots import POSITIONAL, fill, hint, resolve, same
from incept_dsl.backends.torch.units import Unit, sequence

#: Names a constructor parameter must not take (it would hide what the class's code uses).
_RESERVED = {"self", "in_channels", "torch", "nn", "F", "NamedTuple", "super"}
#: Attributes of every nn.Module that a stored number must not replace.
_MODULE_ATTRS = {"training", "forward", "eval", "train", "to", "cuda", "cpu", "modules", "apply"}


@dataclass
class Cls:
    """One generated class: its instances and, once resolved, its parameters and source."""

    name: str
    block: str | None
    instances: list[Unit] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    args: dict[int, list[Any]] = field(default_factory=dict)  # id(instance) -> argument values
    source: str = ""


class Classes:
    """The block classes of one graph's units (`units.unit_tree`)."""

    def __init__(self, ctx: Context, root: Unit, taken: set[str]) -> None:
        self.ctx = ctx
        self.taken = set(taken)
        self.by_key: dict[str, Cls] = {}
        self.of: dict[int, Cls] = {}
        self.order: list[Cls] = []  # children before parents
        self.preorder: list[Cls] = []
        self.sig: dict[int, tuple] = {}
        for u in _postorder(root):
            if u is not root:
                self._group(u)
        for cls in self.order:
            self._resolve(cls)
        for u in _preorder(root):
            if id(u) in self.of and self.of[id(u)] not in self.preorder:
                self.preorder.append(self.of[id(u)])

    # ---- grouping
    def _group(self, u: Unit) -> None:
        self._collapse(u)
        code = self._render(u, keyed=True)
        key = f"{u.block}\n{len(u.inputs)}>{len(u.outputs)}\n" + "\n".join(
            code.init + ["--"] + code.forward
        )
        key = re.sub("\x00\\d+\x00", "#", key)
        values = tuple(repr(s.value) for s in code.slots)
        self.sig[id(u)] = (key, values, tuple(self.sig[id(c)] for c in u.instances))
        cls = self.by_key.get(key)
        if cls is None:
            cls = Cls(self._name(u), u.block)
            self.by_key[key] = cls
            self.order.append(cls)
        cls.instances.append(u)
        self.of[id(u)] = cls

    def _collapse(self, u: Unit) -> None:
        """Each repeat whose copies are the same module (same class and arguments) and form a
        chain becomes one `nn.Sequential` item of `u`."""
        containers: dict[str, list[Unit]] = {}
        for c in u.children:
            if c.block is None and c.scope.rsplit(".", 1)[-1].isdigit():
                containers.setdefault(c.scope.rsplit(".", 1)[0], []).append(c)
        for copies in containers.values():
            copies.sort(key=lambda c: int(c.scope.rsplit(".", 1)[-1]))
            if len({self.sig[id(c)] for c in copies}) == 1:
                sequence(self.ctx.graph, u, copies)

    def _name(self, u: Unit) -> str:
        if u.block is not None:
            base = class_name(u.block)
        else:
            kids = [self.of[id(c)].name for c in u.instances]
            base = (kids[0] if len(kids) == 1 else class_name(u.scope.split(".")[-2])) + "Step"
        name = first_free(base, self.taken, sep="")
        self.taken.add(name)
        return name

    def _child_ctor(self, keyed: bool) -> Callable[[Unit], str]:
        """How `__init__` constructs a child unit: its class, with its arguments unless `keyed`
        (grouping by structure), or an `nn.Sequential` of a repeat's identical copies."""

        def ctor(c: Unit) -> str:
            if c.sequence:
                body = ctor(c.children[0])
                return f"nn.Sequential(*({body} for _ in range({len(c.items)})))"
            cls = self.of[id(c)]
            if keyed:
                return f"{cls.name}()"
            return f"{cls.name}({', '.join(pyval(v) for v in cls.args[id(c)])})"

        return ctor

    def _render(self, u: Unit, keyed: bool) -> Code:
        ctx = Context(
            self.ctx.graph,
            self.ctx.registration,
            self.ctx.containers,
            self.ctx.roles,
            self._child_ctor(keyed),
            {**POSITIONAL, **{c.name: tuple(c.params) for c in self.order}},
            self.ctx.reserved | self.taken,
        )
        code = Code()
        render_init(u, ctx, code)
        params = ["x"] if len(u.inputs) == 1 else [f"x{i + 1}" for i in range(len(u.inputs))]
        names = TensorNames(self.ctx.reserved | self.taken | set(params))
        fwd = Forward(dict(zip(u.inputs, params, strict=True)), set(params), names)
        render_forward(u, ctx, code, u.items, fwd, set(u.outputs), "out")
        outs = [fwd.var[o] for o in u.outputs]
        code.forward.append(f"return {', '.join(outs)}")
        _inline_return(code.forward)
        args = ", ".join(f"{p}: torch.Tensor" for p in params)
        code.forward.insert(
            0,
            f"def forward(self, {args}) -> torch.Tensor:"
            if len(u.outputs) == 1
            else f"def forward(self, {args}):",
        )
        return code

    # ---- parameters
    def _resolve(self, cls: Cls) -> None:
        codes = [self._render(u, keyed=False) for u in cls.instances]
        first = codes[0]
        params = self._candidates(cls)
        exprs: list[str] = []
        used: set[str] = set()
        extras: dict[str, list[Any]] = {}
        stored: set[str] = set()
        attrs = {line.split(" = ")[0].split(".")[1].split("[")[0] for line in first.init}
        for k, slot in enumerate(first.slots):
            values = [c.slots[k].value for c in codes]
            expr, p = resolve(slot.name, values, first.srcs[k], params)
            if expr is None and all(same(v, values[0]) for v in values):
                exprs.append(pyval(values[0]))
                continue
            if expr is None:
                p = _fresh(slot.name, set(params) | set(extras) | _RESERVED | attrs)
                extras[p] = values
                expr = p
            used.add(p or "")
            if first.where[k] == "forward":
                stored.add(p or "")
                expr = re.sub(rf"\b{p}\b", f"self.{_attr(p or '', attrs)}", expr)
            exprs.append(expr)
        order = [p for p in params if p in used] + list(extras)
        cls.params = order
        allp = {**params, **extras}
        for i, u in enumerate(cls.instances):
            cls.args[id(u)] = [allp[p][i] for p in order]
        hints = {p: hint(allp[p]) for p in order}
        self._source(cls, codes[0], exprs, hints, sorted(stored), attrs)

    def _candidates(self, cls: Cls) -> dict[str, list[Any]]:
        g = self.ctx.graph
        out: dict[str, list[Any]] = {}
        chans = [
            g.shape(u.inputs[0])[0] if u.inputs and g.shape(u.inputs[0]) else None
            for u in cls.instances
        ]
        if all(isinstance(c, int) for c in chans):
            out["in_channels"] = chans
        args = [g.data.get("block_args", {}).get(u.scope, {}) for u in cls.instances]
        for p in args[0]:
            vals = [a.get(p) for a in args]
            if _valid_param(p) and all(_numeric(v) for v in vals):
                out[p] = vals
        return out

    def _source(
        self,
        cls: Cls,
        code: Code,
        exprs: list[str],
        hints: dict[str, str],
        stored: list[str],
        attrs: set[str],
    ) -> None:
        sig = ", ".join(["self", *(f"{p}: {hints[p]}" for p in cls.params)])
        what = f"Block `{docstring_text(cls.block)}`" if cls.block else "One copy of a repeat body"
        scopes = [u.scope for u in cls.instances]
        shown = ", ".join(scopes[:4]) + (f" and {len(scopes) - 4} more" if len(scopes) > 4 else "")
        lines = [
            f"class {cls.name}(nn.Module):",
            f'    """{what}: {docstring_text(shown)}."""',
            "",
            f"    def __init__({sig}) -> None:",
            "        super().__init__()",
            *(f"        self.{_attr(p, attrs)} = {p}" for p in stored),
            *(f"        {fill(line, exprs)}" for line in code.init),
            "",
            f"    {code.forward[0]}",
            *(f"        {fill(line, exprs)}" for line in code.forward[1:]),
        ]
        cls.source = "\n".join(lines)


def _inline_return(lines: list[str]) -> None:
    """`out = expr` then `return out` -> `return expr` (the same tensors live either way)."""
    if len(lines) >= 3 and lines[-2].startswith("del "):
        del lines[-2]  # every local dies at the return anyway
    if len(lines) < 2:
        return
    m = re.match(r"^return (\w+)$", lines[-1])
    prev = lines[-2].split("  # ")[0]
    if m and prev.startswith(m.group(1) + " = ") and not prev.startswith("del "):
        comment = lines[-2][len(prev) :]
        lines[-2:] = [f"return {prev[len(m.group(1)) + 3 :]}{comment}"]


def _attr(p: str, attrs: set[str]) -> str:
    return p + "_value" if p in attrs or p in _MODULE_ATTRS else p


def _fresh(base: str, taken: set[str]) -> str:
    base = base if _valid_param(base) else (base + "_2" if base.isidentifier() else "arg")
    return first_free(base, taken)


def _valid_param(p: str) -> bool:
    return (
        is_plain_identifier(p)
        and p not in BUILTIN_NAMES
        and p not in MODULE_GLOBALS
        and p not in _RESERVED
        and not re.match(r"^x\d*$|^out$", p)
    )


def _numeric(v: Any) -> bool:
    if isinstance(v, tuple):
        return bool(v) and all(_numeric(x) for x in v)
    return isinstance(v, int | float) and not isinstance(v, bool)


def _postorder(u: Unit) -> list[Unit]:
    out: list[Unit] = []
    for c in u.children:
        out += _postorder(c)
    return [*out, u]


def _preorder(u: Unit) -> list[Unit]:
    out = [u]
    for c in u.children:
        out += _preorder(c)
    return out
