"""MobileNetV2 and MobileNetV3-Small/-Large (architectures/mobilenet.incept) are exact against
torchvision.

As tests/architectures/test_torchvision_refs.py does for the older networks: the same parameter
count as the reference at 224×224, the conv + linear multiply-adds of torchvision's metadata
(`_ops`, given to three digits), and with the reference's weights copied in by
`incept_dsl.copy_weights` (every BatchNorm given random affine parameters and data-driven,
perturbed running statistics first) the same eval-mode outputs, relative difference below 1e-4 —
at -O0, at -O1 and -O2 (the -O0 state_dict carried through the passes) and in onnxruntime. Also:
training mode with dropout 0 (batch statistics, and the running statistics' update, which checks
MobileNetV3's batch-norm momentum 0.01 and eps 1e-3), and other width multipliers. Outputs are
compared at reduced input sizes (the references pool globally before their classifiers) to keep
the tests fast on two shared cores.
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

FILE = "mobilenet.incept"
RTOL = 1e-4
SIZE = (3, 96, 96)  # output comparisons
TRACE = (3, 32, 32)  # copy_weights traces the execution order here (the order is size-free)

#: model -> (the reference's parameter count (torchvision's metadata `num_params`), conv + linear
#: multiply-adds at 224×224 in G (torchvision's metadata `_ops`, three digits))
REFERENCE = {
    "mobilenet_v2": (3_504_872, 0.301),
    "mobilenet_v3_small": (2_542_856, 0.057),
    "mobilenet_v3_large": (5_483_032, 0.217),
}
MODELS = sorted(REFERENCE)


def pair(torchvision, name: str, size=SIZE, width: float = 1.0, drop: float = 0.2):
    """(reference, our -O0 module, our Model) with the reference's weights in ours."""
    torch.manual_seed(0)
    ref = getattr(torchvision, name)(weights=None, width_mult=width, dropout=drop)
    model = incept_dsl.load(
        FILE, model=name, input_shape=size, params={"width": width, "drop": drop}
    )
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
    """Dropout 0 on both sides: the same outputs from batch statistics, and the same running
    statistics afterwards (torchvision's momentum: 0.1 in v2, 0.01 in v3)."""
    size = (3, 64, 64)
    ref, ours, _ = pair(torchvision, name, size=size, drop=0.0)
    ref_bns = [m for m in ref.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    our_bns = [m for m in ours.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(our_bns) == len(ref_bns)
    for a, b in zip(ref_bns, our_bns, strict=True):
        assert (b.eps, b.momentum) == (a.eps, 0.1 if name == "mobilenet_v2" else 0.01)
        a.momentum = b.momentum  # randomize_batchnorm leaves the reference's at 0.1
    x = _inputs(size)
    with torch.no_grad():
        theirs, mine = ref.train()(x), ours.train()(x)
    assert_informative(theirs)
    assert rel_diff(mine, theirs) < RTOL
    for a, b in zip(ref_bns, our_bns, strict=True):
        assert rel_diff(b.running_mean, a.running_mean) < RTOL
        assert rel_diff(b.running_var, a.running_var) < RTOL


#: Widths at which the tables' shortcuts are torchvision's. torchvision adds a shortcut wherever
#: the stride is 1 and the rounded channel counts agree, which at small widths also happens
#: between different counts of the tables (mobilenet_v2 at 0.25: the first bottleneck, 8 -> 8;
#: mobilenet_v3_small at 0.35 and 0.5: the 5x5 bneck 40 -> 48); the file follows the tables.
WIDTHS = [
    ("mobilenet_v2", 0.35),
    ("mobilenet_v2", 1.4),
    ("mobilenet_v3_small", 0.75),
    ("mobilenet_v3_large", 0.5),
    ("mobilenet_v3_large", 1.25),
]


@pytest.mark.parametrize(("name", "width"), WIDTHS)
def test_width_multipliers_match_torchvision(name: str, width: float, torchvision):
    size = (3, 64, 64)
    ref, ours, model = pair(torchvision, name, size=size, width=width)
    full = incept_dsl.load(FILE, model=name, params={"width": width})
    assert full.param_count() == sum(p.numel() for p in ref.parameters())
    x = _inputs(size)
    with torch.no_grad():
        theirs = ref.eval()(x)
        assert_informative(theirs)
        assert rel_diff(ours.eval()(x), theirs) < RTOL


@pytest.mark.parametrize("width", [0.25, 0.35, 0.5, 0.75, 1.25])
@pytest.mark.parametrize("name", MODELS)
def test_parameter_counts_at_other_widths(name: str, width: float, torchvision):
    """Shortcuts have no weights: the counts agree at every width."""
    ref = getattr(torchvision, name)(weights=None, width_mult=width)
    ours = incept_dsl.load(FILE, model=name, params={"width": width})
    assert ours.param_count() == sum(p.numel() for p in ref.parameters())
