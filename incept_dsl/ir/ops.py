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
        raise ShapeProblem(
            f"softmax dim {a['dim']} is out of range for {fmt_shape(x)} tensors "
            f"(dim 0 is the batch)"
        )
    return x


def _concat_shape(a: dict[str, Any], ins: list[Shape]) -> Shape:
    ranks = {len(s) for s in ins}
    if len(ranks) != 1:
        raise ShapeProblem(
            "concat mixes image and flat tensors: " + ", ".join(fmt_shape(s) for s in ins)
        )
    if len({s[1:] for s in ins}) != 1:
        raise ShapeProblem(
            "concat needs equal spatial sizes; got " + ", ".join(fmt_shape(s) for s in ins)
        )
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
        IROp(
            "conv",
            (
                "in_channels",
                "out_channels",
                "kernel",
                "stride",
                "padding",
                "dilation",
                "groups",
                "bias",
            ),
            _conv_shape,
            _conv_params,
            family="conv",
        ),
        IROp(
            "batchnorm", ("num_features", "eps", "momentum"), _bn_shape, _bn_params, family="norm"
        ),
        IROp(
            "linear",
            ("in_features", "out_features", "bias"),
            _linear_shape,
            _linear_params,
            family="linear",
        ),
        IROp(
            "maxpool",
            ("kernel", "stride", "padding", "ceil"),
            _pool_shape("maxpool"),
            family="pool",
        ),
        IROp(
            "avgpool",
            ("kernel", "stride", "padding", "ceil", "count_include_pad"),
            _pool_shape("avgpool"),
            family="pool",
        ),
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
        *(Signature(a, (), doc=f"{a} activation", keeps_shape=True) for a in ACTIVATIONS),
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
