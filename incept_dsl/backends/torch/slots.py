"""PyTorch backend, constructor arguments of shared classes: the numbers of a layer's constructor
(or a forward expression) that differ between the instances of one class become slots, and each
slot is written as the class's parameter whose value it equals in every instance.

`slotted(text)` replaces each number or tuple of numbers that is an argument of a call (or an
operand of an arithmetic operator) by a placeholder `\\x00k\\x00` and returns the values and the
names of the arguments they were (`kernel_size`, `out_channels`, a class's parameter name).
`resolve` picks the expression for one slot. Every expression is a validated identifier, a
simple product or difference of one and a literal, or a `pyval` literal.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from incept_dsl.backends.torch.lowering import pyval

#: Positional parameter names of the constructors the lowering writes.
POSITIONAL: dict[str, tuple[str, ...]] = {
    "nn.Conv2d": ("in_channels", "out_channels"),
    "nn.ConvTranspose2d": ("in_channels", "out_channels"),
    "nn.BatchNorm2d": ("num_features",),
    "nn.BatchNorm1d": ("num_features",),
    "nn.Linear": ("in_features", "out_features"),
    "nn.GroupNorm": ("num_groups", "num_channels"),
    "nn.LayerNorm": ("normalized_shape",),
    "nn.MultiheadAttention": ("embed_dim", "num_heads"),
    "F.max_pool2d": ("input", "kernel_size", "stride", "padding"),
    "F.avg_pool2d": ("input", "kernel_size", "stride", "padding"),
    "F.adaptive_avg_pool2d": ("input", "output_size"),
    "F.dropout": ("input", "p"),
    "F.leaky_relu": ("input", "negative_slope"),
    "F.local_response_norm": ("input", "size"),
    "range": ("repeats",),
}
_MARK = re.compile("\x00(\\d+)\x00")


@dataclass
class Slot:
    name: str  # the argument it was
    value: Any


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _literal(node: ast.expr) -> Any:
    """The number or tuple of numbers `node` spells, else None."""
    if isinstance(node, ast.Constant) and _number(node.value):
        return node.value
    if isinstance(node, ast.Tuple) and node.elts:
        vals = [_literal(e) for e in node.elts]
        if all(_number(v) for v in vals):
            return tuple(vals)
    return None


def slotted(text: str, positional: dict[str, tuple[str, ...]]) -> tuple[str, list[Slot]]:
    """`text` (one Python expression) with its argument numbers replaced by placeholders."""
    tree = ast.parse(text, mode="eval")
    slots: list[Slot] = []

    def take(node: ast.expr, name: str) -> ast.expr:
        value = _literal(node)
        if value is None:
            return node
        slots.append(Slot(name, value))
        return ast.Name(id=f"SLOT{len(slots) - 1}X", ctx=ast.Load())

    class Walk(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> ast.AST:
            self.generic_visit(node)
            names = positional.get(ast.unparse(node.func), ())
            node.args = [
                take(a, names[i] if i < len(names) else f"arg{i}") for i, a in enumerate(node.args)
            ]
            for kw in node.keywords:
                kw.value = take(kw.value, kw.arg or "kwargs")
            return node

        def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
            self.generic_visit(node)
            node.right = take(node.right, "factor")
            return node

    out = ast.unparse(Walk().visit(tree))
    return re.sub(r"SLOT(\d+)X", lambda m: f"\x00{m.group(1)}\x00", out), slots


def fill(text: str, exprs: list[str], offset: int = 0) -> str:
    """`text` with placeholder k replaced by `exprs[k - offset]`."""
    return _MARK.sub(lambda m: exprs[int(m.group(1)) - offset], text)


def renumber(text: str, offset: int) -> str:
    """`text` with each placeholder number raised by `offset`."""
    return _MARK.sub(lambda m: f"\x00{int(m.group(1)) + offset}\x00", text)


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types (1 is not 1.0 nor True), tuples elementwise."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and a == b


def _written(values: list[Any], src: str) -> bool:
    """Whether the source line writes the (constant) value as a number: then it is a literal."""
    v = values[0]
    return isinstance(v, int) and re.search(rf"(?<![\w.]){v}(?![\w.])", src) is not None


def _derived(p: str, pvals: list[Any], values: list[Any], src: str, varies: bool) -> str | None:
    """`k * p`, `p * k`, `p - k` or `p + k` as the source text writes it (`p - 1` and `p + 1` also
    when the values vary), when it gives `values`."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in pvals):
        return None
    forms = [
        (rf"\b(\d+)\s*\*\s*{p}\b", lambda k, v: k * v, "{k} * {p}"),
        (rf"\b{p}\s*\*\s*(\d+)\b", lambda k, v: v * k, "{p} * {k}"),
        (rf"\b{p}\s*-\s*(\d+)\b", lambda k, v: v - k, "{p} - {k}"),
        (rf"\b{p}\s*\+\s*(\d+)\b", lambda k, v: v + k, "{p} + {k}"),
    ]
    for pattern, fn, form in forms:
        written = [int(m.group(1)) for m in re.finditer(pattern, src)]
        for k in written + ([1] if varies and "*" not in form else []):
            if all(same(fn(k, pv), v) for pv, v in zip(pvals, values, strict=True)):
                return form.format(k=k, p=p)
    return None


def resolve(
    slot: str, values: list[Any], src: str, params: dict[str, list[Any]]
) -> tuple[str | None, str | None]:
    """(the expression over `params` (name -> value per instance) for a slot holding `values`
    per instance, the parameter it uses); (None, None) when no parameter gives it.

    A parameter is taken when it equals the values in every instance and either the values vary,
    or the parameter is named like the slot, or the source line `src` names it."""
    varies = any(not same(v, values[0]) for v in values)
    named: list[str] = []
    for p, pvals in params.items():
        cells, tup = values, "()"
        width = len(values[0]) if isinstance(values[0], tuple) else 0
        if width and all(
            isinstance(v, tuple) and len(v) == width and len(set(v)) == 1 for v in values
        ):
            cells = [v[0] for v in values]  # (k, k) from k
            tup = "(" + ", ".join([p] * width) + ("," if width == 1 else "") + ")"
        for form, vals in ((p, values), (tup, cells))[: 2 if tup != "()" else 1]:
            if all(same(a, b) for a, b in zip(pvals, vals, strict=True)):
                if isinstance(values[0], tuple) and form == p and not isinstance(pvals[0], tuple):
                    continue
                if varies or p == slot or (re.search(rf"\b{p}\b", src) and not _written(vals, src)):
                    named.append(form)
    if named:
        named.sort(key=lambda f: not re.search(rf"\b{f.strip('()').split(',')[0]}\b", src))
        return named[0], named[0].strip("()").split(",")[0]
    for p, pvals in params.items():
        expr = _derived(p, pvals, values, src, varies)
        if expr is not None:
            return expr, p
    return None, None


def literal(value: Any) -> str:
    return pyval(value)


def hint(values: list[Any]) -> str:
    """The type annotation of a parameter holding `values`."""
    if all(isinstance(v, tuple) for v in values):
        return "tuple[int, ...]" if all(isinstance(x, int) for v in values for x in v) else "tuple"
    if all(isinstance(v, int) for v in values):
        return "int"
    return "float"
