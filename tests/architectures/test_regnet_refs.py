"""RegNetY-400MF and -800MF (architectures/regnet.incept) are exact against torchvision.

As tests/architectures/test_mobilenet_refs.py does for MobileNet: the same parameter count as the
reference at 224×224, the conv + linear multiply-adds of torchvision's metadata (`_ops`, three
digits), and with the reference's weights copied in by `incept_dsl.copy_weights` (every
BatchNorm given random affine parameters and data-driven, perturbed running statistics first)
the same eval-mode outputs, relative difference below 1e-4 — at -O0, at -O1 and -O2 (the -O0
state_dict carried through the passes) and in onnxruntime; training mode (batch statistics and
the running statistics' update); the stage table the file writes out is the one torchvision
computes from the quantized linear parameters (bare state_dicts: test_checkpoint_loading.py).
Outputs are compared
at 96×96 (a 3×3 grid in the last stage; the reference pools globally before its classifier) to
keep the test fast on two shared cores.
"""

from __future__ import annotations

import pytest
import torch
from helpers import randomize_batchnorm

import incept_dsl
from tests.architectures.refs_support import (
    assert_informative,
    assert_same_at_every_level,
    conv_linear_macs,
    rel_diff,
)

FILE = "regnet.incept"
RTOL = 1e-4
SIZE = (3, 96, 96)  # output comparisons
TRACE = (3, 32, 32)  # copy_weights traces the execution order here (the order is size-free)

#: model -> (the reference's parameter count (torchvision's metadata `num_params`), conv + linear
#: multiply-adds at 224×224 in G (torchvision's metadata `_ops`, three digits))
REFERENCE = {
    "regnet_y_400mf": (4_344_144, 0.402),
    "regnet_y_800mf": (6_432_512, 0.834),
}
MODELS = sorted(REFERENCE)

#: model -> torchvision's arguments of BlockParams.from_init_params, and the per-stage depths,
#: widths and group widths that the file writes out
STAGES = {
    "regnet_y_400mf": (
        {"depth": 16, "w_0": 48, "w_a": 27.89, "w_m": 2.09, "group_width": 8, "se_ratio": 0.25},
        ([1, 3, 6, 6], [48, 104, 208, 440], 8),
    ),
    "regnet_y_800mf": (
        {"depth": 14, "w_0": 56, "w_a": 38.84, "w_m": 2.4, "group_width": 16, "se_ratio": 0.25},
        ([1, 3, 8, 2], [64, 144, 320, 784], 16),
    ),
}


def pair(torchvision, name: str, size=SIZE):
    """(reference, our -O0 module, our Model) with the reference's weights in ours."""
    torch.manual_seed(0)
    ref = getattr(torchvision, name)(weights=None)
    model = incept_dsl.load(FILE, model=name, input_shape=size)
    ours = model.to_torch()
    randomize_batchnorm(ref, size)
    incept_dsl.copy_weights(ref, ours, input_shape=TRACE)
    return ref, ours, model


def _inputs(size=SIZE) -> torch.Tensor:
    return torch.randn(2, *size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", MODELS)
def test_same_params_and_multiply_adds_as_torchvision(name: str, torchvision):
    params, gmacs = REFERENCE[name]
    standard = incept_dsl.load(FILE, model=name)
    assert standard.param_count() == params
    assert sum(p.numel() for p in getattr(torchvision, name)(weights=None).parameters()) == params
    assert round(conv_linear_macs(standard) / 1e9, 3) == gmacs


@pytest.mark.parametrize("name", MODELS)
def test_stage_table_is_torchvisions_block_params(name: str, torchvision):
    """The d_i, w_i and g written in the file are what the quantized linear rule gives; each
    stage's group convs have w_i / g groups and its SE a quarter of each block's input width."""
    from torchvision.models.regnet import BlockParams

    init, (depths, widths, group_width) = STAGES[name]
    params = BlockParams.from_init_params(**init)
    assert params.depths == depths and params.widths == widths
    assert params.group_widths == [group_width] * 4 and params.bottleneck_multipliers == [1.0] * 4

    g = incept_dsl.load(FILE, model=name).optimized(0, keep_aux=False)
    grouped = [g.attrs(n) for n in g.nodes() if g.op(n) == "conv" and g.attrs(n)["groups"] > 1]
    expected = [w // group_width for d, w in zip(depths, widths, strict=True) for _ in range(d)]
    assert [a["groups"] for a in grouped] == expected
    ref = getattr(torchvision, name)(weights=None)
    theirs = [m.fc1.out_channels for m in ref.modules() if hasattr(m, "fc1")]
    inputs = [32, *[w for d, w in zip(depths, widths, strict=True) for _ in range(d)]]
    assert theirs == [c // 4 for c in inputs[:-1]]
    squeezes = [
        g.attrs(n)["out_channels"]
        for n in g.nodes()
        if g.op(n) == "conv" and g.shape(n)[1:] == (1, 1) and "se_" in g.scope(n)
    ]
    assert squeezes[::2] == theirs


@pytest.mark.parametrize("name", MODELS)
def test_same_outputs_as_torchvision_at_every_level_and_in_onnxruntime(name: str, torchvision):
    ref, ours, model = pair(torchvision, name)
    x = _inputs()
    with torch.no_grad():
        theirs = ref.eval()(x)
    assert_same_at_every_level(model, ours, theirs, x, RTOL)


@pytest.mark.parametrize("name", MODELS)
def test_training_mode_and_batch_norm_updates_match(name: str, torchvision):
    """The same outputs from batch statistics, and the same running statistics afterwards."""
    ref, ours, _ = pair(torchvision, name)
    ref_bns = [m for m in ref.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    our_bns = [m for m in ours.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(our_bns) == len(ref_bns)
    for a, b in zip(ref_bns, our_bns, strict=True):
        assert (b.eps, b.momentum) == (a.eps, a.momentum) == (1e-5, 0.1)
    x = _inputs()
    with torch.no_grad():
        theirs, mine = ref.train()(x), ours.train()(x)
    assert_informative(theirs)
    assert rel_diff(mine, theirs) < RTOL
    for a, b in zip(ref_bns, our_bns, strict=True):
        assert rel_diff(b.running_mean, a.running_mean) < RTOL
        assert rel_diff(b.running_var, a.running_var) < RTOL
