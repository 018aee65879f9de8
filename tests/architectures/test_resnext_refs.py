"""ResNeXt-50 (32x4d), ResNeXt-101 (32x8d) and Wide ResNet-50-2 (architectures/resnext.incept) are
exact against torchvision.

As tests/architectures/test_mobilenet_refs.py does: the same parameter count as the reference at
224×224, the conv + linear multiply-adds of torchvision's metadata (`_ops`, given to three
digits), and with the reference's weights copied in by `incept_dsl.copy_weights` (every BatchNorm
given random affine parameters and data-driven, perturbed running statistics first) the same
eval-mode outputs, relative difference below 1e-4 — at -O0, and for ResNeXt-50 also at -O1 and
-O2 (the -O0 state_dict carried through the passes) and in onnxruntime. Also: training mode
(batch statistics and the running statistics' update), and other groups and widths (ResNet-50 is
groups 1, width 64). Outputs are compared at 64×64 (the references pool globally before their
classifiers) to keep the tests fast on two shared cores.
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

FILE = "resnext.incept"
RTOL = 1e-4
SIZE = (3, 64, 64)  # output comparisons
TRACE = (3, 32, 32)  # copy_weights traces the execution order here (the order is size-free)

#: model -> (the reference's parameter count (torchvision's metadata `num_params`), conv + linear
#: multiply-adds at 224×224 in G (torchvision's metadata `_ops`, three digits))
REFERENCE = {
    "resnext50_32x4d": (25_028_904, 4.23),
    "resnext101_32x8d": (88_791_336, 16.414),
    "wide_resnet50_2": (68_883_240, 11.398),
}
MODELS = sorted(REFERENCE)


def pair(torchvision, name: str, size=SIZE, params: dict | None = None, ref=None):
    """(reference, our -O0 module, our Model) with the reference's weights in ours; the reference
    is torchvision's `name` unless given."""
    torch.manual_seed(0)
    if ref is None:
        ref = getattr(torchvision, name)(weights=None)
    model = incept_dsl.load(FILE, model=name, input_shape=size, params=params or {})
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


#: The models whose outputs are compared at -O1, -O2 and in onnxruntime as well as at -O0. The
#: three share every block and differ only in their groups, widths and depths; the two larger
#: ones (68.9 M and 88.8 M parameters) would add some 20 s of compiling, tracing and serialising
#: and check nothing more, so their outputs are compared at -O0.
EVERY_LEVEL = {"resnext50_32x4d"}


@pytest.mark.parametrize("name", MODELS)
def test_same_outputs_as_torchvision(name: str, torchvision):
    """At -O0; for the models in EVERY_LEVEL also at -O1 and -O2 and in onnxruntime."""
    ref, ours, model = pair(torchvision, name)
    x = _inputs()
    with torch.no_grad():
        theirs = ref.eval()(x)
        if name not in EVERY_LEVEL:
            assert_informative(theirs)
            assert rel_diff(ours.eval()(x), theirs) < RTOL
            return
    assert_same_at_every_level(model, ours, theirs, x, RTOL)


def test_training_mode_and_batch_norm_updates_match(torchvision):
    """The same outputs from batch statistics, and the same running statistics afterwards."""
    ref, ours, _ = pair(torchvision, "resnext50_32x4d")
    ref_bns = [m for m in ref.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    our_bns = [m for m in ours.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(our_bns) == len(ref_bns) == 1 + 3 * 16 + 4
    x = _inputs()
    with torch.no_grad():
        theirs, mine = ref.train()(x), ours.train()(x)
    assert_informative(theirs)
    assert rel_diff(mine, theirs) < RTOL
    for a, b in zip(ref_bns, our_bns, strict=True):
        assert rel_diff(b.running_mean, a.running_mean) < RTOL
        assert rel_diff(b.running_var, a.running_var) < RTOL


#: (our model, groups, width_per_group, the torchvision model with those settings, or None for
#: torchvision's ResNet class with our model's blocks). Groups 1 and width 64 is the plain ResNet;
#: 64 groups of 4 channels doubles the cardinality of ResNeXt-50 (32x4d); one group of 32 makes a
#: Wide ResNet-50 narrower than ResNet-50.
OTHER_WIDTHS = [
    ("resnext50_32x4d", 1, 64, "resnet50"),
    ("resnext50_32x4d", 64, 4, None),
    ("wide_resnet50_2", 1, 32, None),
]


@pytest.mark.parametrize(("name", "groups", "width", "reference"), OTHER_WIDTHS)
def test_other_groups_and_widths_match_torchvision(
    name: str, groups: int, width: int, reference: str | None, torchvision
):
    torch.manual_seed(0)
    if reference is not None:
        ref = getattr(torchvision, reference)(weights=None)
    else:
        bottleneck = torchvision.resnet.Bottleneck
        ref = torchvision.ResNet(bottleneck, [3, 4, 6, 3], groups=groups, width_per_group=width)
    params = {"groups": groups, "width_per_group": width}
    full = incept_dsl.load(FILE, model=name, params=params)
    assert full.param_count() == sum(p.numel() for p in ref.parameters())
    ref, ours, _ = pair(torchvision, name, params=params, ref=ref)
    x = _inputs()
    with torch.no_grad():
        theirs = ref.eval()(x)
        assert_informative(theirs)
        assert rel_diff(ours.eval()(x), theirs) < RTOL
