"""The timm-layout architectures are exact against timm.

For `inception_v4` and `inception_resnet_v2`: the same parameter count as
`timm.create_model(name)`, the same conv + linear multiply-adds as the reference measured at
299×299 (shared/ANCHORS.md), and with timm's weights copied in by `incept_dsl.copy_weights`
(every BatchNorm given non-trivial statistics and affine parameters first) the same eval-mode
outputs. Outputs are compared at 3×139×139, the smallest size at which every stage still has a
grid of at least 3×3 (so the padding of every 3×3, 1×3 and 3×1 conv is exercised), to keep the
test fast on two shared cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from helpers import randomize_batchnorm

import incept_dsl

#: Input size of the output comparison (the references are fully convolutional up to the head).
SMALL = (3, 139, 139)
#: The smallest input both networks take (a 1×1 grid after Reduction-B); `copy_weights` only
#: needs it to record the order in which layers execute, which does not depend on the size.
TRACE = (3, 75, 75)


@dataclass(frozen=True)
class Case:
    model: str
    file: str
    params: int  # timm's sum(p.numel()), shared/ANCHORS.md
    macs_299: int  # conv + linear multiply-adds of timm's model at 3×299×299, shared/ANCHORS.md
    #: the first layers that differ between timm's state_dict and our Inception-ResNet-v1
    first_mismatch_v1: tuple[str, str]


CASES = [
    Case(
        "inception_v4",
        "inception_v4.incept",
        42_679_816,
        12_253_974_624,
        ("features.3.conv.conv", "stem.conv_4.conv"),
    ),
    Case(
        "inception_resnet_v2",
        "inception_resnet_v2.incept",
        55_843_464,
        13_155_794_016,
        ("mixed_5b.branch0.conv", "stem.conv_6.conv"),
    ),
]


def conv_linear_macs(model: incept_dsl.Model) -> int:
    """Multiply-adds of `model`'s convs and linears (the ANCHORS convention), from its summary."""
    by_op = model.summary().macs_by_op()
    return by_op.get("conv", 0) + by_op.get("linear", 0)


@pytest.fixture(scope="module", params=CASES, ids=lambda c: c.model)
def pair(request, timm):
    """(case, timm reference with randomised BatchNorm, our -O0 module at SMALL with its weights)."""
    import torch

    case: Case = request.param
    torch.manual_seed(0)
    ref = timm.create_model(case.model, pretrained=False)
    randomize_batchnorm(ref, SMALL)
    ours = incept_dsl.load(case.file, input_shape=SMALL).to_torch()
    incept_dsl.copy_weights(ref, ours, input_shape=TRACE)
    ours.eval()
    return case, ref, ours


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.model)
def test_parameter_count_matches_timm(case: Case) -> None:
    model = incept_dsl.load(case.file)
    assert model.param_count() == case.params


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.model)
def test_multiply_adds_match_timm_at_299(case: Case) -> None:
    model = incept_dsl.load(case.file)
    assert model.inputs == {"image": (3, 299, 299)}
    assert model.outputs == {"logits": (1000,)}
    assert conv_linear_macs(model) == case.macs_299


def test_reference_parameter_count(pair) -> None:
    case, ref, ours = pair
    assert sum(p.numel() for p in ref.parameters()) == case.params
    assert sum(p.numel() for p in ours.parameters()) == case.params


def test_outputs_match_timm_with_copied_weights(pair) -> None:
    import torch

    case, ref, ours = pair
    x = torch.randn(2, *SMALL, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = ref(x)
        got = ours(x)
    assert got.shape == want.shape == (2, 1000)
    assert want.std() > 0 and not torch.equal(want[0], want[1])  # a non-degenerate comparison
    rel = ((got - want).abs().max() / want.abs().max()).item()
    assert rel < 1e-4, f"{case.model}: relative difference {rel:.3g}"


def test_copied_batchnorm_statistics_are_nontrivial(pair) -> None:
    import torch

    _, _, ours = pair
    bns = [m for m in ours.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(bn.eps == pytest.approx(1e-3) for bn in bns)
    assert all(not torch.allclose(bn.running_var, torch.ones_like(bn.running_var)) for bn in bns)


@pytest.fixture(scope="module")
def resnet_v1_module():
    """Our Inception-ResNet-v1 (which has no timm counterpart), at the smallest input size."""
    return incept_dsl.load("inception_resnet_v1.incept", input_shape=TRACE).to_torch()


def test_copy_weights_names_the_first_mismatching_layer(pair, resnet_v1_module) -> None:
    import torch

    from incept_dsl.weights import WeightMismatch

    case, ref, _ = pair
    before = {k: v.clone() for k, v in resnet_v1_module.state_dict().items()}
    with pytest.raises(WeightMismatch) as info:
        incept_dsl.copy_weights(ref.state_dict(), resnet_v1_module, input_shape=TRACE)
    theirs, ours = case.first_mismatch_v1
    assert f"'{theirs}'" in str(info.value) and f"'{ours}'" in str(info.value)
    after = resnet_v1_module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # left unchanged


def test_copy_weights_from_a_checkpoint_state_dict(pair) -> None:
    """A timm checkpoint is a bare state_dict: it pairs by key order and loads the same tensors."""
    import torch

    case, ref, ours = pair
    fresh = incept_dsl.load(case.file, input_shape=TRACE).to_torch()
    incept_dsl.copy_weights(ref.state_dict(), fresh)
    want, got = ours.state_dict(), fresh.state_dict()
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want)
