"""merge-sibling-convs: convolutions that read the same tensor with the same geometry become one.

Sibling convs read one tensor with identical kernel, stride, padding and dilation and groups = 1
(the 1×1 reductions of an Inception module are the main case). Two siblings suffice (TVM's
CombineParallelConv2D waits for three, which misses Inception-ResNet's 30 pairs). The element-wise
ops that follow every sibling alike (batch norm with equal eps/momentum, the same activation with
the same attributes, such as a leaky ReLU's slope, the same scale) merge along with them.
Before::

    %11 = conv(%10) {out_channels=64}  # inception_3a.branch_1.conv_1
    %12 = relu(%11)                    # inception_3a.branch_1.conv_1.relu
    %13 = conv(%10) {out_channels=96}  # inception_3a.branch_2.conv_1
    %14 = relu(%13)                    # inception_3a.branch_2.conv_1.relu

After::

    %11 = conv(%10) {out_channels=160} # inception_3a.merged_1.conv   weights: Concat(...)
    %12 = relu(%11)                    # inception_3a.merged_1.relu
    %13 = slice(%12) {start=0, end=64} # inception_3a.branch_1.conv_1.relu
    %14 = slice(%12) {start=64, end=160}  # inception_3a.branch_2.conv_1.relu

Guarantees: the function is unchanged; each slice takes the scope, span and position of the node
whose output it replaces, so readers and heads see the same tensors under the same names; the
merged nodes take the first sibling's span and positions and the scope
`<common parent>.merged_<k>`. Siblings that cannot merge are reported (`--explain`) with the
reason. Returns whether anything was merged.
"""

from __future__ import annotations

from typing import Any

from incept_dsl.frontend.signatures import ACTIVATIONS
from incept_dsl.ir.graph import Graph
from incept_dsl.passes.common import add_like, common_parent, fresh_scope, note, sole_user
from incept_dsl.passes.recipes import Concat, recipe_of, set_recipe
from incept_dsl.text import fmt_shape

#: Ops that may merge along with the convs they follow (per-channel or element-wise).
FOLLOWERS = ("batchnorm", "scale", *ACTIVATIONS)

GEOMETRY = ("kernel", "stride", "padding", "dilation")

#: A conv's geometry attributes, in `GEOMETRY` order.
_Key = tuple[Any, ...]

#: Scope labels of merged nodes, as `conv(bn = true, act = relu)` names its parts.
_LABEL = {"batchnorm": "bn"}


def _key(graph: Graph, conv: int) -> _Key:
    a = graph.attrs(conv)
    return tuple(a[k] for k in GEOMETRY)


def _describe(key: _Key) -> str:
    kernel, stride, padding, dilation = key
    out = f"{fmt_shape(kernel)}"
    if stride != (1, 1):
        out += f" stride {fmt_shape(stride)}"
    out += f" padding {fmt_shape(padding)}"
    if dilation != (1, 1):
        out += f" dilation {fmt_shape(dilation)}"
    return out


def _chain(graph: Graph, conv: int) -> list[int]:
    """`conv` and the element-wise ops that only it feeds, in order."""
    chain = [conv]
    while (nxt := sole_user(graph, chain[-1])) is not None and graph.op(nxt) in FOLLOWERS:
        chain.append(nxt)
    return chain


def _agree(graph: Graph, nodes: list[int]) -> bool:
    """Whether the nodes at one depth of the sibling chains can become one node."""
    if len({graph.op(n) for n in nodes}) != 1:
        return False
    if graph.op(nodes[0]) == "batchnorm":
        return len({(graph.attrs(n)["eps"], graph.attrs(n)["momentum"]) for n in nodes}) == 1
    return len({tuple(graph.attrs(n).items()) for n in nodes}) == 1


def _merge(graph: Graph, src: int, convs: list[int]) -> str:
    key = _key(graph, convs[0])
    chains = [_chain(graph, c) for c in convs]
    depth = 1
    while all(len(ch) > depth for ch in chains) and _agree(graph, [ch[depth] for ch in chains]):
        depth += 1
    base = fresh_scope(graph, common_parent([graph.scope(c) for c in convs]), "merged")
    sizes = [graph.attrs(c)["out_channels"] for c in convs]
    total = sum(sizes)
    prev = src
    made: list[str] = []
    for d in range(depth):
        column = [ch[d] for ch in chains]
        first = column[0]
        op = graph.op(first)
        attrs = dict(graph.attrs(first))
        if op == "conv":
            attrs.update(out_channels=total, bias=any(graph.attrs(c)["bias"] for c in column))
        elif op == "batchnorm":
            attrs.update(num_features=total)
        name = f"{base}.{_LABEL.get(op, op)}"
        if name in made:
            name += f"_{d}"
        prev = add_like(graph, first, op, attrs, [prev], name)
        made.append(name)
        if op in ("conv", "batchnorm"):
            set_recipe(graph, prev, Concat(tuple(recipe_of(graph, n) for n in column)))
    start = 0
    pieces: list[tuple[int, str]] = []
    for ch, size in zip(chains, sizes, strict=True):
        tail = ch[depth - 1]
        piece = add_like(
            graph,
            tail,
            "slice",
            {"start": start, "end": start + size},
            [prev],
            f"{base}.split_{len(pieces) + 1}",
        )
        graph.replace_all_uses_with(tail, piece)
        pieces.append((piece, graph.scope(tail)))
        start += size
    for ch in chains:
        for n in reversed(ch[:depth]):
            graph.erase_node(n)
    for piece, scope in pieces:
        graph.node(piece)["scope"] = scope
    ops = "+".join(name.rsplit(".", 1)[1] for name in made)
    return (
        f"merged {len(convs)} convs ({_describe(key)}) reading {graph.scope(src)} into "
        f"{base} ({ops}, {total} channels): " + ", ".join(scope for _, scope in pieces)
    )


def merge_sibling_convs(graph: Graph) -> bool:
    changed = False
    for src in graph.order():
        if src not in graph:
            continue
        convs = list(dict.fromkeys(u for u, _ in graph.users(src) if graph.op(u) == "conv"))
        if len(convs) < 2:
            continue
        groups: dict[_Key, list[int]] = {}
        for c in convs:
            if graph.attrs(c)["groups"] != 1:
                note(
                    graph,
                    f"not merged: {graph.scope(c)} is a grouped convolution "
                    f"(groups = {graph.attrs(c)['groups']})",
                )
                continue
            groups.setdefault(_key(graph, c), []).append(c)
        for key, members in groups.items():
            if len(members) == 1:
                others = ", ".join(sorted({_describe(k) for k in groups if k != key}))
                note(
                    graph,
                    f"not merged: {graph.scope(members[0])} ({_describe(key)}) reads "
                    f"{graph.scope(src)} with no sibling of the same kernel, stride, "
                    f"padding and dilation" + (f" (siblings: {others})" if others else ""),
                )
                continue
            note(graph, _merge(graph, src, members))
            changed = True
    return changed
