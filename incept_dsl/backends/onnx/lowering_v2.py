"""ONNX backend, the v2 ops of LANGUAGE.md section 11 that `lowering` does not hold itself, and
`crop` (added for U-Net) (`V2_LOWER`, merged into its `LOWER`): each with the IR's (PyTorch's)
inference semantics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from incept_dsl.backends.onnx.context import Ctx
from incept_dsl.backends.onnx.lowering_tokens import TOKENS_LOWER

Lowering = Callable[[Ctx, list[str]], None]


def _channel_shuffle(c: Ctx, ins: list[str]) -> None:
    """N×C×H×W -> N×g×(C/g)×H×W -> swap the two channel axes -> N×C×H×W (nn.ChannelShuffle)."""
    ch, h, w = c.shape
    g = c.a["groups"]
    split, swapped = c.tmp("split"), c.tmp("transpose")
    five = (g, ch // g, h, w)
    c.emit(
        "Reshape",
        [ins[0], c.const("groups_shape", [0, *five], np.int64)],
        [split],
        [five],
        suffix="split",
    )
    c.emit(
        "Transpose",
        [split],
        [swapped],
        [(ch // g, g, h, w)],
        suffix="transpose",
        perm=[0, 2, 1, 3, 4],
    )
    c.emit("Reshape", [swapped, c.const("shape", [0, ch, h, w], np.int64)])


def _per_channel(c: Ctx, role: str) -> str:
    """The weight `<scope>.<role>` (C,), stored C×1×1 when the node's tensor is an image so
    that it broadcasts over N×C×H×W."""
    key = c.weight(role)
    if len(c.shape) == 3:
        c.inits[key] = c.inits[key].reshape(-1, 1, 1)
    return key


def _layer_scale(c: Ctx, ins: list[str]) -> None:
    c.emit("Mul", [ins[0], _per_channel(c, "gamma")])


def _reduce_mean(
    c: Ctx, x: str, out: str, shape: tuple[int, ...], suffix: str, axis: int = 2
) -> None:
    """The mean over `axis`, kept (the axes an input from opset 18, an attribute before)."""
    if c.opset >= 18:
        axes = c.const(f"{suffix}_axes", [axis], np.int64)
        c.emit("ReduceMean", [x, axes], [out], [shape], suffix=suffix, keepdims=1)
    else:
        c.emit("ReduceMean", [x], [out], [shape], suffix=suffix, axes=[axis], keepdims=1)


def _normalise(c: Ctx, x: str, axis: int, shape: tuple[int, ...]) -> str:
    """(x - mean) / sqrt(var + eps) over `axis` of x (shape `shape` without the batch), with the
    biased variance, as PyTorch's norms compute it; returns the normalised tensor's name."""
    stats = tuple(1 if i == axis - 1 else s for i, s in enumerate(shape))
    t = {s: c.tmp(s) for s in ("mean", "centred", "sq", "var", "var_eps", "std", "normed")}
    _reduce_mean(c, x, t["mean"], stats, "mean", axis)
    c.emit("Sub", [x, t["mean"]], [t["centred"]], [shape], suffix="centred")
    c.emit("Mul", [t["centred"], t["centred"]], [t["sq"]], [shape], suffix="sq")
    _reduce_mean(c, t["sq"], t["var"], stats, "var", axis)
    eps = c.const("eps", float(c.a["eps"]))
    c.emit("Add", [t["var"], eps], [t["var_eps"]], [stats], suffix="var_eps")
    c.emit("Sqrt", [t["var_eps"]], [t["std"]], [stats], suffix="std")
    c.emit("Div", [t["centred"], t["std"]], [t["normed"]], [shape], suffix="normed")
    return t["normed"]


def _groupnorm(c: Ctx, ins: list[str]) -> None:
    """nn.GroupNorm: each sample's groups of C/g channels normalised over (C/g)·H·W by their own
    mean and biased variance, then a weight and bias per channel. Spelt with Reshape and
    ReduceMean (ONNX's GroupNormalization changed the meaning of its scale and bias in opset 21)."""
    ch, h, w = c.shape
    g = c.a["groups"]
    grouped = (g, ch // g * h * w)
    t = {s: c.tmp(s) for s in ("groups", "image", "scaled")}
    c.emit(
        "Reshape",
        [ins[0], c.const("groups_shape", [0, g, -1], np.int64)],
        [t["groups"]],
        [grouped],
        suffix="groups",
    )
    normed = _normalise(c, t["groups"], 2, grouped)
    image = c.const("shape", [0, ch, h, w], np.int64)
    c.emit("Reshape", [normed, image], [t["image"]], suffix="image")
    c.emit("Mul", [t["image"], _per_channel(c, "weight")], [t["scaled"]], suffix="scaled")
    c.emit("Add", [t["scaled"], _per_channel(c, "bias")])


def _layernorm(c: Ctx, ins: list[str]) -> None:
    """nn.LayerNorm over the last dimension of a flat tensor or tokens; on an image N×C×H×W over
    C of each pixel (torchvision's LayerNorm2d: channels last, normalise, channels first).
    LayerNormalization from opset 17; spelt out with ReduceMean before (on an image over axis 1,
    without transposes)."""
    image = len(c.shape) == 3
    if c.opset < 17:
        normed = _normalise(c, ins[0], 1 if image else len(c.shape), c.shape)
        scaled = c.tmp("scaled")
        c.emit("Mul", [normed, _per_channel(c, "weight")], [scaled], suffix="scaled")
        c.emit("Add", [scaled, _per_channel(c, "bias")])
        return
    args = [c.weight("weight"), c.weight("bias")]
    eps = float(c.a["eps"])
    if not image:
        c.emit("LayerNormalization", [ins[0], *args], axis=-1, epsilon=eps)
        return
    ch, h, w = c.shape
    last, normed = c.tmp("channels_last"), c.tmp("normed")
    c.emit("Transpose", [ins[0]], [last], [(h, w, ch)], suffix="channels_last", perm=[0, 2, 3, 1])
    c.emit(
        "LayerNormalization",
        [last, *args],
        [normed],
        [(h, w, ch)],
        suffix="normed",
        axis=-1,
        epsilon=eps,
    )
    c.emit("Transpose", [normed], perm=[0, 3, 1, 2])


def _conv_transpose(c: Ctx, ins: list[str]) -> None:
    """nn.ConvTranspose2d: ONNX's ConvTranspose has PyTorch's weight layout (in × out/groups ×
    kh × kw) and output size ((in - 1) · stride - 2 · padding + kernel + output_padding)."""
    a = c.a
    args = [ins[0], c.weight("weight")] + ([c.weight("bias")] if a["bias"] else [])
    (ph, pw), extra = a["padding"], list(a["output_padding"])
    attrs: dict[str, Any] = {"output_padding": extra} if any(extra) else {}
    c.emit(
        "ConvTranspose",
        args,
        kernel_shape=list(a["kernel"]),
        strides=list(a["stride"]),
        pads=[ph, pw, ph, pw],
        group=a["groups"],
        **attrs,
    )


def _stochastic_depth(c: Ctx, ins: list[str]) -> None:
    c.alias(ins[0])  # inference: the identity


def _upsample(c: Ctx, ins: list[str]) -> None:
    """F.interpolate as Resize: nearest is PyTorch's floor(dst / scale) (`asymmetric`, `floor`);
    bilinear `half_pixel`, or `align_corners`. A scale factor as `scales` (PyTorch maps pixels
    by 1/scale, not by the rounded sizes' ratio), a size as `sizes`."""
    a = c.a
    linear = a["mode"] == "bilinear"
    corners = "align_corners" if a["align_corners"] else "half_pixel"
    attrs: dict[str, Any] = {
        "mode": "linear" if linear else "nearest",
        "coordinate_transformation_mode": corners if linear else "asymmetric",
    }
    if not linear:
        attrs["nearest_mode"] = "floor"
    roi = c.const("roi", np.zeros(0)) if c.opset < 13 else ""
    if a["scale"] is not None:
        scales = c.const("scales", [1.0, 1.0, a["scale"], a["scale"]])
        c.emit("Resize", [ins[0], roi, scales], **attrs)
        return
    hw = c.const("hw", list(a["size"]), np.int64)
    if c.opset >= 18:  # sizes of the resized axes alone
        c.emit("Resize", [ins[0], "", "", hw], axes=[2, 3], **attrs)
        return
    # N and C from the input's shape, then H and W: int64 helpers, declared by shape inference
    whole, n_c, sizes = c.tmp("shape"), c.tmp("n_c"), c.tmp("sizes")
    c.emit("Shape", [ins[0]], [whole], [()], suffix="shape")
    ends = [c.const(k, v, np.int64) for k, v in (("starts", [0]), ("ends", [2]))]
    c.emit("Slice", [whole, *ends], [n_c], [()], suffix="n_c")
    c.emit("Concat", [n_c, hw], [sizes], [()], suffix="sizes", axis=0)
    for t in (whole, n_c, sizes):
        del c.shapes[t]
    no_scales = c.const("no_scales", np.zeros(0)) if c.opset < 13 else ""
    c.emit("Resize", [ins[0], roi, no_scales, sizes], **attrs)


def _crop(c: Ctx, ins: list[str]) -> None:
    """The centred window as one Slice of axes 2 and 3, its starts (the offsets) and ends
    constant int64 initializers, as `slice` writes its own (inputs from opset 10; this backend
    writes 11 and later)."""
    (top, left), (h, w) = c.a["offset"], c.a["size"]
    c.emit(
        "Slice",
        [
            ins[0],
            c.const("starts", [top, left], np.int64),
            c.const("ends", [top + h, left + w], np.int64),
            c.const("axes", [2, 3], np.int64),
        ],
    )


V2_LOWER: dict[str, Lowering] = {
    "channel_shuffle": _channel_shuffle,
    "layer_scale": _layer_scale,
    "groupnorm": _groupnorm,
    "stochastic_depth": _stochastic_depth,
    "upsample": _upsample,
    "crop": _crop,
    "conv_transpose": _conv_transpose,
    "layernorm": _layernorm,
    **TOKENS_LOWER,
}
