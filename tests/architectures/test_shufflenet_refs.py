"""ShuffleNet V2 0.5x and 1x (architectures/shufflenet.incept) are exact against torchvision.

As tests/architectures/test_mobilenet_refs.py does for MobileNet: the same parameter count as the
reference at 224×224, the conv + linear multiply-adds of torchvision's metadata (`_ops`), and with
the reference's weights copied in by `incept_dsl.copy_weights` (every BatchNorm given random
affine parameters and data-driven, perturbed running statistics first) the same eval-mode
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

FILE = "shufflenet.incept"
RTOL = 1e-4
SIZE = (3, 96, 96)  # output comparisons
TRACE = (3, 32, 32)  # copy_weights traces the execution order here (the order is size-free)

#: model -> (the reference's parameter count (torchvision's metadata `num_params`), conv + linear
#: multiply-adds at 224×224 in G (torchvision's metadata `_ops`, three digits: 0.040 is 0.04))
REFERENCE = {
    "shufflenet_v2_x0_5": (1_366_792, 0.04),
    "shufflenet_v2_x1_0": (2_278_604, 0.145),
}
MODELS = sorted(REFERENCE)


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


def test_units_split_shuffle_and_concatenate():
    """Figure 3 (c): every basic unit slices its input into two halves and shuffles the concat
    with two groups; (d): the three down-sampling units have no slice. Table 5: 3 + 7 + 3 basic
    units."""
    g = incept_dsl.load(FILE, model="shufflenet_v2_x1_0").optimized(0, keep_aux=False)
    ops = [g.op(n) for n in g.nodes()]
    assert ops.count("slice") == 2 * (3 + 7 + 3)
    assert ops.count("channel_shuffle") == 3 + 7 + 3 + 3
    shuffles = [g.attrs(n)["groups"] for n in g.nodes() if g.op(n) == "channel_shuffle"]
    assert set(shuffles) == {2}
