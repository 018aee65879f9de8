"""The surface ops' signatures (LANGUAGE.md section 5): each op's arguments with their kinds,
defaults and valid ranges, its aliases and the rules between its arguments. The loader resolves
op names with `canonical_op`; elaboration checks calls against `SIGNATURES`.
"""

from __future__ import annotations

import math
from typing import Any

from incept_dsl.frontend.op_spec import (
    FLOAT32_MAX,
    FLOAT32_TINY,
    REQUIRED,
    Arg,
    Constraint,
    Range,
    Signature,
)
from incept_dsl.frontend.signatures_v2 import V2_SIGNATURES
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

__all__ = ["FLOAT32_MAX", "FLOAT32_TINY", "REQUIRED", "Arg", "Constraint", "Range", "Signature"]

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
        *V2_SIGNATURES,
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
