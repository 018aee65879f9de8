"""The op table: every IR op's facts in one place (LANGUAGE.md section 5).

For each op: its attribute schema, shape rule (`incept_dsl.ir.shapes`), parameter count, the
tensors of its state_dict, its cost rule (`incept_dsl.ir.costs`) and its figure family.
Elaboration, the passes and every backend read this table; `tests/ir/test_op_table.py` checks that
every op has a lowering in every backend.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from incept_dsl.errors import CompilerBug
from incept_dsl.frontend.signatures import ACTIVATIONS, SIGNATURES
from incept_dsl.ir import costs as C
from incept_dsl.ir import op_state as S
from incept_dsl.ir.costs import CostRule

if TYPE_CHECKING:
    from incept_dsl.ir.graph import Graph
from incept_dsl.ir.op_state import BUFFERS, Tensors
from incept_dsl.ir.shapes import (
    Shape,
    ShapeProblem,
    adaptive_shape,
    add_shape,
    bn_shape,
    channel_shuffle_shape,
    concat_shape,
    conv_shape,
    conv_transpose_shape,
    crop_shape,
    flatten_shape,
    global_pool_shape,
    groupnorm_shape,
    input_shape,
    layer_scale_shape,
    layernorm_shape,
    linear_shape,
    mul_shape,
    pool_shape,
    same,
    slice_shape,
    softmax_shape,
    upsample_shape,
)
from incept_dsl.ir.shapes_tokens import (
    attention_shape,
    class_token_shape,
    pos_embedding_shape,
    select_shape,
    tokens_shape,
)


@dataclass(frozen=True)
class IROp:
    """Everything the compiler knows of one IR op.

    `attrs`: attribute names in schema order; `shape`: the shape rule; `cost`: the MAC rule
    (`incept_dsl.ir.costs`); `tensors`: the names of its state_dict entries, as PyTorch names
    them, and `state(attrs)`: those present, with their shapes (a bias only when `bias`);
    `title`: its name in figures ("Conv", "MaxPool"); `view`: its output is a view of its input
    (no memory of its own); `arity`: inputs (None: one or more); `family`: its kind in figures.
    """

    name: str
    attrs: tuple[str, ...]
    shape: Callable[[dict[str, Any], list[Shape]], Shape]
    cost: CostRule
    title: str
    tensors: tuple[str, ...] = ()
    state: Callable[[dict[str, Any]], Tensors] = S.no_state
    arity: int | None = 1  # None: any number (>= 1)
    #: conv | norm | pool | act | linear | join | reshape | io | token | attention | other
    family: str = "other"
    view: bool = False

    @property
    def weighted(self) -> bool:
        """Whether the op holds parameters or buffers (a state_dict entry)."""
        return bool(self.tensors)


_WEIGHT_BIAS = ("weight", "bias")

#: Figure titles of the activations (each activation is an op of its own, whose attributes are
#: its surface arguments: `leaky_relu` has `slope`).
_ACT_TITLES = {
    "relu": "ReLU",
    "relu6": "ReLU6",
    "gelu": "GELU",
    "silu": "SiLU",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "hardswish": "Hardswish",
    "hardsigmoid": "Hardsigmoid",
    "leaky_relu": "LeakyReLU",
}
assert tuple(_ACT_TITLES) == ACTIVATIONS

OPS: dict[str, IROp] = {
    op.name: op
    for op in [
        IROp("input", ("name", "shape"), input_shape, C.INPUT, "Input", arity=0, family="io"),
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
            conv_shape,
            C.CONV,
            "Conv",
            _WEIGHT_BIAS,
            S.conv_state,
            family="conv",
        ),
        IROp(
            "linear",
            ("in_features", "out_features", "bias"),
            linear_shape,
            C.LINEAR,
            "FC",
            _WEIGHT_BIAS,
            S.linear_state,
            family="linear",
        ),
        IROp(
            "batchnorm",
            ("num_features", "eps", "momentum"),
            bn_shape,
            C.BATCHNORM,
            "BatchNorm",
            ("weight", "bias", *BUFFERS),
            S.bn_state,
            family="norm",
        ),
        IROp(
            "maxpool",
            ("kernel", "stride", "padding", "ceil"),
            pool_shape("maxpool"),
            C.POOL,
            "MaxPool",
            family="pool",
        ),
        IROp(
            "avgpool",
            ("kernel", "stride", "padding", "ceil", "count_include_pad"),
            pool_shape("avgpool"),
            C.POOL,
            "AvgPool",
            family="pool",
        ),
        IROp(
            "global_avgpool", (), global_pool_shape, C.GLOBAL_POOL, "Global AvgPool", family="pool"
        ),
        IROp(
            "adaptive_avgpool",
            ("size",),
            adaptive_shape,
            C.ADAPTIVE_POOL,
            "Adaptive AvgPool",
            family="pool",
        ),
        IROp(
            "lrn",
            ("size", "alpha", "beta", "k"),
            same("lrn", image=True),
            C.LRN,
            "LocalRespNorm",
            family="norm",
        ),
        *(
            IROp(a, SIGNATURES[a].arg_names, same(a), C.ACTIVATION, title, family="act")
            for a, title in _ACT_TITLES.items()
        ),
        IROp("softmax", ("dim",), softmax_shape, C.SOFTMAX, "Softmax", family="act"),
        IROp("dropout", ("p",), same("dropout"), C.DROPOUT, "Dropout", family="other"),
        IROp("flatten", (), flatten_shape, C.FLATTEN, "Flatten", family="reshape", view=True),
        IROp("scale", ("s",), same("scale"), C.SCALE, "×", family="other"),
        IROp("concat", (), concat_shape, C.CONCAT, "Filter concat", arity=None, family="join"),
        IROp("add", (), add_shape, C.ADD, "+", arity=None, family="join"),
        IROp("mul", (), mul_shape, C.MUL, "×", arity=None, family="join"),
        IROp("slice", ("start", "end"), slice_shape, C.SLICE, "Slice", family="reshape", view=True),
        IROp(
            "channel_shuffle",
            ("groups",),
            channel_shuffle_shape,
            C.CHANNEL_SHUFFLE,
            "Channel Shuffle",
            family="reshape",
        ),
        IROp(
            "layer_scale",
            ("channels", "init"),
            layer_scale_shape,
            C.LAYER_SCALE,
            "LayerScale",
            ("gamma",),
            S.layer_scale_state,
            family="other",
        ),
        IROp(
            "groupnorm",
            ("groups", "num_channels", "eps"),
            groupnorm_shape,
            C.BATCHNORM,  # like batch norm at inference: one multiply-add per element
            "GroupNorm",
            _WEIGHT_BIAS,
            S.gn_state,
            family="norm",
        ),
        IROp(
            "stochastic_depth",
            ("p", "mode"),
            same("stochastic_depth"),
            C.DROPOUT,
            "Stochastic Depth",
            family="other",
        ),
        IROp(
            "upsample",
            ("scale", "size", "mode", "align_corners"),
            upsample_shape,
            C.UPSAMPLE,
            "Upsample",
            family="pool",
        ),
        IROp("crop", ("size", "offset"), crop_shape, C.CROP, "Crop", family="reshape", view=True),
        IROp(
            "conv_transpose",
            (
                "in_channels",
                "out_channels",
                "kernel",
                "stride",
                "padding",
                "output_padding",
                "groups",
                "bias",
            ),
            conv_transpose_shape,
            C.CONV_TRANSPOSE,
            "ConvTranspose",
            _WEIGHT_BIAS,
            S.conv_transpose_state,
            family="conv",
        ),
        IROp(
            "layernorm",
            ("channels", "eps"),
            layernorm_shape,
            C.LAYERNORM,
            "LayerNorm",
            _WEIGHT_BIAS,
            S.ln_state,
            family="norm",
        ),
        IROp("tokens", (), tokens_shape, C.TOKENS, "Tokens", family="reshape", view=True),
        IROp(
            "class_token",
            ("dim",),
            class_token_shape,
            C.CLASS_TOKEN,
            "Class Token",
            ("token",),
            S.class_token_state,
            family="token",
        ),
        IROp(
            "pos_embedding",
            ("length", "dim", "std"),
            pos_embedding_shape,
            C.POS_EMBEDDING,
            "Position Embedding",
            ("embedding",),
            S.pos_embedding_state,
            family="token",
        ),
        IROp(
            "attention",
            ("dim", "heads", "dropout", "bias"),
            attention_shape,
            C.ATTENTION,
            "Multi-Head Attention",
            ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"),
            S.attention_state,
            family="attention",
        ),
        IROp("select", ("index",), select_shape, C.SELECT, "Select", family="reshape", view=True),
    ]
}

#: The ops that hold parameters or buffers, in table order.
WEIGHTED = tuple(name for name, op in OPS.items() if op.weighted)


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
    params = buffers = 0
    for role, shape in OPS[op].state(attrs):
        if role in BUFFERS:
            buffers += math.prod(shape)
        else:
            params += math.prod(shape)
    return params, buffers


def state_tensors(op: str, attrs: dict[str, Any]) -> Tensors:
    """(name, shape) of each state_dict entry of one node, in PyTorch's order."""
    return OPS[op].state(attrs)


def macs(op: str, attrs: dict[str, Any], in_shapes: list[Shape], out_shape: Shape) -> int:
    """Multiply-adds of one sample through one node, by the cost rule of `op` in the op table."""
    if op not in OPS:
        raise CompilerBug(f"the IR op {op!r} is not in the op table (incept_dsl/ir/ops.py)")
    return OPS[op].cost.macs(attrs, list(in_shapes), tuple(out_shape))


def node_costs(graph: Graph, nodes: Iterable[int]) -> tuple[int, int]:
    """(trainable parameters, MACs of one sample) of `nodes`, as the cost tables count them."""
    params = mac = 0
    for n in nodes:
        op, attrs = graph.op(n), graph.attrs(n)
        params += param_count(op, attrs)[0]
        mac += macs(op, attrs, [graph.shape(i) for i in graph.inputs(n)], graph.shape(n))
    return params, mac
