"""Shape rules of the IR ops: each takes a node's attrs and its input shapes and returns the output
shape, or raises `ShapeProblem` with a message in words (the caller adds the source location).

Shapes exclude the batch dimension: images are ``(C, H, W)``, flat tensors ``(F,)``, tokens
``(L, D)`` (LANGUAGE.md section 11).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from incept_dsl.text import fmt_shape

Shape = tuple[int, ...]


class ShapeProblem(Exception):
    """A shape rule's complaint; elaboration turns it into a located `InceptShapeError`."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


def tensor_kind(shape: Shape) -> str:
    """ "image" (C×H×W), "flat" (F) or "token" (L×D): the words of the error messages."""
    return {3: "image", 1: "flat", 2: "token"}.get(len(shape), f"rank-{len(shape)}")


def need_image(op: str, shape: Shape, hint: str | None = None) -> None:
    """Raise unless `shape` is an image C×H×W, naming the kind of tensor it is."""
    if len(shape) != 3:
        raise ShapeProblem(
            f"{op} needs an image tensor C×H×W; got the {tensor_kind(shape)} tensor "
            f"{fmt_shape(shape)}",
            hint=hint,
        )


def need_tokens(op: str, shape: Shape) -> None:
    """Raise unless `shape` is a token tensor L×D."""
    if len(shape) != 2:
        hint = (
            "turn an image into tokens with `-> tokens ->` first"
            if len(shape) == 3
            else "a flat tensor has no tokens; keep the tokens (do not flatten or select) before it"
        )
        raise ShapeProblem(
            f"{op} needs a token tensor L×D; got the {tensor_kind(shape)} tensor "
            f"{fmt_shape(shape)}",
            hint=hint,
        )


def conv_out(size: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """PyTorch's output-size rule for convolution and pooling along one axis."""
    eff = d * (k - 1) + 1
    num = size + 2 * p - eff
    if num < 0 and not ceil:
        return 0
    out = (-(-num // s) if ceil else num // s) + 1  # with ceil, a window may overhang the end
    if ceil and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input or the left padding
    return max(out, 0)


# ---- shape rules -------------------------------------------------------------------------------
def conv_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    need_image("conv", x)
    c, h, w = x
    if c != a["in_channels"]:
        raise ShapeProblem(f"conv expects {a['in_channels']} input channels; got {c}")
    oh = conv_out(h, a["kernel"][0], a["stride"][0], a["padding"][0], a["dilation"][0])
    ow = conv_out(w, a["kernel"][1], a["stride"][1], a["padding"][1], a["dilation"][1])
    if oh < 1 or ow < 1:
        raise ShapeProblem(
            f"the {fmt_shape(a['kernel'])} kernel does not fit the {h}×{w} input "
            f"(padding {a['padding'][0]}×{a['padding'][1]}, dilation {fmt_shape(a['dilation'])})",
            hint="use a smaller kernel or more padding, or downsample less before this layer",
        )
    return (a["out_channels"], oh, ow)


def pool_shape(op: str) -> Callable[[dict[str, Any], list[Shape]], Shape]:
    def rule(a: dict[str, Any], ins: list[Shape]) -> Shape:
        (x,) = ins
        need_image(op, x)
        c, h, w = x
        (kh, kw), (sh, sw), (ph, pw) = a["kernel"], a["stride"], a["padding"]
        if ph * 2 > kh or pw * 2 > kw:
            raise ShapeProblem(
                f"{op} padding {ph}×{pw} is more than half the {kh}×{kw} kernel",
                hint="PyTorch and ONNX require padding <= kernel // 2 for pooling",
            )
        oh = conv_out(h, kh, sh, ph, 1, a["ceil"])
        ow = conv_out(w, kw, sw, pw, 1, a["ceil"])
        if oh < 1 or ow < 1:
            raise ShapeProblem(
                f"the {kh}×{kw} {op} window does not fit the {h}×{w} input",
                hint="use a smaller window, padding = same, or downsample less before this layer",
            )
        return (c, oh, ow)

    return rule


def same(op: str, image: bool = False) -> Callable[[dict[str, Any], list[Shape]], Shape]:
    def rule(a: dict[str, Any], ins: list[Shape]) -> Shape:
        (x,) = ins
        if image:
            need_image(op, x)
        return x

    return rule


def bn_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    if len(x) == 2:
        raise ShapeProblem(
            f"batchnorm works on images and flat tensors; got the token tensor {fmt_shape(x)}",
            hint="normalise tokens with layernorm instead (it normalises each token over D)",
        )
    if x[0] != a["num_features"]:
        raise ShapeProblem(f"batchnorm expects {a['num_features']} channels; got {x[0]}")
    return x


def linear_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    if len(x) == 3:
        raise ShapeProblem(
            f"linear needs a flat tensor N×F or tokens N×L×D; got the image tensor {fmt_shape(x)}",
            hint="insert `-> flatten ->` (or `avgpool(global) -> flatten`) before it",
        )
    if x[-1] != a["in_features"]:
        raise ShapeProblem(f"linear expects {a['in_features']} features; got {x[-1]}")
    return (*x[:-1], a["out_features"])


def global_pool_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    need_image("avgpool(global)", x)
    return (x[0], 1, 1)


def adaptive_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    need_image("adaptive_avgpool", x)
    return (x[0], *a["size"])


def flatten_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    return (math.prod(x),)


def softmax_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    if not 1 <= a["dim"] <= len(x):
        raise ShapeProblem(
            f"softmax dim {a['dim']} is out of range for {fmt_shape(x)} tensors "
            f"(dim 0 is the batch)"
        )
    return x


def concat_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    ranks = {len(s) for s in ins}
    if len(ranks) != 1:
        raise ShapeProblem(
            f"concat mixes {_kinds(ins)} tensors: " + ", ".join(fmt_shape(s) for s in ins)
        )
    if len({s[1:] for s in ins}) != 1:
        raise ShapeProblem(
            "concat needs equal spatial sizes; got " + ", ".join(fmt_shape(s) for s in ins)
        )
    return (sum(s[0] for s in ins), *ins[0][1:])


def add_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    if len(set(ins)) != 1:
        raise ShapeProblem("add needs equal shapes; got " + ", ".join(fmt_shape(s) for s in ins))
    return ins[0]


def _kinds(ins: list[Shape]) -> str:
    """ "image and flat": the kinds of tensor among `ins`, images first, then flat, then tokens."""
    order = {"image": 0, "flat": 1, "token": 2}
    kinds = sorted({tensor_kind(s) for s in ins}, key=lambda k: (order.get(k, 3), k))
    return ", ".join(kinds[:-1]) + " and " + kinds[-1] if len(kinds) > 1 else kinds[0]


def _is_gate(s: Shape) -> bool:
    return len(s) == 3 and s[1:] == (1, 1)


def mul_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    """The element-wise product: every input has the output's shape, except that a C×1×1 input
    (a gate) broadcasts over C×H×W with the same C (squeeze-and-excitation). Flat tensors agree
    exactly. The output is the one shape that is not a gate (C×1×1 when all are gates)."""
    listed = ", ".join(fmt_shape(s) for s in ins)
    if len({len(s) for s in ins}) != 1:
        raise ShapeProblem(
            f"mul mixes {_kinds(ins)} tensors: {listed}",
            hint="multiply tensors of one kind: images C×H×W (a gate C×1×1), flat tensors F or "
            "tokens L×D",
        )
    full = sorted({s for s in ins if not _is_gate(s)}, key=ins.index)
    if len(full) > 1:
        raise ShapeProblem(
            f"mul needs equal shapes (or C×1×1 gates); got {listed}",
            hint="only a C×1×1 gate broadcasts; every other branch must have the same shape",
        )
    out = full[0] if full else ins[0]
    for s in ins:
        if s != out and (not _is_gate(s) or s[0] != out[0]):
            raise ShapeProblem(
                f"mul cannot broadcast {fmt_shape(s)} over {fmt_shape(out)}: the gate has "
                f"{s[0]} channels, the tensor {out[0]}",
                hint=f"a gate must be C×1×1 with the same C as the tensor it scales (here "
                f"{fmt_shape((out[0], 1, 1))})",
            )
    return out


def slice_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    """Channels (or features) start .. end-1 of an image or flat tensor."""
    (x,) = ins
    if len(x) == 2:
        raise ShapeProblem(
            f"slice takes channels of images or features of flat tensors; got the token tensor "
            f"{fmt_shape(x)}",
            hint="take one token with select(index)",
        )
    what = "channels" if len(x) == 3 else "features"
    start, end = a["start"], a["end"]
    if not 0 <= start < end <= x[0]:
        hint = (
            "start must be below end: "
            + (
                f"write slice({end}, {start}) for {what} {end} .. {start - 1}"
                if end < start
                else f"write slice({start}, {start + 1}) for {what} {start} alone"
            )
            if start >= end
            else f"the {what} are numbered 0 .. {x[0] - 1}: end is at most {x[0]}"
        )
        raise ShapeProblem(
            f"slice {start}:{end} is outside the {x[0]} {what} of {fmt_shape(x)}", hint=hint
        )
    return (end - start, *x[1:])


def channel_shuffle_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    need_image("channel_shuffle", x)
    if x[0] % a["groups"]:
        raise ShapeProblem(
            f"channel_shuffle cannot split {x[0]} channels into {a['groups']} equal groups",
            hint=f"groups must divide the channels: use one of "
            f"{', '.join(str(d) for d in range(1, x[0] + 1) if x[0] % d == 0)}"
            if x[0] <= 64
            else "groups must divide the channels",
        )
    return x


def layer_scale_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    """A per-channel multiplier: the channels of an image (C of C×H×W), the features of a flat
    tensor (its last dimension)."""
    (x,) = ins
    c = x[0] if len(x) == 3 else x[-1]  # tokens L×D: D
    if c != a["channels"]:
        raise ShapeProblem(f"layer_scale expects {a['channels']} channels; got {c}")
    return x


def groupnorm_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    need_image("groupnorm", x)
    if x[0] != a["num_channels"]:
        raise ShapeProblem(f"groupnorm expects {a['num_channels']} channels; got {x[0]}")
    if x[0] % a["groups"]:
        raise ShapeProblem(
            f"groupnorm cannot split {x[0]} channels into {a['groups']} equal groups",
            hint="groups must divide the channels: use one of "
            + ", ".join(str(d) for d in range(1, x[0] + 1) if x[0] % d == 0)
            if x[0] <= 64
            else "groups must divide the channels",
        )
    return x


def upsample_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    """`size`, or floor(side * scale) per side (PyTorch's rule for a scale factor)."""
    (x,) = ins
    need_image("upsample", x)
    c, h, w = x
    if a["scale"] is None:
        return (c, *a["size"])
    oh, ow = math.floor(h * a["scale"]), math.floor(w * a["scale"])
    if oh < 1 or ow < 1:
        raise ShapeProblem(
            f"upsample(scale = {a['scale']:g}) makes the {h}×{w} input {oh}×{ow}",
            hint="use a larger scale, or size = HxW",
        )
    return (c, oh, ow)


def crop_offset(image: Shape, size: tuple[int, int]) -> tuple[int, int]:
    """The top-left corner (top, left) of the centred `size` window of a C×H×W `image`:
    ((H - h) // 2, (W - w) // 2), floored, so an odd margin leaves its extra row at the bottom
    and its extra column at the right."""
    _, h, w = image
    return ((h - size[0]) // 2, (w - size[1]) // 2)


def crop_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    """The centred `size` window of an image: C×h×w. Refuses a tensor that is no image and a
    window larger than the input on either side; `offset` must be `crop_offset`'s."""
    (x,) = ins
    need_image(
        "crop", x, hint="crop cuts the height and width of an image: crop before flatten or tokens"
    )
    c, h, w = x
    (ch, cw) = a["size"]
    if ch > h or cw > w:
        raise ShapeProblem(
            f"crop(size = {ch}x{cw}) is larger than the {h}×{w} input",
            hint=f"a crop keeps a centred window of its input, at most {h}x{w} here: crop less, "
            "or shrink the picture less before it",
        )
    if tuple(a["offset"]) != crop_offset(x, (ch, cw)):
        raise ShapeProblem(
            f"crop offset {fmt_shape(a['offset'])} is not the centre of the {h}×{w} input "
            f"for a {ch}×{cw} window"
        )
    return (c, ch, cw)


def conv_transpose_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    """nn.ConvTranspose2d: (in - 1) * stride - 2 * padding + kernel + output_padding a side."""
    (x,) = ins
    need_image("conv_transpose", x)
    c, h, w = x
    if c != a["in_channels"]:
        raise ShapeProblem(f"conv_transpose expects {a['in_channels']} input channels; got {c}")
    k, st, p, op = a["kernel"], a["stride"], a["padding"], a["output_padding"]
    oh, ow = ((n - 1) * st[i] - 2 * p[i] + k[i] + op[i] for i, n in enumerate((h, w)))
    if oh < 1 or ow < 1:
        most = min(((n - 1) * st[i] + k[i] + op[i] - 1) // 2 for i, n in enumerate((h, w)))
        raise ShapeProblem(
            f"conv_transpose makes the {h}×{w} input empty: (in - 1) × stride - 2 × padding "
            f"+ kernel + output_padding gives {oh}×{ow} (padding {fmt_shape(p)})",
            hint=f"use less padding (at most {most} here), or a larger kernel or stride",
        )
    return (a["out_channels"], oh, ow)


def layernorm_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    """Each position over its channels: C of C×H×W, F of a flat tensor, D of tokens L×D."""
    (x,) = ins
    c = x[0] if len(x) == 3 else x[-1]
    if c != a["channels"]:
        raise ShapeProblem(f"layernorm expects {a['channels']} channels; got {c}")
    return x


def input_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    return tuple(a["shape"])
