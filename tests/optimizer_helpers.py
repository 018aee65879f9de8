"""Every model of every `architectures/*.incept` file, found when the tests are collected, and
helpers to run them small: the smallest input side that elaborates, random weights with
non-trivial batch-norm statistics."""

from __future__ import annotations

from pathlib import Path

import incept_dsl
from incept_dsl.frontend.parser import parse

ARCH = Path(__file__).resolve().parents[1] / "architectures"

#: Input sides tried, smallest first (a model's own size is the fallback).
SIDES = (64, 75, 96, 128, 160, 224, 299)


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
    """The model with the smallest square input in `SIDES` it accepts (its own size otherwise)."""
    default = incept_dsl.load(ARCH / file, model=model)
    (shape,) = default.inputs.values()
    for side in SIDES:
        if side >= shape[1]:
            break
        try:
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
