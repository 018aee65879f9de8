"""The op table: every IR op's attribute schema, shape rule and parameter count, and every surface
op's signature (LANGUAGE.md section 5).

Shapes exclude the batch dimension: images are ``(C, H, W)``, flat tensors ``(F,)``. A shape rule
takes the attrs and the input shapes and returns the output shape, or raises `ShapeProblem` with a
message in words (the caller adds the source location).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]


class ShapeProblem(Exception):
    """A shape rule's complaint; elaboration turns it into a located `InceptShapeError`."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


def fmt_shape(shape: Sequence[int]) -> str:
    return "×".join(str(d) for d in shape)


def _need_image(op: str, shape: Shape) -> None:
    if len(shape) != 3:
        raise ShapeProblem(
            f"{op} needs an image tensor C×H×W; got the flat tensor {fmt_shape(shape)}",
        )


def conv_out(size: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """PyTorch's output-size rule for convolution and pooling along one axis."""
    eff = d * (k - 1) + 1
    num = size + 2 * p - eff
    if num < 0:
        return 0
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input or the left padding
    return out


# ---- shape rules -------------------------------------------------------------------------------
def _conv_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    _need_image("conv", x)
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


def _pool_shape(op: str) -> Callable[[dict[str, Any], list[Shape]], Shape]:
    def rule(a: dict[str, Any], ins: list[Shape]) -> Shape:
        (x,) = ins
        _need_image(op, x)
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


def _same(op: str, image: bool = False) -> Callable[[dict[str, Any], list[Shape]], Shape]:
    def rule(a: dict[str, Any], ins: list[Shape]) -> Shape:
        (x,) = ins
        if image:
            _need_image(op, x)
        return x

    return rule


def _bn_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    if x[0] != a["num_features"]:
        raise ShapeProblem(f"batchnorm expects {a['num_features']} channels; got {x[0]}")
    return x


def _linear_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    if len(x) != 1:
        raise ShapeProblem(
            f"linear needs a flat tensor N×F; got the image tensor {fmt_shape(x)}",
            hint="insert `-> flatten ->` (or `avgpool(global) -> flatten`) before it",
        )
    if x[0] != a["in_features"]:
        raise ShapeProblem(f"linear expects {a['in_features']} features; got {x[0]}")
    return (a["out_features"],)


def _global_pool_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    _need_image("avgpool(global)", x)
    return (x[0], 1, 1)


def _adaptive_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    _need_image("adaptive_avgpool", x)
    return (x[0], *a["size"])


def _flatten_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    return (math.prod(x),)


def _softmax_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    if not 1 <= a["dim"] <= len(x):
        raise ShapeProblem(f"softmax dim {a['dim']} is out of range for {fmt_shape(x)} tensors "
                           f"(dim 0 is the batch)")
    return x


def _concat_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    ranks = {len(s) for s in ins}
    if len(ranks) != 1:
        raise ShapeProblem("concat mixes image and flat tensors: "
                           + ", ".join(fmt_shape(s) for s in ins))
    if len({s[1:] for s in ins}) != 1:
        raise ShapeProblem("concat needs equal spatial sizes; got "
                           + ", ".join(fmt_shape(s) for s in ins))
    return (sum(s[0] for s in ins), *ins[0][1:])


def _add_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    if len(set(ins)) != 1:
        raise ShapeProblem("add needs equal shapes; got " + ", ".join(fmt_shape(s) for s in ins))
    return ins[0]


def _slice_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    (x,) = ins
    if not 0 <= a["start"] < a["end"] <= x[0]:
        raise ShapeProblem(f"slice {a['start']}:{a['end']} is outside {x[0]} channels")
    return (a["end"] - a["start"], *x[1:])


def _input_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    return tuple(a["shape"])


# ---- parameter counts --------------------------------------------------------------------------
def _conv_params(a: dict[str, Any]) -> tuple[int, int]:
    w = a["out_channels"] * (a["in_channels"] // a["groups"]) * a["kernel"][0] * a["kernel"][1]
    return w + (a["out_channels"] if a["bias"] else 0), 0


def _bn_params(a: dict[str, Any]) -> tuple[int, int]:
    return 2 * a["num_features"], 2 * a["num_features"] + 1  # running mean/var, num_batches


def _linear_params(a: dict[str, Any]) -> tuple[int, int]:
    return a["in_features"] * a["out_features"] + (a["out_features"] if a["bias"] else 0), 0


def _no_params(a: dict[str, Any]) -> tuple[int, int]:
    return 0, 0


@dataclass(frozen=True)
class IROp:
    """An IR op: attribute names in schema order, shape rule, (parameters, buffers) count."""

    name: str
    attrs: tuple[str, ...]
    shape: Callable[[dict[str, Any], list[Shape]], Shape]
    params: Callable[[dict[str, Any]], tuple[int, int]] = _no_params
    arity: int | None = 1  # None: any number (>= 1)
    family: str = "other"  # conv | norm | pool | act | linear | join | reshape | other


ACTIVATIONS = ("relu", "relu6", "gelu", "silu", "sigmoid", "tanh")

OPS: dict[str, IROp] = {
    op.name: op
    for op in [
        IROp("input", ("name", "shape"), _input_shape, arity=0, family="io"),
        IROp("conv", ("in_channels", "out_channels", "kernel", "stride", "padding", "dilation",
                      "groups", "bias"), _conv_shape, _conv_params, family="conv"),
        IROp("batchnorm", ("num_features", "eps", "momentum"), _bn_shape, _bn_params,
             family="norm"),
        IROp("linear", ("in_features", "out_features", "bias"), _linear_shape, _linear_params,
             family="linear"),
        IROp("maxpool", ("kernel", "stride", "padding", "ceil"), _pool_shape("maxpool"),
             family="pool"),
        IROp("avgpool", ("kernel", "stride", "padding", "ceil", "count_include_pad"),
             _pool_shape("avgpool"), family="pool"),
        IROp("global_avgpool", (), _global_pool_shape, family="pool"),
        IROp("adaptive_avgpool", ("size",), _adaptive_shape, family="pool"),
        IROp("lrn", ("size", "alpha", "beta", "k"), _same("lrn", image=True), family="norm"),
        *(IROp(a, (), _same(a), family="act") for a in ACTIVATIONS),
        IROp("softmax", ("dim",), _softmax_shape, family="act"),
        IROp("dropout", ("p",), _same("dropout"), family="other"),
        IROp("flatten", (), _flatten_shape, family="reshape"),
        IROp("scale", ("s",), _same("scale"), family="other"),
        IROp("concat", (), _concat_shape, arity=None, family="join"),
        IROp("add", (), _add_shape, arity=None, family="join"),
        IROp("slice", ("start", "end"), _slice_shape, family="reshape"),
    ]
}


def infer_shape(op: str, attrs: dict[str, Any], in_shapes: list[Shape]) -> Shape:
    """The output shape of `op` on `in_shapes`; raises `ShapeProblem` when they do not fit."""
    spec = OPS[op]
    if spec.arity is not None and len(in_shapes) != spec.arity:
        raise ShapeProblem(f"{op} takes {spec.arity} input(s); got {len(in_shapes)}")
    if spec.arity is None and not in_shapes:
        raise ShapeProblem(f"{op} needs at least one input")
    return spec.shape(attrs, list(in_shapes))


def param_count(op: str, attrs: dict[str, Any]) -> tuple[int, int]:
    """(trainable parameters, buffer elements) of one node, as PyTorch counts them."""
    return OPS[op].params(attrs)


# ---- surface signatures ------------------------------------------------------------------------
REQUIRED = object()


@dataclass(frozen=True)
class Arg:
    """One argument of a surface op: name, kind (how values are checked), default."""

    name: str
    kind: str
    default: Any = REQUIRED


@dataclass(frozen=True)
class Signature:
    name: str
    args: tuple[Arg, ...]
    aliases: tuple[str, ...] = ()
    doc: str = ""
    arg_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arg_names", tuple(a.name for a in self.args))


_ACT_DEFAULT = "none"

SIGNATURES: dict[str, Signature] = {
    s.name: s
    for s in [
        Signature("conv", (
            Arg("out", "count"), Arg("kernel", "pair"), Arg("stride", "pair", 1),
            Arg("padding", "padding", "same"), Arg("dilation", "pair", 1),
            Arg("groups", "count", 1), Arg("bias", "bias", "auto"), Arg("bn", "bool", False),
            Arg("act", "act", _ACT_DEFAULT),
        ), doc="2-D convolution, optionally followed by batch norm and an activation"),
        Signature("linear", (Arg("out", "count"), Arg("bias", "bool", True),
                             Arg("act", "act", _ACT_DEFAULT)), aliases=("fc",),
                  doc="fully connected layer on N×F tensors"),
        Signature("maxpool", (Arg("kernel", "pair"), Arg("stride", "pair", "kernel"),
                              Arg("padding", "padding", "same"), Arg("ceil", "bool", False)),
                  doc="max pooling"),
        Signature("avgpool", (Arg("kernel", "pool_kernel"), Arg("stride", "pair", "kernel"),
                              Arg("padding", "padding", "same"), Arg("ceil", "bool", False),
                              Arg("count_include_pad", "bool", True)),
                  doc="average pooling; avgpool(global) pools to C×1×1"),
        Signature("adaptive_avgpool", (Arg("size", "pair"),), doc="adaptive average pooling"),
        Signature("batchnorm", (Arg("eps", "float", 1e-5), Arg("momentum", "float", 0.1)),
                  aliases=("bn",), doc="batch normalisation over channels"),
        Signature("lrn", (Arg("size", "count", 5), Arg("alpha", "float", 1e-4),
                          Arg("beta", "float", 0.75), Arg("k", "float", 1.0)),
                  doc="local response normalisation (PyTorch's definition)"),
        *(Signature(a, (), doc=f"{a} activation") for a in ACTIVATIONS),
        Signature("identity", (), doc="passes its input through"),
        Signature("softmax", (Arg("dim", "int", 1),), doc="softmax over a dimension"),
        Signature("dropout", (Arg("p", "prob", 0.5),), doc="dropout (training only)"),
        Signature("flatten", (), doc="C×H×W -> C·H·W"),
        Signature("scale", (Arg("s", "float"),), doc="multiplies by a constant"),
        Signature("expect", (Arg("shape", "shape"),),
                  doc="compile-time assertion on the current shape"),
    ]
}

ALIASES: dict[str, str] = {alias: s.name for s in SIGNATURES.values() for alias in s.aliases}


def canonical_op(name: str) -> str | None:
    """The canonical surface op for `name` (resolving aliases), or None if it is no op."""
    if name in SIGNATURES:
        return name
    return ALIASES.get(name)


def surface_op_names() -> list[str]:
    return sorted([*SIGNATURES, *ALIASES])
