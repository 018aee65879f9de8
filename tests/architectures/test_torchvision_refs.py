"""The torchvision-layout architectures are exact against torchvision.

For every model with a torchvision reference (alexnet, vgg11-19, resnet18-152, googlenet_tv,
inception_v3): the same parameter count as the reference (at the standard input size), the same
conv + linear multiply-adds as shared/ANCHORS.md where it lists the model, and with the
reference's weights copied in by `incept_dsl.copy_weights` (every BatchNorm given random affine
parameters and data-driven, perturbed running statistics first) the same eval-mode outputs,
relative difference below 1e-4. The two models with aux heads are also compared in training mode,
head by head (dropout set to 0 on both sides). Outputs are compared at reduced input sizes (the
references pool adaptively before their classifiers) to keep the tests fast on two shared cores;
inception_v3's aux head needs its full 299×299.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from helpers import randomize_batchnorm

import incept_dsl
from incept_dsl.weights import WeightMismatch
from tests.architectures.refs_support import assert_informative, conv_linear_macs, rel_diff

RTOL = 1e-4
#: the execution order does not depend on the input size: trace small where the model allows
TRACE = (3, 32, 32)


@dataclass(frozen=True)
class Case:
    model: str
    file: str
    reference: str  # torchvision.models.<reference>
    params: int  # the reference's sum(p.numel()), shared/ANCHORS.md / torchvision's metadata
    size: tuple[int, int, int]  # input of the output comparison
    trace: tuple[int, int, int] | None  # input copy_weights traces the execution order with
    ref_kwargs: dict[str, Any] = field(default_factory=dict)
    our_params: dict[str, Any] = field(default_factory=dict)
    aux: bool = False  # compare training-mode heads too


CASES = [
    Case("alexnet", "alexnet.incept", "alexnet", 61_100_840, (3, 96, 96), (3, 64, 64)),
    Case("vgg11", "vgg.incept", "vgg11", 132_863_336, (3, 32, 32), TRACE),
    Case("vgg13", "vgg.incept", "vgg13", 133_047_848, (3, 32, 32), TRACE),
    Case("vgg16", "vgg.incept", "vgg16", 138_357_544, (3, 32, 32), TRACE),
    Case("vgg19", "vgg.incept", "vgg19", 143_667_240, (3, 32, 32), TRACE),
    Case("resnet18", "resnet.incept", "resnet18", 11_689_512, (3, 64, 64), TRACE),
    Case("resnet34", "resnet.incept", "resnet34", 21_797_672, (3, 64, 64), TRACE),
    Case("resnet50", "resnet.incept", "resnet50", 25_557_032, (3, 64, 64), TRACE),
    Case("resnet101", "resnet.incept", "resnet101", 44_549_160, (3, 64, 64), TRACE),
    Case("resnet152", "resnet.incept", "resnet152", 60_192_808, (3, 64, 64), TRACE),
    Case(
        "googlenet_tv",
        "googlenet.incept",
        "googlenet",
        13_004_888,
        (3, 112, 112),
        (3, 64, 64),
        {"aux_logits": True, "init_weights": True, "dropout": 0.0, "dropout_aux": 0.0},
        {"drop": 0.0, "drop_aux": 0.0},
        aux=True,
    ),
    Case(
        "inception_v3",
        "inception_v3.incept",
        "inception_v3",
        27_161_264,
        (3, 299, 299),
        None,
        {"aux_logits": True, "init_weights": True, "dropout": 0.0},
        {"drop": 0.0},
        aux=True,
    ),
]

#: conv + linear multiply-adds of the references at their standard input (shared/ANCHORS.md):
#: (input, MACs, relative tolerance: 0 where ANCHORS gives every digit, else its rounding)
ANCHOR_MACS = {
    "alexnet": ((3, 224, 224), 714_188_480, 0.0),
    "vgg16": ((3, 224, 224), 15.47e9, 0.005e9 / 15.47e9),
    "vgg19": ((3, 224, 224), 19.63e9, 0.005e9 / 19.63e9),
    "resnet18": ((3, 224, 224), 1.81e9, 0.005e9 / 1.81e9),
    "resnet34": ((3, 224, 224), 3.66e9, 0.005e9 / 3.66e9),
    "resnet50": ((3, 224, 224), 4.09e9, 0.005e9 / 4.09e9),
    "resnet101": ((3, 224, 224), 7.80e9, 0.005e9 / 7.80e9),
    "resnet152": ((3, 224, 224), 11.51e9, 0.005e9 / 11.51e9),
    "googlenet_tv": ((3, 224, 224), 1_498_376_192, 0.0),
    "inception_v3": ((3, 299, 299), 5_713_216_096, 0.0),
}


@pytest.mark.parametrize("case", CASES, ids=[c.model for c in CASES])
def test_same_params_and_outputs_as_torchvision(case: Case, torchvision):
    standard = incept_dsl.load(case.file, model=case.model)
    torch.manual_seed(0)
    ref = getattr(torchvision, case.reference)(**case.ref_kwargs)
    assert standard.param_count() == case.params
    assert sum(p.numel() for p in ref.parameters()) == case.params

    ours_model = incept_dsl.load(
        case.file, model=case.model, params=case.our_params, input_shape=case.size
    )
    ours = ours_model.to_torch()
    randomize_batchnorm(ref, case.size)
    incept_dsl.copy_weights(ref, ours, input_shape=case.trace)

    x = torch.randn(2, *case.size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs, mine = ref.eval()(x), ours.eval()(x)
    assert_informative(theirs)
    assert rel_diff(mine, theirs) < RTOL

    if case.aux:  # training mode: every head, in torchvision's order and names
        with torch.no_grad():
            theirs, mine = ref.train()(x), ours.train()(x)
        assert mine._fields == theirs._fields
        for name in theirs._fields:
            assert_informative(getattr(theirs, name))
            assert rel_diff(getattr(mine, name), getattr(theirs, name)) < RTOL, name


@pytest.mark.parametrize("model", sorted(ANCHOR_MACS))
def test_multiply_adds_match_the_references(model: str):
    case = next(c for c in CASES if c.model == model)
    size, macs, tol = ANCHOR_MACS[model]
    ours = conv_linear_macs(incept_dsl.load(case.file, model=model, input_shape=size))
    assert abs(ours - macs) <= tol * macs


def test_param_counts_without_aux_heads():
    """torchvision's aux_logits=False counts (shared/ANCHORS.md)."""
    assert (
        incept_dsl.load("googlenet.incept", model="googlenet_tv").param_count(include_aux=False)
        == 6_624_904
    )
    assert incept_dsl.load("inception_v3.incept").param_count(include_aux=False) == 23_834_568


def test_copy_from_a_state_dict_and_a_perturbed_weight_is_detected(torchvision):
    """A bare state_dict (a checkpoint) loads too when its key order is the execution order; and
    the comparison can fail: one changed weight moves the output far beyond the tolerance."""
    size = (3, 64, 64)
    torch.manual_seed(0)
    ref = torchvision.resnet18()
    randomize_batchnorm(ref, size)
    ours = incept_dsl.load("resnet.incept", model="resnet18", input_shape=size).to_torch()
    incept_dsl.copy_weights(ref.state_dict(), ours, input_shape=TRACE)
    x = torch.randn(2, *size)
    with torch.no_grad():
        theirs = ref.eval()(x)
        assert rel_diff(ours.eval()(x), theirs) < RTOL
        ours.layer3.repeat_1[0].basic_1.conv_1.conv.weight[0, 0, 1, 1] += 1.0
        assert rel_diff(ours(x), theirs) > RTOL


def test_mismatch_names_the_first_differing_layer(torchvision):
    """resnet18's weights into resnet34: layer1 has 2 blocks there and 3 here, so layer 11
    (the 3rd block's first conv here, layer2's first conv there) is the first to differ."""
    size = (3, 32, 32)
    ours = incept_dsl.load("resnet.incept", model="resnet34", input_shape=size).to_torch()
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    with pytest.raises(WeightMismatch) as info:
        incept_dsl.copy_weights(torchvision.resnet18(), ours, input_shape=TRACE)
    message = str(info.value)
    assert message.startswith("layer 11 does not match")
    assert "'layer2.0.conv1' (Conv2d: weight 128×64×3×3)" in message
    assert "'layer1.2.basic_1.conv_1.conv' (Conv2d: weight 64×64×3×3)" in message
    after = ours.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # left unchanged
