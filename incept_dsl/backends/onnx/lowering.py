"""ONNX backend, per op: `LOWER`, one lowering per IR op, each emitting the ONNX nodes of one IR
node through the lowering context `Ctx`, with the IR's (PyTorch's) semantics where ONNX's differ
(ceil-mode pooling, adaptive pooling, LRN windows, GELU before opset 20, HardSwish before opset
14, HardSigmoid's constants, n-input products as binary `Mul`s, a linear on tokens as MatMul and
Add). Inference semantics: dropout is the identity (no node), batch norm uses its running
statistics. The v2 ops are in `lowering_v2` and `lowering_tokens`, merged into `LOWER`."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from incept_dsl.backends.onnx.context import FLOAT, Ctx
from incept_dsl.backends.onnx.lowering_tokens import token_linear
from incept_dsl.backends.onnx.lowering_v2 import V2_LOWER


def _pads(padding: tuple[int, int]) -> list[int]:
    return [padding[0], padding[1], padding[0], padding[1]]


# ---- lowerings: one per IR op --------------------------------------------------------------------
Lowering = Callable[[Ctx, list[str]], None]


def _input(c: Ctx, ins: list[str]) -> None:
    c.inputs.append(c.helper.make_tensor_value_info(c.out, FLOAT, ["N", *c.shape]))


def _conv(c: Ctx, ins: list[str]) -> None:
    a = c.a
    args = [ins[0], c.weight("weight")] + ([c.weight("bias")] if a["bias"] else [])
    c.emit(
        "Conv",
        args,
        kernel_shape=list(a["kernel"]),
        strides=list(a["stride"]),
        pads=_pads(a["padding"]),
        dilations=list(a["dilation"]),
        group=a["groups"],
    )


def _batchnorm(c: Ctx, ins: list[str]) -> None:
    args = [ins[0], *(c.weight(r) for r in ("weight", "bias", "running_mean", "running_var"))]
    c.emit(
        "BatchNormalization", args, epsilon=float(c.a["eps"]), momentum=1.0 - float(c.a["momentum"])
    )


def _linear(c: Ctx, ins: list[str]) -> None:
    if len(c.shape) == 2:  # tokens N×L×D: Gemm is 2-D only
        token_linear(c, ins)
        return
    args = [ins[0], c.weight("weight")] + ([c.weight("bias")] if c.a["bias"] else [])
    c.emit("Gemm", args, transB=1)


def _ceil_extra(c: Ctx) -> tuple[int, int]:
    """Extra end padding per axis that makes floor-mode pooling give the IR's (PyTorch's)
    ceil-mode output size. ONNX's `ceil_mode` differs from PyTorch's where PyTorch drops a last
    window that would start in the right padding, so ceil mode is always spelled this way."""
    if not c.a["ceil"]:
        return 0, 0
    x = c.g.shape(c.g.inputs(c.n)[0])
    return tuple(
        max(0, (out - 1) * s + k - size - 2 * p)  # type: ignore[return-value]
        for out, s, k, size, p in zip(
            c.shape[1:], c.a["stride"], c.a["kernel"], x[1:], c.a["padding"], strict=True
        )
    )


def _maxpool(c: Ctx, ins: list[str]) -> None:
    a = c.a
    (ph, pw), (eh, ew) = a["padding"], _ceil_extra(c)
    c.emit(
        "MaxPool",
        [ins[0]],
        kernel_shape=list(a["kernel"]),
        strides=list(a["stride"]),
        pads=[ph, pw, ph + eh, pw + ew],
    )


def _avgpool(c: Ctx, ins: list[str]) -> None:
    a = c.a
    (ph, pw), (eh, ew) = a["padding"], _ceil_extra(c)
    x, include = ins[0], a["count_include_pad"]
    if include and (eh or ew) and (ph or pw):
        # PyTorch divides by the window's part inside input + declared padding (not the ceil
        # overhang): make the declared padding real zeros and count only real elements
        ch, h, w = c.g.shape(c.g.inputs(c.n)[0])
        x = c.tmp("pad")
        c.emit(
            "Pad",
            [ins[0], c.const("pads", [0, 0, ph, pw, 0, 0, ph, pw], np.int64)],
            [x],
            [(ch, h + 2 * ph, w + 2 * pw)],
            suffix="pad",
        )
        ph = pw = 0
    if eh or ew:
        include = False  # the overhang never counts
    c.emit(
        "AveragePool",
        [x],
        kernel_shape=list(a["kernel"]),
        strides=list(a["stride"]),
        pads=[ph, pw, ph + eh, pw + ew],
        count_include_pad=int(include),
    )


def _global_avgpool(c: Ctx, ins: list[str]) -> None:
    c.emit("GlobalAveragePool", [ins[0]])


def _adaptive_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_in, n_out): column j averages PyTorch's adaptive window j, [floor(j*n/m), ceil((j+1)*n/m))."""
    m = np.zeros((n_in, n_out), dtype=np.float32)
    for j in range(n_out):
        lo, hi = (j * n_in) // n_out, -(-((j + 1) * n_in) // n_out)
        m[lo:hi, j] = 1.0 / (hi - lo)
    return m


def _adaptive_avgpool(c: Ctx, ins: list[str]) -> None:
    ch, h, w = c.g.shape(c.g.inputs(c.n)[0])
    oh, ow = c.a["size"]
    if (oh, ow) == (1, 1):
        c.emit("GlobalAveragePool", [ins[0]])
    elif h % oh == 0 and w % ow == 0:  # equal windows: an ordinary average pool
        k = [h // oh, w // ow]
        c.emit("AveragePool", [ins[0]], kernel_shape=k, strides=k)
    else:  # uneven windows: x @ Pw (W -> ow), then Ph @ . (H -> oh); exact and linear
        cols = c.tmp("cols")
        c.emit(
            "MatMul",
            [ins[0], c.const("pool_w", _adaptive_matrix(w, ow))],
            [cols],
            [(ch, h, ow)],
            suffix="cols",
        )
        c.emit("MatMul", [c.const("pool_h", _adaptive_matrix(h, oh).T), cols])


def _lrn_window(channels: int, size: int, scale: float) -> np.ndarray:
    """(C, C, 1, 1): row i sums channels [i - size//2, i + (size-1)//2] (PyTorch's window, for odd
    and even sizes), times `scale`."""
    i = np.arange(channels)
    d = i[None, :] - i[:, None]  # input channel j minus output channel i
    band = (d >= -(size // 2)) & (d <= (size - 1) // 2)
    return (band * np.float32(scale)).astype(np.float32).reshape(channels, channels, 1, 1)


def _lrn(c: Ctx, ins: list[str]) -> None:
    """x / (k + alpha/size * sum of x^2 over the channel window)^beta, the window sum as a 1x1
    Conv with a band matrix (k its bias). onnxruntime runs that several times faster than its
    LRN kernel, and the window is PyTorch's for even sizes too (ONNX's LRN pads the other way)."""
    a = c.a
    ch = c.shape[0]
    x = ins[0]
    t = {s: c.tmp(s) for s in ("sq", "den", "root", "root4", "pow")}
    c.emit("Mul", [x, x], [t["sq"]], suffix="sq")
    window = c.const("window", _lrn_window(ch, a["size"], a["alpha"] / a["size"]))
    c.emit(
        "Conv",
        [t["sq"], window, c.const("k", np.full(ch, a["k"]))],
        [t["den"]],
        suffix="den",
        kernel_shape=[1, 1],
    )
    beta = float(a["beta"])
    if beta == 0.75:  # den^0.75 = sqrt(den) * sqrt(sqrt(den)): much cheaper than Pow
        c.emit("Sqrt", [t["den"]], [t["root"]], suffix="root")
        c.emit("Sqrt", [t["root"]], [t["root4"]], suffix="root4")
        c.emit("Mul", [t["root"], t["root4"]], [t["pow"]], suffix="pow")
    elif beta == 0.5:
        c.emit("Sqrt", [t["den"]], [t["pow"]], suffix="pow")
    else:
        c.emit("Pow", [t["den"], c.const("beta", beta)], [t["pow"]], suffix="pow")
    c.emit("Div", [x, t["pow"]])


def _unary(op_type: str) -> Lowering:
    def lower(c: Ctx, ins: list[str]) -> None:
        c.emit(op_type, [ins[0]])

    return lower


def _relu6(c: Ctx, ins: list[str]) -> None:
    c.emit("Clip", [ins[0], c.const("min", 0.0), c.const("max", 6.0)])


def _gelu(c: Ctx, ins: list[str]) -> None:
    if c.opset >= 20:
        c.emit("Gelu", [ins[0]])
        return
    x = ins[0]  # 0.5 * x * (1 + erf(x / sqrt 2)), PyTorch's exact GELU
    t = {s: c.tmp(s) for s in ("div", "erf", "add", "mul")}
    c.emit("Div", [x, c.const("sqrt2", math.sqrt(2.0))], [t["div"]], suffix="div")
    c.emit("Erf", [t["div"]], [t["erf"]], suffix="erf")
    c.emit("Add", [t["erf"], c.const("one", 1.0)], [t["add"]], suffix="add")
    c.emit("Mul", [x, t["add"]], [t["mul"]], suffix="mul")
    c.emit("Mul", [t["mul"], c.const("half", 0.5)])


def _silu(c: Ctx, ins: list[str]) -> None:
    sig = c.tmp("sigmoid")
    c.emit("Sigmoid", [ins[0]], [sig], suffix="sigmoid")
    c.emit("Mul", [ins[0], sig])


#: PyTorch's hard sigmoid, relu6(x + 3) / 6, as ONNX's HardSigmoid max(0, min(1, alpha*x + beta))
#: (whose own defaults, alpha = 0.2 and beta = 0.5, are Keras's, not PyTorch's).
_HARD_SIGMOID_ALPHA = 1.0 / 6.0
_HARD_SIGMOID_BETA = 0.5


def _hardsigmoid(c: Ctx, ins: list[str]) -> None:
    c.emit("HardSigmoid", [ins[0]], alpha=_HARD_SIGMOID_ALPHA, beta=_HARD_SIGMOID_BETA)


def _hardswish(c: Ctx, ins: list[str]) -> None:
    """x * hardsigmoid(x): ONNX's HardSwish from opset 14, the same product before it."""
    if c.opset >= 14:
        c.emit("HardSwish", [ins[0]])
        return
    gate = c.tmp("hardsigmoid")
    c.emit(
        "HardSigmoid",
        [ins[0]],
        [gate],
        suffix="hardsigmoid",
        alpha=_HARD_SIGMOID_ALPHA,
        beta=_HARD_SIGMOID_BETA,
    )
    c.emit("Mul", [ins[0], gate])


def _leaky_relu(c: Ctx, ins: list[str]) -> None:
    c.emit("LeakyRelu", [ins[0]], alpha=float(c.a["slope"]))


def _softmax(c: Ctx, ins: list[str]) -> None:
    dim = c.a["dim"]
    if dim != len(c.shape):  # before opset 13 Softmax flattened everything after `axis`
        c.need(13, f"softmax over dimension {dim} of a {len(c.shape) + 1}-D tensor")
    c.emit("Softmax", [ins[0]], axis=dim)


def _identity(c: Ctx, ins: list[str]) -> None:
    c.alias(ins[0])


def _flatten(c: Ctx, ins: list[str]) -> None:
    if len(c.g.shape(c.g.inputs(c.n)[0])) == 1:
        c.alias(ins[0])  # already N×F
    else:
        c.emit("Flatten", [ins[0]], axis=1)


def _scale(c: Ctx, ins: list[str]) -> None:
    c.emit("Mul", [ins[0], c.const("s", c.a["s"])])


def _concat(c: Ctx, ins: list[str]) -> None:
    if len(ins) == 1:
        c.alias(ins[0])
    else:
        c.emit("Concat", ins, axis=1)


def _add(c: Ctx, ins: list[str]) -> None:
    if len(ins) == 1:
        c.alias(ins[0])
    else:
        c.emit("Add" if len(ins) == 2 else "Sum", ins)


def _mul(c: Ctx, ins: list[str]) -> None:
    """`a * b * c` as a chain of binary `Mul`s, left to right as PyTorch evaluates it; ONNX's
    multidirectional broadcasting spreads an N×C×1×1 gate over N×C×H×W."""
    if len(ins) == 1:
        c.alias(ins[0])
        return
    shapes = [c.g.shape(i) for i in c.g.inputs(c.n)]
    acc, acc_shape = ins[0], shapes[0]
    for k, (name, shape) in enumerate(zip(ins[1:], shapes[1:], strict=True), 1):
        acc_shape = max(acc_shape, shape, key=math.prod)  # a gate, or the full shape
        if k == len(ins) - 1:
            c.emit("Mul", [acc, name])
        else:
            out = c.tmp(f"mul_{k}")
            c.emit("Mul", [acc, name], [out], [acc_shape], suffix=f"mul_{k}")
            acc = out


def _slice(c: Ctx, ins: list[str]) -> None:
    group = c.split_of.get(c.n)
    if group is None:  # a lone slice
        a = c.a
        c.emit(
            "Slice",
            [
                ins[0],
                c.const("starts", [a["start"]], np.int64),
                c.const("ends", [a["end"]], np.int64),
                c.const("axes", [1], np.int64),
            ],
        )
        return
    if not group:  # a later slice of a partition: the Split of the first one made it
        return
    # slices that cut one tensor's channels into consecutive pieces: one Split
    sizes = [c.g.attrs(s)["end"] - c.g.attrs(s)["start"] for s in group]
    outs = [c.names[s] for s in group]
    shapes = [c.g.shape(s) for s in group]
    name = f"{c.g.scope(c.g.inputs(c.n)[0])}.split"  # after the tensor it cuts
    if c.opset >= 13:
        c.emit(
            "Split",
            [ins[0], c.const("split", sizes, np.int64)],
            outs,
            shapes,
            node_name=name,
            axis=1,
        )
    else:
        c.emit("Split", [ins[0]], outs, shapes, node_name=name, axis=1, split=sizes)


LOWER: dict[str, Lowering] = {
    "input": _input,
    "conv": _conv,
    "batchnorm": _batchnorm,
    "linear": _linear,
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "global_avgpool": _global_avgpool,
    "adaptive_avgpool": _adaptive_avgpool,
    "lrn": _lrn,
    "relu": _unary("Relu"),
    "relu6": _relu6,
    "gelu": _gelu,
    "silu": _silu,
    "sigmoid": _unary("Sigmoid"),
    "tanh": _unary("Tanh"),
    "hardswish": _hardswish,
    "hardsigmoid": _hardsigmoid,
    "leaky_relu": _leaky_relu,
    "softmax": _softmax,
    "dropout": _identity,  # inference: the identity
    "flatten": _flatten,
    "scale": _scale,
    "concat": _concat,
    "add": _add,
    "mul": _mul,
    "slice": _slice,
    **V2_LOWER,
}
