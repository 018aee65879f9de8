"""ONNX backend, the token ops of LANGUAGE.md section 11 (`TOKENS_LOWER`, merged into
`lowering.LOWER`) and `linear` on tokens: each with the IR's (PyTorch's) inference semantics, in
ops that every opset this backend writes (11 and newer) has.

A token tensor is N×L×D. ONNX's Gemm is 2-D only, so a linear on tokens, and the projections of
an attention, are a MatMul by the transposed weight plus an Add of the bias: their weight
initializers keep their state_dict names (`<scope>.weight`, `<scope>.in_proj_weight`,
`<scope>.out_proj.weight`) but hold the weight transposed, in × out (as a layer_scale's `gamma`
is held C×1×1 on an image). Attention is spelt out (MatMul, Softmax, MatMul per head), as
nn.MultiheadAttention computes it in evaluation (its dropout off)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from incept_dsl.backends.onnx.context import Ctx

Lowering = Callable[[Ctx, list[str]], None]


def _transposed(c: Ctx, role: str) -> str:
    """The 2-D weight `<scope>.<role>` as an initializer holding its transpose (in × out)."""
    key = c.weight(role)
    c.inits[key] = np.ascontiguousarray(c.inits[key].T)
    return key


def _project(
    c: Ctx, x: str, roles: tuple[str, str | None], out: tuple[str, tuple[int, ...]], name: str
) -> None:
    """out = x @ weightᵀ (+ bias): a MatMul by the transposed weight `roles[0]` (node
    `<scope>/<name>_matmul`), then an Add of the bias `roles[1]` when there is one. The last node
    writes `out` (tensor, shape) and is named `<scope>/<name>`, or `<scope>` when `name` is
    empty."""
    weight, bias = roles
    tensor, shape = out
    last = name or None
    if bias is None:
        c.emit("MatMul", [x, _transposed(c, weight)], [tensor], [shape], suffix=last)
        return
    step = f"{name}_matmul" if name else "matmul"
    product = c.tmp(step)
    c.emit("MatMul", [x, _transposed(c, weight)], [product], [shape], suffix=step)
    c.emit("Add", [product, c.weight(bias)], [tensor], [shape], suffix=last)


def token_linear(c: Ctx, ins: list[str]) -> None:
    """nn.Linear on tokens N×L×D: x @ Wᵀ + b over the last dimension (MatMul and Add)."""
    _project(c, ins[0], ("weight", "bias" if c.a["bias"] else None), (c.out, c.shape), "")


def _tokens(c: Ctx, ins: list[str]) -> None:
    """N×C×H×W -> N×C×(H·W) -> N×(H·W)×C (`x.flatten(2).transpose(1, 2)`)."""
    ch, h, w = c.g.shape(c.g.inputs(c.n)[0])
    flat = c.tmp("flatten")
    shape = c.const("shape", [0, ch, h * w], np.int64)
    c.emit("Reshape", [ins[0], shape], [flat], [(ch, h * w)], suffix="flatten")
    c.emit("Transpose", [flat], perm=[0, 2, 1])


def _batch_size(c: Ctx, x: str) -> str:
    """The int64 vector [N] of `x`'s batch size (Shape's start/end from opset 15, a Slice of
    the whole shape before). Its helpers have no value_info (their shapes are not N×...)."""
    batch = c.tmp("batch")
    if c.opset >= 15:
        c.emit("Shape", [x], [batch], [()], suffix="batch", start=0, end=1)
    else:
        whole = c.tmp("shape")
        c.emit("Shape", [x], [whole], [()], suffix="shape")
        bounds = [c.const(k, v, np.int64) for k, v in (("starts", [0]), ("ends", [1]))]
        c.emit("Slice", [whole, *bounds], [batch], [()], suffix="batch")
        del c.shapes[whole]
    del c.shapes[batch]
    return batch


def _class_token(c: Ctx, ins: list[str]) -> None:
    """torch.cat([token.expand(N, -1, -1), x], 1): the (1, 1, D) token expanded to N×1×D."""
    d = c.shape[1]
    sizes, copies = c.tmp("expand_shape"), c.tmp("expand")
    batch = _batch_size(c, ins[0])
    ones = c.const("ones", [1, 1], np.int64)
    c.emit("Concat", [batch, ones], [sizes], [()], suffix="expand_shape", axis=0)
    del c.shapes[sizes]
    c.emit("Expand", [c.weight("token"), sizes], [copies], [(1, d)], suffix="expand")
    c.emit("Concat", [copies, ins[0]], axis=1)


def _pos_embedding(c: Ctx, ins: list[str]) -> None:
    c.emit("Add", [ins[0], c.weight("embedding")])  # (1, L, D) broadcasts over the batch


def _select(c: Ctx, ins: list[str]) -> None:
    """x[:, index]: a Gather on the token axis with a scalar index (the axis goes)."""
    c.emit("Gather", [ins[0], c.const("index", c.a["index"], np.int64)], axis=1)


def _heads(c: Ctx, qkv: str) -> tuple[str, str, str]:
    """q (N×h×L×e), kᵀ (N×h×e×L) and v (N×h×L×e) of the packed projection qkv (N×L×3D), with
    q already divided by sqrt(e) (e = D / h, each head's width)."""
    length, d = c.shape
    h = c.a["heads"]
    e = d // h
    split = c.tmp("heads")
    five = c.const("heads_shape", [0, length, 3, h, e], np.int64)
    c.emit("Reshape", [qkv, five], [split], [(length, 3, h, e)], suffix="heads")
    out = []
    for i, (name, perm) in enumerate(
        (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3]))
    ):
        part, moved = c.tmp(f"{name}_part"), c.tmp(name)
        index = c.const(f"{name}_index", i, np.int64)
        c.emit("Gather", [split, index], [part], [(length, h, e)], suffix=f"{name}_part", axis=2)
        shape = (h, e, length) if name == "k" else (h, length, e)
        c.emit("Transpose", [part], [moved], [shape], suffix=name, perm=perm)
        out.append(moved)
    q, k, v = out
    scaled = c.tmp("q_scaled")
    c.emit(
        "Mul",
        [q, c.const("scale", 1.0 / math.sqrt(e))],
        [scaled],
        [(h, length, e)],
        suffix="q_scaled",
    )
    return scaled, k, v


def _attention(c: Ctx, ins: list[str]) -> None:
    """nn.MultiheadAttention(batch_first=True)(x, x, x, need_weights=False)[0] in evaluation:
    the packed in-projection, per head softmax(q kᵀ / sqrt(e)) v, the heads side by side, the
    out-projection."""
    length, d = c.shape
    h = c.a["heads"]
    bias = c.a["bias"]
    t = {s: c.tmp(s) for s in ("qkv", "scores", "weights", "mixed", "merged", "joined")}
    in_bias = "in_proj_bias" if bias else None
    _project(c, ins[0], ("in_proj_weight", in_bias), (t["qkv"], (length, 3 * d)), "qkv")
    q, k, v = _heads(c, t["qkv"])
    square = (h, length, length)
    c.emit("MatMul", [q, k], [t["scores"]], [square], suffix="scores")
    c.emit("Softmax", [t["scores"]], [t["weights"]], [square], suffix="weights", axis=3)
    c.emit("MatMul", [t["weights"], v], [t["mixed"]], [(h, length, d // h)], suffix="mixed")
    perm = [0, 2, 1, 3]
    c.emit(
        "Transpose", [t["mixed"]], [t["merged"]], [(length, h, d // h)], suffix="merged", perm=perm
    )
    flat = c.const("joined_shape", [0, length, d], np.int64)
    c.emit("Reshape", [t["merged"], flat], [t["joined"]], suffix="joined")
    out_bias = "out_proj.bias" if bias else None
    _project(c, t["joined"], ("out_proj.weight", out_bias), (c.out, c.shape), "")


TOKENS_LOWER: dict[str, Lowering] = {
    "tokens": _tokens,
    "class_token": _class_token,
    "pos_embedding": _pos_embedding,
    "attention": _attention,
    "select": _select,
}
