"""Cost rules: multiply-adds (MACs) per IR op; each entry of the op table (`incept_dsl.ir.ops.OPS`)
names its rule.

A rule takes the node's attrs, its input shapes and its output shape (without the batch dimension)
and returns the multiply-adds of one sample. Conventions (the lecture's; stated in every table):

- a MAC is one multiply-add; FLOPs = 2 × MACs;
- conv: ``Cout·H'·W'·(Cin/groups)·kh·kw``, transposed conv like a conv over the input positions
  ``Cin·H·W·(Cout/groups)·kh·kw``, and linear: ``in·out``, ``L·in·out`` on L tokens (biases are not
  counted);
- attention: its projections ``4·L·D²`` (query, key, value, out) and its two ``L×L×D`` products
  (scores and the weighted sum) ``2·L²·D``;
- pooling: ``C·H'·W'·kh·kw`` (one op per window element; global and adaptive pooling sum their
  windows exactly);
- element-wise work is listed with its own count rather than dropped: batch norm ``C·H·W`` (one
  multiply-add per element at inference; group and layer norm likewise), LRN ``C·H·W·size`` (the squares
  summed over the channel window), scale and layer_scale ``C·H·W``, an n-input add
  ``(n-1)·C·H·W``, an n-input mul ``(n-1)·C·H·W`` of its output (a C×1×1 gate broadcast over
  C×H×W costs one multiply per output element), a position table's add ``L·D``, bilinear upsampling ``C·H'·W'`` (one per output
  element);
- activations, softmax, dropout, stochastic depth, flatten, slice, crop, concat, channel_shuffle
  and nearest upsampling, tokens, the class token and select cost 0 MACs (they are still rows).

Activation memory is not a rule: it is the output tensor's elements × 4 bytes (fp32) for every op.
The outputs of view ops (`IROp.view`) are views of their input in PyTorch: tables list their size, but totals
do not count that memory a second time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from incept_dsl.ir.shapes import Shape

MacRule = Callable[[dict[str, Any], list[Shape], Shape], int]

#: bytes per activation element (fp32)
BYTES_PER_ELEMENT = 4


@dataclass(frozen=True)
class CostRule:
    """How one op is counted: `formula` (printed under the tables) and `macs`."""

    formula: str
    macs: MacRule


def _conv(a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    kh, kw = a["kernel"]
    return math.prod(out) * (a["in_channels"] // a["groups"]) * kh * kw


def _linear(a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    return math.prod(ins[0][:-1]) * a["in_features"] * a["out_features"]  # per token on L×D


def _pool(a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    kh, kw = a["kernel"]
    return math.prod(out) * kh * kw


def _window_sum(size: int, out: int) -> int:
    """Total window length of PyTorch's adaptive pooling along one axis (windows may overlap)."""
    return sum(-(-(i + 1) * size // out) - (i * size // out) for i in range(out))


def _adaptive(a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    c, h, w = ins[0]
    return c * _window_sum(h, out[1]) * _window_sum(w, out[2])


def _elements(a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    return math.prod(out)


def _input_elements(a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    return math.prod(ins[0])


def _lrn(a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    return math.prod(out) * a["size"]


def _add(a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    return (len(ins) - 1) * math.prod(out)


def _free(a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    return 0


INPUT = CostRule("0 (not a layer)", _free)
CONV = CostRule("Cout·H'·W'·(Cin/groups)·kh·kw", _conv)
LINEAR = CostRule("in·out", _linear)
BATCHNORM = CostRule("C·H·W (y = a·x + b per element)", _elements)
POOL = CostRule("C·H'·W'·kh·kw", _pool)
GLOBAL_POOL = CostRule("C·H·W (one H×W window per channel)", _input_elements)
ADAPTIVE_POOL = CostRule("C·(sum of the window sizes)", _adaptive)
LRN = CostRule("C·H·W·size (squares summed over the channel window)", _lrn)
ACTIVATION = CostRule("0 (no multiply-add; listed)", _free)
SOFTMAX = CostRule("0 (listed)", _free)
DROPOUT = CostRule("0 (identity at inference)", _free)
FLATTEN = CostRule("0 (a view)", _free)
SCALE = CostRule("C·H·W (one multiply per element)", _elements)
CONCAT = CostRule("0 (a copy)", _free)
ADD = CostRule("(n-1)·C·H·W for n inputs", _add)
MUL = CostRule("(n-1)·C·H·W of the output for n inputs (a gate broadcasts)", _add)
SLICE = CostRule("0 (a view)", _free)
CHANNEL_SHUFFLE = CostRule("0 (a copy)", _free)


def _upsample(a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    return math.prod(out) if a["mode"] == "bilinear" else 0


UPSAMPLE = CostRule("C·H'·W' for bilinear (one per output element), 0 for nearest", _upsample)
CROP = CostRule("0 (a view)", _free)
LAYER_SCALE = CostRule("C·H·W (one multiply per element)", _elements)


def memory_bytes(out_shape: Shape) -> int:
    """Bytes of one sample's output tensor in fp32."""
    return math.prod(out_shape) * BYTES_PER_ELEMENT


def _conv_transpose(a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    kh, kw = a["kernel"]
    return math.prod(ins[0]) * (a["out_channels"] // a["groups"]) * kh * kw


def _attention(a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    length, d = ins[0]
    return 4 * length * d * d + 2 * length * length * d


CONV_TRANSPOSE = CostRule("Cin·H·W·(Cout/groups)·kh·kw (a conv over the input)", _conv_transpose)
LAYERNORM = CostRule("C·H·W (y = a·x + b per element)", _elements)
TOKENS = CostRule("0 (a view)", _free)
CLASS_TOKEN = CostRule("0 (a copy)", _free)
POS_EMBEDDING = CostRule("L·D (one add per element)", _elements)
ATTENTION = CostRule("4·L·D² (projections) + 2·L²·D (scores, weighted sum)", _attention)
SELECT = CostRule("0 (a view)", _free)
