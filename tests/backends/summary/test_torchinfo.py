"""The cost tables against torchinfo (1.8.0, a test dependency) on every shipped model, at the
model's own input size and batch 1: the parameter totals are equal, trainable ones too, and
torchinfo's Mult-Adds are reproduced exactly from the IR by torchinfo's own convention
(`torchinfo_mult_adds`), which differs from the tables' MACs in the ways its docstring lists."""

from __future__ import annotations

import math

import pytest
from optimizer_helpers import ARCH, arch_models, ids

import incept_dsl
from incept_dsl.backends.summary.memory import run_order
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import param_count

torchinfo = pytest.importorskip("torchinfo")

#: The models whose torchinfo run takes over ~2 s on one core (a forward at full size).
SLOW = {
    "deeplabv3_resnet50",
    "fcn_resnet50",
    "unet",
    "unet_paper",
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg19",
    "resnet152",
    "resnext101_32x8d",
    "inception_resnet_v2",
    "vit_b_16",
    "vit_b_32",
    "wide_resnet50_2",
}


def torchinfo_mult_adds(g: Graph) -> int:
    """torchinfo's "Total mult-adds" of the eval forward at batch 1, from the IR. torchinfo
    counts, per leaf module that runs and has parameters named `weight`/`bias`: a conv (or
    transposed conv) `params × H'·W'` (weights and bias at every output position: the bias
    counts one MAC per output element, a transposed conv is counted over its *output*
    positions where the tables count its input positions), every other such module `params`
    once per sample (a linear on L tokens is counted once, not L times; batch, layer and group
    norm `2·C`). Everything else is 0: pooling, activations, adds, products, scales, concat,
    attention (nn.MultiheadAttention's projections run inside its functional forward, not as
    modules) and tensors held as bare parameters (class token, position table, layer scale).
    The tables count all of these by `incept_dsl.ir.costs`, without biases."""
    main, _ = run_order(g)
    total = 0
    for n in main:
        op = g.op(n)
        params = param_count(op, g.attrs(n))[0]
        if op in ("conv", "conv_transpose"):
            total += params * math.prod(g.shape(n)[1:])
        elif op in ("linear", "batchnorm", "layernorm", "groupnorm"):
            total += params
    return total


def _cases() -> list[object]:
    models = arch_models()
    return [
        pytest.param(f, m, id=i, marks=[pytest.mark.slow] if m in SLOW else [])
        for (f, m), i in zip(models, ids(models), strict=True)
    ]


@pytest.mark.parametrize(("file", "name"), _cases())
def test_totals_agree_with_torchinfo(file: str, name: str) -> None:
    import torch

    torch.set_num_threads(1)  # the machine is shared; one core keeps the runtime predictable
    model = incept_dsl.load(ARCH / file, model=name)
    (shape,) = model.inputs.values()
    stats = torchinfo.summary(model.to_torch(), input_size=(1, *shape), verbose=0)
    s = model.summary()
    # the module holds the aux heads' parameters too: it is the table's total with aux heads
    assert stats.total_params == s.with_aux.params == s.memory.trainable
    assert stats.trainable_params == s.memory.trainable
    assert stats.total_params - stats.trainable_params == s.memory.non_trainable == 0
    assert stats.total_mult_adds == torchinfo_mult_adds(model.graph)
    # torchinfo's "Input size" is the tensor's bytes plus Python's 64-byte object header
    assert stats.total_input - s.memory.input_bytes in (0, 64)
