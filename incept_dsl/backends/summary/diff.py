"""A structural comparison of two models (`incept-dsl diff`, `Model.diff`): their totals, the
top-level blocks whose parameters or layers differ, and the layers that differ, with shapes and
parameter counts.

Layers are the IR nodes in graph order (inputs aside), each described by its op, its figure label
(`3×3 Conv, 32 /2`, `BatchNorm`) and its output shape. The main paths of the two models are aligned
by those descriptions alone (`difflib`, longest matching runs first), so that renamed scopes still
line up, and then their aux heads (which graph order interleaves with the main path wherever they
branch off);
where the alignment replaces a run of layers by another, layers of the same op are paired in order
and shown as changed (`~`), the rest as only in the first model (`-`) or only in the second (`+`).
Everything here is a pure function of the two graphs: the same models give the same text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass

import networkx as nx

from incept_dsl.backends.figure.labels import op_label
from incept_dsl.backends.summary.rows import block_key, node_parts
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import macs, param_count
from incept_dsl.text import fmt_shape

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Layer:
    """One IR node as the comparison sees it."""

    scope: str
    op: str
    label: str
    shape: Shape
    params: int
    macs: int
    part: str  # main | aux | unused (`incept_dsl.backends.summary.rows.node_parts`)

    @property
    def key(self) -> tuple[str, str, Shape]:
        """What must agree for two layers to count as the same layer."""
        return (self.op, self.label, self.shape)

    @property
    def block(self) -> str:
        return block_key(self.scope)


def layers(g: Graph) -> list[Layer]:
    """The layers of `g` in graph order, without its inputs; the aux layers sorted by where
    their head leaves the main path (the latest main-path node they read from), then in graph
    order, so that aux heads line up by where they branch off."""
    out = []
    parts = node_parts(g)
    order = {n: i for i, n in enumerate(g.order())}
    for n in sorted(order, key=lambda n: (_branch_point(g, n, parts, order), order[n])):
        op = g.op(n)
        if op == "input":
            continue
        a = g.attrs(n)
        ins = [g.shape(i) for i in g.inputs(n)]
        out.append(
            Layer(
                g.scope(n),
                op,
                op_label(op, a),
                g.shape(n),
                param_count(op, a)[0],
                macs(op, a, ins, g.shape(n)),
                parts[n],
            )
        )
    return out


def _branch_point(g: Graph, n: int, parts: dict[int, str], order: dict[int, int]) -> int:
    """For an aux node, the order of the latest main-path node it reads from; -1 otherwise."""
    if parts[n] != "aux":
        return -1
    main = [order[k] for k in nx.ancestors(g.nx, n) if parts[k] == "main"]
    return max(main, default=-1)


@dataclass(frozen=True)
class Change:
    """One layer of the alignment: `kind` is "=" (in both), "-" (only in the first model), "+"
    (only in the second) or "~" (a layer of the same op that differs); `a`/`b` the layers on
    each side."""

    kind: str
    a: Layer | None
    b: Layer | None


def changes(xs: list[Layer], ys: list[Layer]) -> list[Change]:
    """Every layer of `xs` and `ys` in the order of the alignment (the main paths, then the aux
    heads, then what no head reads): "=" for a layer both have, or the kinds of `Change`."""
    out: list[Change] = []
    for part in ("main", "aux", "unused"):
        out += _align([x for x in xs if x.part == part], [y for y in ys if y.part == part])
    return out


def _align(xs: list[Layer], ys: list[Layer]) -> list[Change]:
    matcher = difflib.SequenceMatcher(None, [x.key for x in xs], [y.key for y in ys], False)
    out: list[Change] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += [Change("=", x, y) for x, y in zip(xs[i1:i2], ys[j1:j2], strict=True)]
        else:
            out += _pair_run(xs[i1:i2], ys[j1:j2])
    return out


def block_pairs(diff: list[Change]) -> dict[str, str]:
    """Each top-level block of the first model -> the block of the second that holds most of
    the layers paired with its own (so that `inception_3a` meets `inception3a`)."""
    votes: dict[str, dict[str, int]] = {}
    for c in diff:
        if c.a is not None and c.b is not None:
            tally = votes.setdefault(c.a.block, {})
            tally[c.b.block] = tally.get(c.b.block, 0) + 1
    return {a: max(t, key=lambda b: (t[b], b == a)) for a, t in votes.items()}


def _pair_run(xs: list[Layer], ys: list[Layer]) -> Iterator[Change]:
    """A replaced run: layers of the same op paired in order as changed, the rest removed or
    added, in the order they stand."""
    j = 0
    for x in xs:
        k = next((k for k in range(j, len(ys)) if ys[k].op == x.op), None)
        if k is None:
            yield Change("-", x, None)
            continue
        yield from (Change("+", None, y) for y in ys[j:k])
        yield Change("~", x, ys[k])
        j = k + 1
    yield from (Change("+", None, y) for y in ys[j:])


def _signed(n: int) -> str:
    return f"{n:+,}" if n else "0"


def _ratio(a: int, b: int) -> str:
    return f" ({(b - a) / a:+.1%})" if a and a != b else ""


def _totals(names: tuple[str, str], xs: list[Layer], ys: list[Layer]) -> list[str]:
    rows = [
        ("layers", len(xs), len(ys)),
        ("params", sum(x.params for x in xs), sum(y.params for y in ys)),
        ("MACs", sum(x.macs for x in xs), sum(y.macs for y in ys)),
    ]
    width = max(16, *(len(n) + 2 for n in names))
    lines = [f"{'':10}{names[0]:>{width}}{names[1]:>{width}}  change"]
    for what, a, b in rows:
        lines.append(f"{what:10}{a:>{width},}{b:>{width},}  {_signed(b - a)}{_ratio(a, b)}")
    return lines


def _blocks(diff: list[Change]) -> list[str]:
    """One line per block (paired across the models by `block_pairs`) with a changed, removed or
    added layer: its name on each side, its parameters on each side, what changed."""
    pairs = block_pairs(diff)
    back = {b: a for a, b in pairs.items()}
    rows: dict[tuple[str, str], list[int]] = {}  # (block in A, in B) -> params A, B, ~, -, +
    for c in diff:
        if c.a is not None:
            key = (c.a.block, pairs.get(c.a.block, ""))
        else:
            assert c.b is not None
            key = (back.get(c.b.block, ""), c.b.block)
        row = rows.setdefault(key, [0, 0, 0, 0, 0])
        row[0] += c.a.params if c.a is not None else 0
        row[1] += c.b.params if c.b is not None and (c.a is None or c.a.block == key[0]) else 0
        if c.kind != "=":
            row[2 + "~-+".index(c.kind)] += 1
    lines = []
    for (a, b), (pa, pb, changed, removed, added) in rows.items():
        if not changed + removed + added:
            continue
        name = a if a == b or not b else b if not a else f"{a} / {b}"
        what = ", ".join(
            f"{n} {word}"
            for n, word in ((changed, "changed"), (removed, "removed"), (added, "added"))
            if n
        )
        lines.append(f"  {name:32} {pa:>12,} -> {pb:>12,}  {_signed(pb - pa):>11}   {what}")
    return lines


def _describe(layer: Layer) -> str:
    return f"{layer.label}  {fmt_shape(layer.shape)}"


def _layer_line(c: Change) -> str:
    if c.kind == "~":
        assert c.a is not None and c.b is not None
        where = c.a.scope if c.a.scope == c.b.scope else f"{c.a.scope} / {c.b.scope}"
        params = f"params {c.a.params:,} -> {c.b.params:,}" if c.a.params != c.b.params else ""
        return f"  ~ {where}: {_describe(c.a)} -> {_describe(c.b)}" + (
            f"  ({params})" if params else ""
        )
    layer = c.a if c.kind == "-" else c.b
    assert layer is not None
    params = f"  ({c.kind}{layer.params:,} params)" if layer.params else ""
    return f"  {c.kind} {layer.scope}: {_describe(layer)}{params}"


def diff_text(a: Graph, b: Graph, names: tuple[str, str]) -> str:
    """The comparison of graph `a` (called `names[0]`) with graph `b` (`names[1]`) as text: the
    totals, the blocks that differ and the layers that differ; "no structural difference" when
    every layer agrees."""
    xs, ys = layers(a), layers(b)
    diff = changes(xs, ys)
    differ = [c for c in diff if c.kind != "="]
    lines = [f"{names[0]} vs {names[1]}", "", *_totals(names, xs, ys), ""]
    if not differ:
        return "\n".join([*lines, "no structural difference: every layer agrees"]) + "\n"
    lines += [
        "blocks that differ (params in the first -> in the second):",
        *_blocks(diff),
        "",
        "layers that differ (- only in the first, + only in the second, ~ changed):",
        *(_layer_line(c) for c in differ),
    ]
    return "\n".join(lines) + "\n"
