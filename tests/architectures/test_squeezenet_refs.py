"""SqueezeNet 1.0 and 1.1 (architectures/squeezenet.incept) are exact against torchvision.

As tests/architectures/test_mobilenet_refs.py does: the same parameter count as the reference at
224×224, the conv multiply-adds of torchvision's metadata (`_ops`, given to three digits), and with
the reference's weights copied in by `incept_dsl.copy_weights` the same eval-mode outputs,
relative difference below 1e-4, at -O0, at -O1 and -O2 (the -O0 state_dict carried through the
passes) and in onnxruntime. SqueezeNet has no batch norm; its biases are randomised instead
(torchvision starts them at 0). Outputs are compared at 88×88, where both versions have a max
pool whose output size `ceil_mode` rounds up (the references pool globally at the end).
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

FILE = "squeezenet.incept"
RTOL = 1e-4
#: output comparisons: at 88×88 both versions round a max pool's output size up (1.0: 20 -> 10
#: and 10 -> 5, not 9 and 4; 1.1: 10 -> 5 at the last pool, not 4)
SIZE = (3, 88, 88)
TRACE = (3, 32, 32)  # copy_weights traces the execution order here (the order is size-free)

#: model -> (the reference's parameter count (torchvision's metadata `num_params`), conv + linear
#: multiply-adds at 224×224 in G (torchvision's metadata `_ops`, three digits))
REFERENCE = {
    "squeezenet1_0": (1_248_424, 0.819),
    "squeezenet1_1": (1_235_496, 0.349),
}
MODELS = sorted(REFERENCE)


def randomize_biases(net: torch.nn.Module, seed: int = 0) -> None:
    """Small random biases (torchvision's are 0, which would hide a bias copied to the wrong conv)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.05)


def pair(torchvision, name: str, size=SIZE, classes: int = 1000, drop: float = 0.5):
    """(reference, our -O0 module, our Model) with the reference's weights in ours."""
    torch.manual_seed(0)
    ref = getattr(torchvision, name)(weights=None, num_classes=classes, dropout=drop)
    model = incept_dsl.load(
        FILE, model=name, input_shape=size, params={"classes": classes, "drop": drop}
    )
    ours = model.to_torch()
    randomize_biases(ref)
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
def test_training_mode_matches_without_dropout(name: str, torchvision):
    """Dropout 0 on both sides (no batch norm: training mode differs only by dropout)."""
    ref, ours, _ = pair(torchvision, name, drop=0.0)
    x = _inputs()
    with torch.no_grad():
        theirs, mine = ref.train()(x), ours.train()(x)
    assert_informative(theirs)
    assert rel_diff(mine, theirs) < RTOL


#: The smallest inputs incept-dsl accepts: the last max pool needs a 3×3 map (29×29 for 1.0:
#: 12 -> 6 -> 3 -> 1 through the pools, each of the first two rounding up; 25×25 for 1.1: the
#: same maps). torchvision's `min_size` is smaller (21 and 17), where the last max pool makes a
#: 1×1 map of a 2×2 one, a window PyTorch lets start inside the input and run past it; incept-dsl
#: rejects a pool window larger than its input, even with `ceil = true`.
SMALLEST = {"squeezenet1_0": (3, 29, 29), "squeezenet1_1": (3, 25, 25)}


@pytest.mark.parametrize("name", MODELS)
def test_other_class_counts_and_the_smallest_input(name: str, torchvision):
    """`classes` sizes conv10; the outputs agree where the last maps are 1×1."""
    size = SMALLEST[name]
    ref, ours, model = pair(torchvision, name, size=size, classes=10)
    assert model.param_count() == sum(p.numel() for p in ref.parameters())
    x = _inputs(size)
    with torch.no_grad():
        theirs = ref.eval()(x)
        assert theirs.shape == (2, 10)
        assert_informative(theirs)
        assert rel_diff(ours.eval()(x), theirs) < RTOL
