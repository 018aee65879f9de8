"""select-kernels: choose the PyTorch kernels for inference (-O2); the function is unchanged.

- Every convolution runs as one oneDNN convolution on weights packed once for the CPU (packing
  costs a reorder of every filter on every call otherwise), with the activation that follows it
  fused in when the conv's output has no other reader: ``meta["kernel"] = "onednn"`` and
  ``meta["fused_act"] = "relu"`` on the conv, ``meta["fused_into"] = <conv>`` on the activation,
  which then costs nothing. (The generated `FusedConv2d` decides per call where another kernel
  is faster: a single pixel, and on an AVX2-only CPU a small conv; see `backends.torch.kernels`.)
- A conv whose only reader is a two-input `add` (a residual join; never a `mul`) whose other
  input is computed before the conv also adds it in the same kernel (``meta["fused_add"] =
  <other>``; the add gets ``meta["fused_into"]``), and then fuses the activation after the add.
- An activation whose input nobody else reads, and which is a fresh tensor (not a view, not a
  model input; an `add` or a `mul` of two or more tensors is fresh, of one it is that tensor),
  runs in place: ``meta["inplace"] = True`` (of `INPLACE`; a leaky ReLU only with
  a slope >= 0). Only `FUSABLE` activations are fused into a conv: the others (GELU, SiLU,
  hardswish, hardsigmoid, leaky ReLU...) run after it as at -O0.

These are annotations that only the PyTorch backend reads: the IR's ops, attributes and edges
stay as they are, so every other backend sees the same graph. Returns whether any annotation
changed (a second run returns False).
"""

from __future__ import annotations

from incept_dsl.frontend.signatures import ACTIVATIONS
from incept_dsl.ir.graph import Graph
from incept_dsl.passes.common import note, sole_user

#: Activations oneDNN's fused convolution implements exactly as PyTorch does.
FUSABLE = ("relu", "sigmoid", "tanh")

#: Activations with an in-place PyTorch form (leaky_relu only with a slope >= 0: PyTorch has no
#: backward for an in-place leaky ReLU of negative slope).
INPLACE = ("relu", "relu6", "silu", "hardswish", "hardsigmoid", "leaky_relu")

#: Ops whose output is always a fresh tensor (never a view or alias of an input). Not `tokens`,
#: `select`, `slice`, `crop`, `flatten` (views), `channel_shuffle` (a view when groups = 1),
#: `dropout` or `stochastic_depth` (their input itself in eval mode).
FRESH = (
    "conv",
    "batchnorm",
    "linear",
    "maxpool",
    "avgpool",
    "global_avgpool",
    "adaptive_avgpool",
    "lrn",
    "concat",
    "scale",
    "softmax",
    "conv_transpose",
    "groupnorm",
    "layernorm",  # on an image: a permuted view of the norm's own fresh output
    "layer_scale",
    "upsample",
    "attention",
    "class_token",
    "pos_embedding",
    *ACTIVATIONS,
)


def _set(graph: Graph, n: int, **values: object) -> bool:
    meta = graph.meta(n)
    if all(meta.get(k) == v for k, v in values.items()):
        return False
    meta.update(values)
    return True


def _in_place_form(graph: Graph, act: int) -> bool:
    """Whether the activation `act` (an op in `INPLACE`) may run in place for its attributes."""
    return graph.op(act) != "leaky_relu" or graph.attrs(act)["slope"] >= 0


def _fusable_add(graph: Graph, conv: int, user: int | None, index: dict[int, int]) -> int | None:
    """The other input of the two-input `add` that only `conv` feeds, when it is computed before
    the conv (so the conv can add it as it writes its output), else None."""
    if user is None or graph.op(user) != "add" or len(graph.inputs(user)) != 2:
        return None
    others: list[int | None] = [i for i in graph.inputs(user) if i != conv]
    (other,) = others or [None]
    return other if other is not None and index[other] < index[conv] else None


def select_kernels(graph: Graph) -> bool:
    changed = False
    convs = fused = adds = inplace = 0
    order = graph.order()
    index = {n: i for i, n in enumerate(order)}
    for n in order:
        op = graph.op(n)
        if op == "conv":
            user = sole_user(graph, n)
            other = _fusable_add(graph, n, user, index)
            if other is not None:  # conv -> add(other, .) [-> act]: one fused kernel
                assert user is not None  # `_fusable_add` finds `other` only through `user`
                changed |= _set(graph, n, fused_add=other) | _set(graph, user, fused_into=n)
                adds += 1
                user = sole_user(graph, user)
            act = graph.op(user) if user is not None and graph.op(user) in FUSABLE else "none"
            changed |= _set(graph, n, kernel="onednn", fused_act=act)
            if user is not None and act != "none":
                changed |= _set(graph, user, fused_into=n)
                fused += 1
            convs += 1
        elif op in INPLACE and "fused_into" not in graph.meta(n) and _in_place_form(graph, n):
            (src,) = graph.inputs(n)
            fresh = graph.op(src) in FRESH or (
                graph.op(src) in ("add", "mul") and len(graph.inputs(src)) > 1
            )
            if fresh and sole_user(graph, src) == n:
                changed |= _set(graph, n, inplace=True)
                inplace += 1
    if convs:
        note(
            graph,
            f"{convs} convolutions on packed oneDNN weights, {fused} with their "
            f"activation fused, {adds} with the residual add after them fused; "
            f"{inplace} activations in place",
        )
    return changed
