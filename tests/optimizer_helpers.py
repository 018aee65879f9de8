"""Helpers for the optimiser's tests: every model of every `architectures/*.incept` file (found
when the tests are collected), the smallest input each accepts, random weights with non-trivial
batch-norm statistics, and modules built from any pass list with the -O0 weights carried."""

from __future__ import annotations

from pathlib import Path

import incept_dsl
from incept_dsl.frontend.parser import parse

ARCH = Path(__file__).resolve().parents[1] / "architectures"

#: A small program whose -O2 module has every FusedConv2d form: a 1x1 conv merged with its
#: siblings, a conv with its activation, a conv with its residual add and activation fused.
FUSED_PROGRAM = """model t {
    input x: 3x16x16
    defaults conv(bn = true, act = relu, bias = false)
    a = x -> conv(8, 3, stride = 2)
    b = a -> concat { conv(4, 1); conv(4, 1) -> conv(6, 3); maxpool(3, stride = 1) -> conv(2, 1) }
    c = b -> conv(12, 1, act = none)
    output y = add(b, c) -> relu -> avgpool(global) -> flatten -> linear(5)
}
"""

#: Input sides tried, smallest first (a model's own size is the fallback).
SIDES = (64, 75, 96, 128, 160, 188, 193, 224, 299)  # 188: the smallest tile of unet_paper


def arch_models() -> list[tuple[str, str]]:
    """(file name, model name) of every bundled model, in file order."""
    out = []
    for path in sorted(ARCH.glob("*.incept")):
        try:
            names = [m.name for m in parse(path.read_text(encoding="utf-8"), str(path)).models]
        except incept_dsl.InceptError:
            names = ["<does not parse>"]
        out.extend((path.name, name) for name in names)
    return out


def ids(params: list[tuple[str, str]]) -> list[str]:
    return [f"{f.removesuffix('.incept')}:{m}" for f, m in params]


def load_small(file: str, model: str) -> incept_dsl.Model:
    """The model with the smallest square input in `SIDES` it accepts (its own size otherwise):
    set through the model's `size` parameter where it has one (ViT, U-Net, the segmentation
    models: their position tables, expectations and output sizes follow it), else by
    overriding the input shape."""
    default = incept_dsl.load(ARCH / file, model=model)
    (shape,) = default.inputs.values()
    for side in SIDES:
        if side >= shape[1]:
            break
        try:
            if "size" in default.params:
                return incept_dsl.load(ARCH / file, model=model, params={"size": side})
            return incept_dsl.load(ARCH / file, model=model, input_shape=(shape[0], side, side))
        except incept_dsl.InceptError:
            continue
    return default


def randomize(module, seed: int = 0):
    """Random weights (the module's init) plus random biases, BN affine and running statistics."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d | nn.Linear) and m.bias is not None:
                m.bias.uniform_(-0.1, 0.1, generator=gen)
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.2, 0.2, generator=gen)
                m.running_mean.uniform_(-0.2, 0.2, generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)
                m.num_batches_tracked.fill_(7)
    return module


def rel_err(out, ref) -> float:
    """max |out - ref| / max |ref| (the 1e-4 criterion)."""
    return float((out - ref).abs().max() / ref.abs().max().clamp_min(1e-30))


def carried(m: incept_dsl.Model, passes: tuple[str, ...], seed: int = 0):
    """(-O0 module, module of the graph after `passes` with the -O0 weights carried, that graph).

    Both modules are in eval mode; the -O0 weights are random (`randomize`).
    """
    import torch

    from incept_dsl.backends.torch.codegen import build_module
    from incept_dsl.passes import run_pipeline
    from incept_dsl.passes.recipe_arrays import carry_weights

    torch.manual_seed(seed)
    net0 = randomize(m.to_torch(), seed).eval()
    graph = run_pipeline(m.graph, passes=passes)
    state = {k: v.numpy() for k, v in net0.state_dict().items()}
    tensors = {k: torch.from_numpy(v) for k, v in carry_weights(graph, state).items()}
    return net0, build_module(graph, tensors).eval(), graph


def outputs_agree(net0, net, m: incept_dsl.Model, batch: int = 2, tol: float = 1e-4) -> float:
    """The largest relative error over every output of `net` against `net0` on a random input."""
    import torch

    xs = [torch.randn(batch, *s) for s in m.inputs.values()]
    with torch.no_grad():
        a, b = net0(*xs), net(*xs)
    pairs = [(a, b)] if isinstance(a, torch.Tensor) else list(zip(a, b, strict=True))
    worst = max(rel_err(y, x) for x, y in pairs)
    assert worst < tol, worst
    return worst
