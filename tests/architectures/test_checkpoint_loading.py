"""Checkpoints load into every model of the v2 library: `incept_dsl.copy_weights` given the
reference's bare `state_dict` (what a downloaded checkpoint is) fills the compiled module with
exactly the tensors it gets from the reference module itself.

The two modes pair differently (a state_dict by key order, a module by execution order), and the
module mode is the one the per-family tests prove exact (same outputs as the reference). So equal
results here mean a checkpoint gives the exact model too. Every tensor of the reference, buffers
included, is overwritten with distinct random values first, so that no two tensors of one shape
could be swapped unnoticed (torchvision initialises every BatchNorm to the same 1s and 0s).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import incept_dsl

SMALL = (3, 64, 64)  # our modules are built and traced here: the weights do not depend on it

#: (file, model, reference library, constructor name, input shape of ours or None for SMALL).
#: ViT's position table has one row per patch: it is built at the reference's 224×224.
MODELS: list[tuple[str, str, str, str, tuple[int, int, int] | None]] = [
    ("squeezenet.incept", "squeezenet1_0", "torchvision", "squeezenet1_0", None),
    ("squeezenet.incept", "squeezenet1_1", "torchvision", "squeezenet1_1", None),
    ("densenet.incept", "densenet121", "torchvision", "densenet121", None),
    ("densenet.incept", "densenet169", "torchvision", "densenet169", None),
    ("densenet.incept", "densenet201", "torchvision", "densenet201", None),
    ("resnext.incept", "resnext50_32x4d", "torchvision", "resnext50_32x4d", None),
    ("resnext.incept", "resnext101_32x8d", "torchvision", "resnext101_32x8d", None),
    ("resnext.incept", "wide_resnet50_2", "torchvision", "wide_resnet50_2", None),
    ("mobilenet.incept", "mobilenet_v2", "torchvision", "mobilenet_v2", None),
    ("mobilenet.incept", "mobilenet_v3_small", "torchvision", "mobilenet_v3_small", None),
    ("mobilenet.incept", "mobilenet_v3_large", "torchvision", "mobilenet_v3_large", None),
    ("efficientnet.incept", "efficientnet_b0", "torchvision", "efficientnet_b0", None),
    ("efficientnet.incept", "efficientnet_b1", "torchvision", "efficientnet_b1", None),
    ("efficientnet.incept", "efficientnet_b2", "torchvision", "efficientnet_b2", None),
    ("efficientnet.incept", "efficientnet_b3", "torchvision", "efficientnet_b3", None),
    ("shufflenet.incept", "shufflenet_v2_x0_5", "torchvision", "shufflenet_v2_x0_5", None),
    ("shufflenet.incept", "shufflenet_v2_x1_0", "torchvision", "shufflenet_v2_x1_0", None),
    ("regnet.incept", "regnet_y_400mf", "torchvision", "regnet_y_400mf", None),
    ("regnet.incept", "regnet_y_800mf", "torchvision", "regnet_y_800mf", None),
    ("seresnet.incept", "seresnet50", "timm", "seresnet50", None),
    ("convnext.incept", "convnext_tiny", "torchvision", "convnext_tiny", None),
    ("convnext.incept", "convnext_small", "torchvision", "convnext_small", None),
    ("vit.incept", "vit_b_16", "torchvision", "vit_b_16", (3, 224, 224)),
    ("vit.incept", "vit_b_32", "torchvision", "vit_b_32", (3, 224, 224)),
]


def _reference(lib: str, name: str, torchvision: Any, timm: Any) -> torch.nn.Module:
    if lib == "timm":
        return timm.create_model(name, pretrained=False)
    build: Callable[..., torch.nn.Module] = getattr(torchvision, name)
    return build(weights=None)


def _scramble(ref: torch.nn.Module) -> None:
    """Every floating tensor of `ref`'s state_dict gets distinct random values (variances
    positive)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for key, t in ref.state_dict().items():
            if t.is_floating_point():
                t.copy_(
                    torch.rand(t.shape, generator=gen) + 0.5
                    if "var" in key
                    else torch.randn(t.shape, generator=gen)
                )


@pytest.mark.parametrize(
    ("file", "model", "lib", "ctor", "shape"), MODELS, ids=[m[1] for m in MODELS]
)
def test_state_dict_loads_the_same_tensors_as_the_module(
    file: str,
    model: str,
    lib: str,
    ctor: str,
    shape: tuple[int, int, int] | None,
    torchvision,
    timm,
):
    torch.manual_seed(0)
    ref = _reference(lib, ctor, torchvision, timm)
    _scramble(ref)
    built = incept_dsl.load(file, model=model, input_shape=shape or SMALL)
    from_module = incept_dsl.copy_weights(ref, built.to_torch(), input_shape=shape or SMALL)
    from_checkpoint = incept_dsl.copy_weights(ref.state_dict(), built.to_torch())
    want, got = from_module.state_dict(), from_checkpoint.state_dict()
    assert list(want) == list(got)
    different = [k for k in want if not torch.equal(want[k], got[k])]
    assert not different, f"{model}: {len(different)} tensors differ, first {different[:3]}"
