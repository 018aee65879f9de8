"""The op table is the one place an op's facts live: every op in it has a lowering in every
backend, a cost rule, a figure label, and state_dict tensors that agree with its parameter count,
so adding an op that misses one fails here at once."""

from __future__ import annotations

import math

import pytest

from incept_dsl.backends.figure.labels import LABELS
from incept_dsl.backends.onnx.export import LOWER as ONNX_LOWER
from incept_dsl.backends.torch.codegen import LOWER as TORCH_LOWER
from incept_dsl.frontend.signatures import ACTIVATIONS, SIGNATURES
from incept_dsl.ir.costs import CostRule
from incept_dsl.ir.elaborate_ops import LOWERINGS
from incept_dsl.ir.ops import BUFFERS, OPS, WEIGHTED, param_count

#: Ops a backend draws without a lowering of their own: the torch module's inputs are arguments.
NO_TORCH_LOWERING = {"input"}


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_op_has_every_fact(op: str) -> None:
    spec = OPS[op]
    assert op in ONNX_LOWER, f"{op}: no ONNX lowering (backends/onnx/lowering.py LOWER)"
    assert op in TORCH_LOWER or op in NO_TORCH_LOWERING, (
        f"{op}: no PyTorch lowering (backends/torch/lowering.py LOWER)"
    )
    assert op in LABELS, f"{op}: no figure label (backends/figure/labels.py LABELS)"
    assert isinstance(spec.cost, CostRule) and spec.cost.formula, f"{op}: no cost rule"
    assert spec.title, f"{op}: no figure title"
    assert callable(spec.shape)


def test_every_surface_op_has_an_elaboration() -> None:
    """Elaboration dispatches by table: each surface op (but `expect`, which adds no node) lowers
    to IR ops through its entry in `LOWERINGS`."""
    assert set(LOWERINGS) == set(SIGNATURES) - {"expect"}


def test_the_tables_have_no_op_the_op_table_lacks() -> None:
    assert set(ONNX_LOWER) <= set(OPS)
    assert set(TORCH_LOWER) <= set(OPS)
    assert set(LABELS) <= set(OPS)
    assert set(ACTIVATIONS) <= set(OPS) and set(ACTIVATIONS) <= set(SIGNATURES)


def test_an_activation_s_attributes_are_its_arguments() -> None:
    """`act = NAME` and `NAME(...)` make the same node: the IR op's attributes are the surface
    op's arguments (`leaky_relu`'s `slope`), and every activation is drawn and costed alike."""
    for act in ACTIVATIONS:
        assert OPS[act].attrs == SIGNATURES[act].arg_names, act
        assert OPS[act].family == "act" and OPS[act].cost is OPS["relu"].cost, act
        assert LOWERINGS[act] is not None and not OPS[act].weighted, act


ATTRS = {
    "conv": {
        "in_channels": 6,
        "out_channels": 4,
        "kernel": (3, 5),
        "stride": (1, 1),
        "padding": (1, 2),
        "dilation": (1, 1),
        "groups": 2,
        "bias": True,
    },
    "batchnorm": {"num_features": 7, "eps": 1e-5, "momentum": 0.1},
    "linear": {"in_features": 9, "out_features": 3, "bias": False},
    "layer_scale": {"channels": 7, "init": 1e-6},
    "groupnorm": {"groups": 3, "num_channels": 6, "eps": 1e-5},
    "conv_transpose": {
        "in_channels": 4,
        "out_channels": 6,
        "kernel": (3, 2),
        "stride": (2, 1),
        "padding": (1, 0),
        "output_padding": (1, 0),
        "groups": 2,
        "bias": True,
    },
    "layernorm": {"channels": 7, "eps": 1e-5},
    "class_token": {"dim": 5},
    "pos_embedding": {"length": 4, "dim": 5, "std": 0.02},
    "attention": {"dim": 6, "heads": 2, "dropout": 0.0, "bias": True},
}


def test_weighted_ops_are_those_with_tensors() -> None:
    assert tuple(op for op, spec in OPS.items() if spec.tensors) == WEIGHTED
    assert set(ATTRS) == set(WEIGHTED)


@pytest.mark.parametrize("op", sorted(ATTRS))
def test_state_tensors_match_torch_and_the_parameter_count(op: str) -> None:
    torch = pytest.importorskip("torch")
    a = ATTRS[op]
    layer = {
        "conv": lambda: torch.nn.Conv2d(6, 4, (3, 5), padding=(1, 2), groups=2, bias=True),
        "batchnorm": lambda: torch.nn.BatchNorm2d(7),
        "linear": lambda: torch.nn.Linear(9, 3, bias=False),
        # timm's LayerScale/LayerScale2d: one parameter `gamma` (C,)
        "groupnorm": lambda: torch.nn.GroupNorm(3, 6),
        "layer_scale": lambda: torch.nn.ParameterDict({"gamma": torch.nn.Parameter(torch.ones(7))}),
        "conv_transpose": lambda: torch.nn.ConvTranspose2d(
            4, 6, (3, 2), stride=(2, 1), padding=(1, 0), output_padding=(1, 0), groups=2
        ),
        "layernorm": lambda: torch.nn.LayerNorm(7),
        "class_token": lambda: torch.nn.ParameterDict(
            {"token": torch.nn.Parameter(torch.zeros(1, 1, 5))}
        ),
        "pos_embedding": lambda: torch.nn.ParameterDict(
            {"embedding": torch.nn.Parameter(torch.zeros(1, 4, 5))}
        ),
        "attention": lambda: torch.nn.MultiheadAttention(6, 2, batch_first=True),
    }[op]()
    want = [(k, tuple(v.shape)) for k, v in layer.state_dict().items()]
    assert list(OPS[op].state(a)) == want
    assert {name for name, _ in want} <= set(OPS[op].tensors)
    params = sum(p.numel() for p in layer.parameters())
    buffers = sum(math.prod(s) for name, s in want if name in BUFFERS)
    assert param_count(op, a) == (params, buffers)
