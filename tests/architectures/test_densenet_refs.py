"""DenseNet-121, -169 and -201 (architectures/densenet.incept) are exact against torchvision.

As tests/architectures/test_mobilenet_refs.py does: the same parameter count as the reference at
224×224, the conv + linear multiply-adds of torchvision's metadata (`_ops`, given to three
digits), and with the reference's weights copied in by `incept_dsl.copy_weights` (every BatchNorm
given random affine parameters and data-driven, perturbed running statistics first) the same
eval-mode outputs, relative difference below 1e-4 — at -O0, at -O1 and -O2 (the -O0 state_dict
carried through the passes) and in onnxruntime. torchvision names its DenseNet tensors
differently (`features.denseblock1.denselayer1.norm1`); `copy_weights` pairs them by execution
order. Also: training mode (batch statistics and the running statistics' update), and another
growth rate and bottleneck factor. Outputs are compared at 64×64 (the maps of the last dense block
are 2×2; the references pool globally before their classifiers) to keep the tests fast on two
shared cores.
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

FILE = "densenet.incept"
RTOL = 1e-4
SIZE = (3, 64, 64)  # output comparisons
TRACE = (3, 32, 32)  # copy_weights traces the execution order here (the order is size-free)

#: model -> (block config, the reference's parameter count (torchvision's metadata `num_params`),
#: conv + linear multiply-adds at 224×224 in G (torchvision's metadata `_ops`, three digits))
REFERENCE = {
    "densenet121": ((6, 12, 24, 16), 7_978_856, 2.834),
    "densenet169": ((6, 12, 32, 32), 14_149_480, 3.36),
    "densenet201": ((6, 12, 48, 32), 20_013_928, 4.291),
}
MODELS = sorted(REFERENCE)


def pair(torchvision, name: str, size=SIZE, growth: int = 32, bn_size: int = 4):
    """(reference, our -O0 module, our Model) with the reference's weights in ours. The reference
    is torchvision's `name`, or for another growth rate or bottleneck factor its DenseNet class
    with `name`'s blocks and 2 × growth initial features."""
    torch.manual_seed(0)
    if (growth, bn_size) == (32, 4):
        ref = getattr(torchvision, name)(weights=None)
    else:
        blocks = REFERENCE[name][0]
        ref = torchvision.DenseNet(growth, blocks, 2 * growth, bn_size)
    model = incept_dsl.load(
        FILE, model=name, input_shape=size, params={"growth": growth, "bn_size": bn_size}
    )
    ours = model.to_torch()
    randomize_batchnorm(ref, size)
    incept_dsl.copy_weights(ref, ours, input_shape=TRACE)
    return ref, ours, model


def _inputs(size=SIZE) -> torch.Tensor:
    return torch.randn(2, *size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", MODELS)
def test_same_params_and_multiply_adds_as_torchvision(name: str, torchvision):
    _, params, gmacs = REFERENCE[name]
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


def test_training_mode_and_batch_norm_updates_match(torchvision):
    """The same outputs from batch statistics, and the same running statistics afterwards."""
    ref, ours, _ = pair(torchvision, "densenet121")
    ref_bns = [m for m in ref.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    our_bns = [m for m in ours.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(our_bns) == len(ref_bns) == 1 + 2 * 58 + 3 + 1
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


@pytest.mark.parametrize(("growth", "bn_size"), [(12, 4), (48, 2)])
def test_other_growth_rates_and_bottleneck_factors_match_torchvision(
    growth: int, bn_size: int, torchvision
):
    """`growth` (k: the channels each dense layer adds, and the stem's 2k) and `bn_size` (the
    bottleneck's bn_size × k) against torchvision's DenseNet class with the same settings."""
    ref, ours, _ = pair(torchvision, "densenet121", growth=growth, bn_size=bn_size)
    full = incept_dsl.load(FILE, model="densenet121", params={"growth": growth, "bn_size": bn_size})
    assert full.param_count() == sum(p.numel() for p in ref.parameters())
    x = _inputs()
    with torch.no_grad():
        theirs = ref.eval()(x)
        assert_informative(theirs)
        assert rel_diff(ours.eval()(x), theirs) < RTOL
