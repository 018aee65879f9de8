"""The surface ops' signatures (LANGUAGE.md section 5): each op's arguments with their kinds,
defaults and valid ranges, its aliases and the rules between its arguments. The loader resolves
op names with `canonical_op`; elaboration checks calls against `SIGNATURES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from incept_dsl.text import fmt_shape

#: The activation ops (each an IR op of the same name, whose attributes are its arguments below;
#: `act=` arguments take one or "none"). v1's six, then v2's (LANGUAGE.md section 11).
ACTIVATIONS = (
    "relu",
    "relu6",
    "gelu",
    "silu",
    "sigmoid",
    "tanh",
    "hardswish",
    "hardsigmoid",
    "leaky_relu",
)

# ---- surface signatures ------------------------------------------------------------------------
REQUIRED = object()

#: The smallest positive normal float32. A smaller `eps` or `k` becomes 0 (or a subnormal, which
#: flush-to-zero CPU kernels treat as 0) in float32 arithmetic and ONNX's float attributes, and
#: the layer divides by zero.
FLOAT32_TINY = 1.1754943508222875e-38
#: The largest finite float32.
FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class Range:
    """The valid values of a numeric argument (each component of a pair): `lo <= v <= hi`, with
    `<` on an open end; `None` leaves that end unbounded. NaN and infinities are never valid.

    `text` completes "must be ..." in the error message; `why` (the hint) says what PyTorch or
    onnxruntime would do with a value outside the range.
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    text: str = ""
    why: str | None = None

    def accepts(self, value: float) -> bool:
        """Whether `value` is finite and inside the range."""
        if not math.isfinite(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return not (self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi))


@dataclass(frozen=True)
class Constraint:
    """A rule over several arguments of one op, checked once all of `args` have known values.

    `problem` takes their canonical values (in the order of `args`) and returns what is wrong, in
    words, or None when they fit together.
    """

    args: tuple[str, ...]
    problem: Callable[..., str | None]
    hint: str | None = None


@dataclass(frozen=True)
class Arg:
    """One argument of a surface op: name, kind (how values are read: `incept_dsl.ir.args`),
    default, and the range of valid values (None: every value of the kind)."""

    name: str
    kind: str
    default: Any = REQUIRED
    valid: Range | None = None


@dataclass(frozen=True)
class Signature:
    """A surface op: its arguments, aliases, a one-line doc, the rules between its arguments, and
    whether its output has its input's shape for every argument value (`keeps_shape`: after a
    mistake in its arguments the elements after it can still be shape-checked)."""

    name: str
    args: tuple[Arg, ...]
    aliases: tuple[str, ...] = ()
    doc: str = ""
    constraints: tuple[Constraint, ...] = ()
    keeps_shape: bool = False
    arg_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arg_names", tuple(a.name for a in self.args))


_ACT_DEFAULT = "none"

# ---- valid ranges and rules between arguments (PyTorch and onnxruntime would fail, or give inf
# or NaN, outside them) -------------------------------------------------------------------------
_BN_EPS = Range(
    FLOAT32_TINY,
    text="positive (at least 1.2e-38, the smallest normal float32)",
    why="batch norm divides by sqrt(variance + eps): with eps <= 0 a constant channel "
    "gives inf or NaN (PyTorch refuses eps <= 0 in training)",
)
_GN_EPS = Range(
    FLOAT32_TINY,
    text="positive (at least 1.2e-38, the smallest normal float32)",
    why="group norm divides by sqrt(variance + eps): with eps <= 0 a constant group gives inf "
    "or NaN",
)
_MOMENTUM = Range(
    0.0,
    1.0,
    text="in [0, 1]",
    why="the running statistics become (1 - momentum) * old + momentum * batch",
)
_LRN_ALPHA = Range(
    0.0,
    text="at least 0",
    why="a negative alpha can make k + alpha/size * sum(x^2) negative or zero: inf or NaN",
)
_LRN_K = Range(
    FLOAT32_TINY,
    text="positive (at least 1.2e-38, the smallest normal float32)",
    why="lrn divides by (k + alpha/size * sum(x^2))^beta, which is 0 for a zero input when k = 0",
)
_PROBABILITY = Range(
    0.0, 1.0, text="a probability in [0, 1]", why="PyTorch's dropout takes 0 <= p <= 1"
)
#: The arguments and one-line docs of the activations that have them (the others take none).
_ACT_ARGS: dict[str, tuple[Arg, ...]] = {
    # any finite slope (the 10**12 bound on values applies), negative too, as PyTorch allows
    "leaky_relu": (Arg("slope", "float", 0.01),),
}
_ACT_DOCS = {
    "hardswish": "hard swish activation: x * relu6(x + 3) / 6 (MobileNetV3)",
    "hardsigmoid": "hard sigmoid activation: relu6(x + 3) / 6 (MobileNetV3)",
    "leaky_relu": "leaky ReLU activation: x where x >= 0, slope * x below",
}
_DROP_P = Range(
    0.0,
    1.0,
    text="a probability in [0, 1]",
    why="torchvision's StochasticDepth takes 0 <= p <= 1",
)
_UPSAMPLE_SCALE = Range(
    1.0,
    text="at least 1",
    why="upsample enlarges (floor(side * scale) pixels a side); to shrink, give size = HxW",
)


def _one_of_scale_and_size(scale: Any, size: Any) -> str | None:
    if (scale is None) == (size is None):
        return "upsample takes exactly one of 'scale' and 'size'" + (
            "; got both" if scale is not None else "; got neither"
        )
    return None


def _corners_need_bilinear(mode: str, align_corners: bool) -> str | None:
    if align_corners and mode != "bilinear":
        return f"align_corners = true needs mode = bilinear; got mode = {mode}"
    return None


_SOFTMAX_DIM = Range(
    1,
    3,
    text="1 (channels or features), 2 or 3 (height or width)",
    why="dim 0 is the batch; tensors are N×C×H×W or N×F",
)


def _lrn_power(k: float, beta: float) -> str | None:
    """k^beta bounds the denominator of lrn for small inputs: it must be a normal float32."""
    log = beta * math.log(k)
    if not math.log(FLOAT32_TINY) <= log <= math.log(FLOAT32_MAX):
        return (
            f"lrn's k^beta = {k:g}^{beta:g} is outside the float32 range "
            "[1.2e-38, 3.4e38]: the layer would divide by 0 or by inf"
        )
    return None


def _pool_padding(kernel: Any, padding: Any) -> str | None:
    """Pooling pads at most half the window (PyTorch and ONNX refuse more)."""
    if not (isinstance(kernel, tuple) and isinstance(padding, tuple)):
        return None  # avgpool(global), padding = same/valid: nothing to compare
    if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        return (
            f"pooling padding {fmt_shape(padding)} is more than half the {fmt_shape(kernel)} window"
        )
    return None


_POOL_PADDING = Constraint(
    ("kernel", "padding"),
    _pool_padding,
    hint="PyTorch and ONNX require padding <= kernel // 2 for pooling",
)

SIGNATURES: dict[str, Signature] = {
    s.name: s
    for s in [
        Signature(
            "conv",
            (
                Arg("out", "count"),
                Arg("kernel", "pair"),
                Arg("stride", "pair", 1),
                Arg("padding", "padding", "same"),
                Arg("dilation", "pair", 1),
                Arg("groups", "count", 1),
                Arg("bias", "bias", "auto"),
                Arg("bn", "bool", False),
                Arg("act", "act", _ACT_DEFAULT),
            ),
            doc="2-D convolution, optionally followed by batch norm and an activation",
        ),
        Signature(
            "linear",
            (Arg("out", "count"), Arg("bias", "bool", True), Arg("act", "act", _ACT_DEFAULT)),
            aliases=("fc",),
            doc="fully connected layer on N×F tensors",
        ),
        Signature(
            "maxpool",
            (
                Arg("kernel", "pair"),
                Arg("stride", "pair", "kernel"),
                Arg("padding", "padding", "same"),
                Arg("ceil", "bool", False),
            ),
            doc="max pooling",
            constraints=(_POOL_PADDING,),
        ),
        Signature(
            "avgpool",
            (
                Arg("kernel", "pool_kernel"),
                Arg("stride", "pair", "kernel"),
                Arg("padding", "padding", "same"),
                Arg("ceil", "bool", False),
                Arg("count_include_pad", "bool", True),
            ),
            doc="average pooling; avgpool(global) pools to C×1×1",
            constraints=(_POOL_PADDING,),
        ),
        Signature("adaptive_avgpool", (Arg("size", "pair"),), doc="adaptive average pooling"),
        Signature(
            "batchnorm",
            (Arg("eps", "float", 1e-5, _BN_EPS), Arg("momentum", "float", 0.1, _MOMENTUM)),
            aliases=("bn",),
            doc="batch normalisation over channels",
            keeps_shape=True,
        ),
        Signature(
            "lrn",
            (
                Arg("size", "count", 5),
                Arg("alpha", "float", 1e-4, _LRN_ALPHA),
                Arg("beta", "float", 0.75),
                Arg("k", "float", 1.0, _LRN_K),
            ),
            doc="local response normalisation (PyTorch's definition)",
            constraints=(
                Constraint(
                    ("k", "beta"), _lrn_power, hint="keep k near 1 (AlexNet: k = 2, beta = 0.75)"
                ),
            ),
            keeps_shape=True,
        ),
        *(
            Signature(
                a,
                _ACT_ARGS.get(a, ()),
                doc=_ACT_DOCS.get(a, f"{a} activation"),
                keeps_shape=True,
            )
            for a in ACTIVATIONS
        ),
        Signature("identity", (), doc="passes its input through", keeps_shape=True),
        Signature(
            "softmax",
            (Arg("dim", "int", 1, _SOFTMAX_DIM),),
            doc="softmax over a dimension",
            keeps_shape=True,
        ),
        Signature(
            "dropout",
            (Arg("p", "float", 0.5, _PROBABILITY),),
            doc="dropout (training only)",
            keeps_shape=True,
        ),
        Signature("flatten", (), doc="C×H×W -> C·H·W"),
        Signature("scale", (Arg("s", "float"),), doc="multiplies by a constant", keeps_shape=True),
        Signature(
            "expect", (Arg("shape", "shape"),), doc="compile-time assertion on the current shape"
        ),
        Signature(
            "channel_shuffle",
            (Arg("groups", "count"),),
            doc="ShuffleNet's channel shuffle: C = groups × (C/groups) channels read transposed",
            keeps_shape=True,
        ),
        Signature(
            "layer_scale",
            (Arg("init", "float", 1e-6),),
            doc="a learned per-channel multiplier, initialised to init (ConvNeXt, CaiT)",
            keeps_shape=True,
        ),
        Signature(
            "groupnorm",
            (Arg("groups", "count"), Arg("eps", "float", 1e-5, _GN_EPS)),
            doc="group normalisation of images (nn.GroupNorm): channels in `groups` groups, "
            "learned weight and bias per channel",
            keeps_shape=True,
        ),
        Signature(
            "stochastic_depth",
            (Arg("p", "float", REQUIRED, _DROP_P), Arg("mode", "drop_mode", "row")),
            doc="drops its input per sample (row) or per batch (batch) with probability p in "
            "training, scaling survivors by 1/(1-p); the identity in evaluation (torchvision's "
            "StochasticDepth)",
            keeps_shape=True,
        ),
        Signature(
            "upsample",
            (
                Arg("scale", "float", "none", _UPSAMPLE_SCALE),
                Arg("size", "pair", "none"),
                Arg("mode", "resize_mode", "nearest"),
                Arg("align_corners", "bool", False),
            ),
            doc="resizes images (F.interpolate) by a factor `scale` or to `size` HxW, nearest or "
            "bilinear",
            constraints=(
                Constraint(
                    ("scale", "size"),
                    _one_of_scale_and_size,
                    hint="write upsample(scale = 2) or upsample(size = 32x32)",
                ),
                Constraint(
                    ("mode", "align_corners"),
                    _corners_need_bilinear,
                    hint="nearest has no corners to align (PyTorch refuses align_corners there)",
                ),
            ),
        ),
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
