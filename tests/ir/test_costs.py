"""The cost rules (`incept_dsl.ir.costs`): one rule per IR op, each checked on a hand count."""

from __future__ import annotations

import pytest

from incept_dsl.errors import CompilerBug
from incept_dsl.ir.costs import CostRule, _window_sum, memory_bytes
from incept_dsl.ir.ops import OPS, macs


def test_every_ir_op_has_a_cost_rule():
    assert all(isinstance(op.cost, CostRule) for op in OPS.values())


def test_unknown_op_is_a_compiler_bug():
    with pytest.raises(CompilerBug, match="not in the op table"):
        macs("warp", {}, [(1,)], (1,))


CONV = {
    "in_channels": 32,
    "out_channels": 64,
    "kernel": (3, 1),
    "stride": (1, 1),
    "padding": (1, 0),
    "dilation": (1, 1),
    "groups": 4,
    "bias": True,
}


@pytest.mark.parametrize(
    ("op", "attrs", "ins", "out", "expected"),
    [
        # Cout·H'·W'·(Cin/groups)·kh·kw, bias not counted
        ("conv", CONV, [(32, 10, 12)], (64, 10, 12), 64 * 10 * 12 * (32 // 4) * 3 * 1),
        (
            "linear",
            {"in_features": 9216, "out_features": 4096, "bias": True},
            [(9216,)],
            (4096,),
            9216 * 4096,
        ),
        # the lecture's pooling convention: C·H'·W'·K·K (eq. 8.7: 64·27·27·3·3)
        (
            "maxpool",
            {"kernel": (3, 3), "stride": (2, 2), "padding": (0, 0), "ceil": False},
            [(64, 56, 56)],
            (64, 27, 27),
            419_904,
        ),
        (
            "avgpool",
            {
                "kernel": (5, 5),
                "stride": (3, 3),
                "padding": (0, 0),
                "ceil": False,
                "count_include_pad": True,
            },
            [(512, 14, 14)],
            (512, 4, 4),
            512 * 16 * 25,
        ),
        ("global_avgpool", {}, [(1024, 7, 7)], (1024, 1, 1), 1024 * 49),
        ("adaptive_avgpool", {"size": (6, 6)}, [(256, 6, 6)], (256, 6, 6), 256 * 36),
        (
            "batchnorm",
            {"num_features": 8, "eps": 1e-5, "momentum": 0.1},
            [(8, 4, 4)],
            (8, 4, 4),
            8 * 16,
        ),
        (
            "lrn",
            {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0},
            [(64, 2, 2)],
            (64, 2, 2),
            64 * 4 * 5,
        ),
        ("scale", {"s": 0.17}, [(320, 8, 8)], (320, 8, 8), 320 * 64),
        ("add", {}, [(16, 4, 4)] * 3, (16, 4, 4), 2 * 16 * 16),
        ("concat", {}, [(16, 4, 4), (8, 4, 4)], (24, 4, 4), 0),
        ("relu", {}, [(16, 4, 4)], (16, 4, 4), 0),
        ("dropout", {"p": 0.5}, [(10,)], (10,), 0),
        ("flatten", {}, [(16, 4, 4)], (256,), 0),
    ],
)
def test_rule(op, attrs, ins, out, expected):
    assert macs(op, attrs, ins, out) == expected


def test_memory_is_fp32_output():
    assert memory_bytes((64, 56, 56)) == 64 * 56 * 56 * 4  # the lecture's 784 KB (eq. 8.2)
    assert memory_bytes((64, 56, 56)) / 1024 == 784


@pytest.mark.parametrize(("size", "out"), [(6, 6), (13, 6), (7, 3), (5, 4), (8, 1), (3, 7)])
def test_adaptive_windows_match_pytorch(size, out):
    """Sum of adaptive-pool window lengths, counted on PyTorch itself: each input position j
    contributes one per output window whose average it enters."""
    import torch
    import torch.nn.functional as F

    eye = torch.eye(size).unsqueeze(1)  # size × 1 × size: one-hot inputs
    pooled = F.adaptive_avg_pool1d(eye, out)
    assert _window_sum(size, out) == int((pooled > 0).sum())
