"""SE-ResNet-50 (architectures/seresnet.incept) is exact against timm's `seresnet50`.

As tests/architectures/test_mobilenet_refs.py does for torchvision's networks: the same parameter
count as the reference at 224×224; the conv + linear multiply-adds of ResNet-50 (the same file's
`resnet50`, checked against torchvision elsewhere) plus exactly those of the SE blocks' two 1×1
convs; and with timm's weights copied in by `incept_dsl.copy_weights` (every BatchNorm given
random affine parameters and data-driven, perturbed running statistics first) the same eval-mode
outputs, relative difference below 1e-4 — at -O0, at -O1 and -O2 (the -O0 state_dict carried
through the passes) and in onnxruntime; and training mode (batch statistics and the running
statistics' update). Outputs are compared at 96×96 (a 3×3 grid in the last stage; the reference
pools globally before its classifier) to keep the test fast on two shared cores.
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

FILE = "seresnet.incept"
NAME = "seresnet50"
RTOL = 1e-4
SIZE = (3, 96, 96)  # output comparisons
TRACE = (3, 32, 32)  # copy_weights traces the execution order here (the order is size-free)
PARAMS = 28_088_024  # sum(p.numel()) of timm.create_model("seresnet50")
#: (channels C of the blocks' output, blocks) per stage of Table 1
STAGES = [(256, 3), (512, 4), (1024, 6), (2048, 3)]


@pytest.fixture
def pair(timm):
    """(reference, our -O0 module, our Model) with the reference's weights in ours."""
    torch.manual_seed(0)
    ref = timm.create_model(NAME, pretrained=False)
    model = incept_dsl.load(FILE, input_shape=SIZE)
    ours = model.to_torch()
    randomize_batchnorm(ref, SIZE)
    incept_dsl.copy_weights(ref, ours, input_shape=TRACE)
    return ref, ours, model


def _inputs(size=SIZE) -> torch.Tensor:
    return torch.randn(2, *size, generator=torch.Generator().manual_seed(1))


def test_same_params_as_timm_and_multiply_adds_of_resnet50_plus_se(timm):
    model = incept_dsl.load(FILE)
    assert model.inputs == {"image": (3, 224, 224)}
    assert model.param_count() == PARAMS
    assert sum(p.numel() for p in timm.create_model(NAME).parameters()) == PARAMS
    resnet50 = incept_dsl.load("resnet.incept", model="resnet50")
    se = sum(n * 2 * c * (c // 16) for c, n in STAGES)  # two 1×1 convs on the pooled 1×1 map
    se_params = sum(n * (2 * c * (c // 16) + c // 16 + c) for c, n in STAGES)  # with biases
    assert model.param_count() == resnet50.param_count() + se_params
    assert conv_linear_macs(model) == conv_linear_macs(resnet50) + se
    assert round(conv_linear_macs(model) / 1e9, 2) == 4.09


def test_same_outputs_as_timm_at_every_level_and_in_onnxruntime(pair):
    ref, ours, model = pair
    x = _inputs()
    with torch.no_grad():
        theirs = ref.eval()(x)
    assert_same_at_every_level(model, ours, theirs, x, RTOL)


def test_training_mode_and_batch_norm_updates_match(pair):
    """The same outputs from batch statistics, and the same running statistics afterwards."""
    ref, ours, _ = pair
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


def test_se_gates_every_bottleneck_before_the_addition():
    """Table 1: 16 bottlenecks, each with an SE block (C → C/16 → C, sigmoid gate) whose product
    is what the residual addition reads."""
    g = incept_dsl.load(FILE).optimized(0, keep_aux=False)
    muls = [n for n in g.nodes() if g.op(n) == "mul"]
    assert len(muls) == sum(n for _, n in STAGES)
    adds = [n for n in g.nodes() if g.op(n) == "add"]
    assert len(adds) == len(muls)
    assert all(any(m in g.inputs(a) for m in muls) for a in adds)
