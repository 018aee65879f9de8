"""ConvNeXt-T and ConvNeXt-S (architectures/convnext.incept) are exact against torchvision.

As tests/architectures/test_mobilenet_refs.py does: the same parameter count as the reference at
224×224, the conv + linear multiply-adds of torchvision's metadata (`_ops`, three digits; the
block's pointwise layers are 1×1 convs here, nn.Linear there, with the same count), and with the
reference's weights copied in by `incept_dsl.copy_weights` (every LayerNorm, layer scale and bias
given random values first: torchvision starts them at 1, 1e-6 and 0, which would hide a wrong
pairing or a missing residual branch) the same eval-mode outputs, relative difference below
1e-4, at -O0, -O1 and -O2 (the -O0 state_dict carried through the passes) and in onnxruntime.
Also: the stochastic depth probability of every block is torchvision's (rising linearly from 0
to `drop_path`), and training mode, where stochastic depth drops residual branches, gives the same
outputs from the same random numbers. Outputs are compared at 64×64 (the references pool
globally before their classifiers) to keep the tests fast on two shared cores.
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

FILE = "convnext.incept"
RTOL = 1e-4
SIZE = (3, 64, 64)  # output comparisons: 2×2 after the last downsampling
TRACE = (3, 32, 32)  # copy_weights traces the execution order here (the order is size-free)

#: model -> (the reference's parameter count (torchvision's metadata `num_params`), conv + linear
#: multiply-adds at 224×224 in G (torchvision's metadata `_ops`, three digits), torchvision's
#: stochastic_depth_prob)
REFERENCE = {
    "convnext_tiny": (28_589_128, 4.456, 0.1),
    "convnext_small": (50_223_688, 8.684, 0.4),
}
MODELS = sorted(REFERENCE)
#: ConvNeXt blocks: depths (3, 3, 9, 3) and (3, 3, 27, 3)
BLOCKS = {"convnext_tiny": 18, "convnext_small": 36}


def randomize(ref: torch.nn.Module, seed: int = 0) -> None:
    """Random LayerNorm affine parameters, layer scales and biases in `ref`."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        for name, p in ref.named_parameters():
            if name.endswith("layer_scale"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.9 + 0.1)


def pair(torchvision, name: str):
    """(reference, our -O0 module, our Model at SIZE) with the reference's weights in ours."""
    torch.manual_seed(0)
    ref = getattr(torchvision, name)(weights=None)
    model = incept_dsl.load(FILE, model=name, input_shape=SIZE)
    ours = model.to_torch()
    randomize(ref)
    incept_dsl.copy_weights(ref, ours, input_shape=TRACE)
    return ref.eval(), ours.eval(), model


@pytest.fixture(scope="module", params=MODELS)
def paired(request, torchvision):
    return request.param, *pair(torchvision, request.param)


def _inputs(size=SIZE) -> torch.Tensor:
    return torch.randn(2, *size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", MODELS)
def test_same_params_and_multiply_adds_as_torchvision(name: str, torchvision):
    params, gmacs, _ = REFERENCE[name]
    standard = incept_dsl.load(FILE, model=name)
    assert standard.param_count() == params
    assert sum(p.numel() for p in getattr(torchvision, name)(weights=None).parameters()) == params
    assert round(conv_linear_macs(standard) / 1e9, 3) == gmacs


def test_same_outputs_as_torchvision_at_every_level_and_in_onnxruntime(paired):
    _, ref, ours, model = paired
    x = _inputs()
    with torch.no_grad():
        theirs = ref(x)
    assert_same_at_every_level(model, ours, theirs, x, RTOL)


def test_stochastic_depth_rises_linearly_as_in_torchvision(paired):
    """Block i of n drops its branch with probability drop_path * i / (n - 1), in order."""
    name, ref, _, model = paired
    from torchvision.ops import StochasticDepth

    theirs = [m.p for m in ref.modules() if isinstance(m, StochasticDepth)]
    g = model.optimized(0, keep_aux=False)
    ours = [g.attrs(n)["p"] for n in g.order() if g.op(n) == "stochastic_depth"]
    drop_path = REFERENCE[name][2]
    assert len(theirs) == BLOCKS[name]
    assert theirs[0] == 0.0 and theirs[-1] == pytest.approx(drop_path)
    assert ours == theirs


def test_training_mode_drops_the_same_branches(paired):
    """Stochastic depth in training mode: the same random numbers drop the same residual branches
    (torchvision skips p = 0, and draws one Bernoulli per sample per block, as the module does)."""
    _, ref, ours, _ = paired
    x = _inputs()
    with torch.no_grad():
        torch.manual_seed(7)
        theirs = ref.train()(x)
        torch.manual_seed(7)
        mine = ours.train()(x)
        evaluated = ours.eval()(x)
    ref.eval()
    assert_informative(theirs)
    assert rel_diff(mine, theirs) < RTOL
    assert rel_diff(evaluated, theirs) > 1e-3  # some branch was dropped (or rescaled)
