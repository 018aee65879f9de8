"""EfficientNet-B0 to -B3 (architectures/efficientnet.incept) are exact against torchvision.

As tests/architectures/test_mobilenet_refs.py does for MobileNet: the same parameter count as the
reference at full size, the conv + linear multiply-adds of torchvision's metadata (`_ops`, at
torchvision's evaluation crop: 224, 240, 288 and 300), and with the reference's weights copied in
by `incept_dsl.copy_weights` (every BatchNorm given random affine parameters and data-driven,
perturbed running statistics first, see `randomize_batchnorm_gently`) the same eval-mode
outputs, relative difference below 1e-4 — at -O0, at -O1 and -O2 (the -O0 state_dict carried
through the passes) and in onnxruntime. Also: training mode without stochastic depth and dropout
(batch statistics and the running statistics' update, checking batch norm's eps 1e-5 and
momentum 0.1), torchvision's stochastic-depth probability of every block with a shortcut, and the
one source at B4's width and depth. Outputs are compared at 96×96 (the reference pools globally
before its classifier) to keep the test fast on two shared cores.
"""

from __future__ import annotations

import pytest
import torch

import incept_dsl
from tests.architectures.refs_support import (
    assert_informative,
    assert_same_at_every_level,
    conv_linear_macs,
    rel_diff,
)

FILE = "efficientnet.incept"
RTOL = 1e-4
SIZE = (3, 96, 96)  # output comparisons
TRACE = (3, 32, 32)  # copy_weights traces the execution order here (the order is size-free)

#: model -> (the reference's parameter count (torchvision's metadata `num_params`), conv + linear
#: multiply-adds in G at torchvision's crop (its metadata `_ops`, three digits), that crop)
REFERENCE = {
    "efficientnet_b0": (5_288_548, 0.386, 224),
    "efficientnet_b1": (7_794_184, 0.687, 240),
    "efficientnet_b2": (9_109_994, 1.088, 288),
    "efficientnet_b3": (12_233_232, 1.827, 300),
}
MODELS = sorted(REFERENCE)


def randomize_batchnorm_gently(net: torch.nn.Module, size: tuple[int, ...], seed: int = 0) -> None:
    """helpers.randomize_batchnorm with finer statistics: those of one training-mode pass over 8
    random samples (not 2), then the means moved by 5% of each channel's standard deviation (not
    0.05) and the variances scaled by 0.9 to 1.1 (not 0.75 to 1.25).

    EfficientNet's 16 to 26 blocks in a row amplify the coarser statistics and perturbation
    until the reference's own float32 rounding is far above 1e-4 (B3 at 96×96: logits up to
    10⁸, its float32 result 80% away from its float64 one). With these, the reference's float32
    result is within 2e-5 of its float64 one at 96×96, and the comparisons below have a margin
    of at least four. The module's stochastic depth must be off (`stochastic_depth_prob=0`): it
    is active in training mode and would give statistics that eval mode never sees."""
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(torch.rand(bn.weight.shape, generator=gen) + 0.5)
            bn.bias.copy_(torch.randn(bn.bias.shape, generator=gen) * 0.1)
            bn.momentum = 1.0
        net.train()
        net(torch.randn(8, *size, generator=gen))
        for bn in bns:
            bn.momentum = 0.1
            spread = bn.running_var.sqrt()
            bn.running_mean.add_(torch.randn(spread.shape, generator=gen) * 0.05 * spread)
            bn.running_var.mul_(torch.rand(spread.shape, generator=gen) * 0.2 + 0.9)
    net.eval()


def pair(torchvision, name: str, size=SIZE, params=None, reference=None, **ref_kw):
    """(reference, our -O0 module, our Model) with the reference's weights in ours: our `name`
    with `params`, torchvision's `reference` (default `name`), without stochastic depth (the
    identity in eval mode either way)."""
    torch.manual_seed(0)
    ref = getattr(torchvision, reference or name)(weights=None, stochastic_depth_prob=0.0, **ref_kw)
    model = incept_dsl.load(FILE, model=name, input_shape=size, params=params or {})
    ours = model.to_torch()
    randomize_batchnorm_gently(ref, size)
    incept_dsl.copy_weights(ref, ours, input_shape=TRACE)
    return ref, ours, model


def _inputs(size=SIZE) -> torch.Tensor:
    return torch.randn(2, *size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", MODELS)
def test_same_params_and_multiply_adds_as_torchvision(name: str, torchvision):
    params, gmacs, crop = REFERENCE[name]
    standard = incept_dsl.load(FILE, model=name)
    assert standard.param_count() == params
    assert sum(p.numel() for p in getattr(torchvision, name)(weights=None).parameters()) == params
    at_crop = incept_dsl.load(FILE, model=name, input_shape=(3, crop, crop))
    assert round(conv_linear_macs(at_crop) / 1e9, 3) == gmacs


@pytest.mark.parametrize("name", MODELS)
def test_same_outputs_as_torchvision_at_every_level_and_in_onnxruntime(name: str, torchvision):
    ref, ours, model = pair(torchvision, name)
    x = _inputs()
    with torch.no_grad():
        theirs = ref.eval()(x)
    assert_same_at_every_level(model, ours, theirs, x, RTOL)


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_b2"])
def test_training_mode_and_batch_norm_updates_match(name: str, torchvision):
    """No stochastic depth and no dropout on either side: the same outputs from batch statistics,
    and the same running statistics afterwards (PyTorch's eps 1e-5 and momentum 0.1)."""
    off = {"drop": 0.0, "drop_path": 0.0}
    ref, ours, _ = pair(torchvision, name, params=off, dropout=0.0)
    ref_bns = [m for m in ref.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    our_bns = [m for m in ours.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(our_bns) == len(ref_bns)
    for a, b in zip(ref_bns, our_bns, strict=True):
        assert (b.eps, b.momentum) == (a.eps, 0.1) == (1e-5, 0.1)
    x = _inputs()
    with torch.no_grad():
        theirs, mine = ref.train()(x), ours.train()(x)
    assert_informative(theirs)
    assert rel_diff(mine, theirs) < RTOL
    for a, b in zip(ref_bns, our_bns, strict=True):
        assert rel_diff(b.running_mean, a.running_mean) < RTOL
        assert rel_diff(b.running_var, a.running_var) < RTOL


@pytest.mark.parametrize("name", MODELS)
def test_stochastic_depth_probabilities_are_torchvisions(name: str, torchvision):
    """torchvision gives the network's block i the probability 0.2 · i / total and applies it
    where the block has a shortcut; ours are the same numbers, to the bit, in the same order."""
    ref = getattr(torchvision, name)(weights=None)
    theirs = [
        block.stochastic_depth.p
        for block in ref.modules()
        if hasattr(block, "use_res_connect") and block.use_res_connect
    ]
    g = incept_dsl.load(FILE, model=name).optimized(0, keep_aux=False)
    mine = [g.attrs(n)["p"] for n in g.nodes() if g.op(n) == "stochastic_depth"]
    assert mine == theirs
    assert len(mine) > 8 and mine == sorted(mine) and 0 < mine[0] < mine[-1] < 0.2


def test_one_source_scales_to_b4(torchvision):
    """The source at B4's width 1.4 and depth 1.8 (rows of up to ceil(4 · 1.8) = 8 blocks) is
    torchvision's efficientnet_b4 (which also keeps PyTorch's batch-norm defaults)."""
    params = {"width": 1.4, "depth": 1.8}
    b4 = incept_dsl.load(FILE, model="efficientnet_b0", params=params)
    assert b4.param_count() == 19_341_616  # torchvision's metadata `num_params`
    ref, ours, _ = pair(torchvision, "efficientnet_b0", params=params, reference="efficientnet_b4")
    assert sum(p.numel() for p in ref.parameters()) == 19_341_616
    x = _inputs()
    with torch.no_grad():
        theirs = ref.eval()(x)
        assert_informative(theirs)
        assert rel_diff(ours.eval()(x), theirs) < RTOL


def test_rows_of_more_than_eight_blocks_are_an_error():
    """The rows are written out up to 8 blocks; B5's depth 2.2 (ceil(4 · 2.2) = 9) is refused."""
    with pytest.raises(incept_dsl.InceptError, match="repeat count must be at least 0"):
        incept_dsl.load(FILE, model="efficientnet_b0", params={"depth": 2.2})
