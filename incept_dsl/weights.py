"""Copying a reference implementation's weights into a compiled module.

`copy_weights(reference, module)` is how users load torchvision / timm checkpoints into an
incept-dsl module: `copy_weights(torchvision.models.googlenet(weights=...), net)`.

Guarantees: parametric layers (Conv2d, BatchNorm, Linear) are paired by the order in which each
network *executes* them: the eval-mode path first, then the layers only training mode runs (so aux
heads pair up wherever either network registers or runs them); every pair must agree in kind and in
every parameter's and buffer's shape. On success every parameter and buffer of `module`'s
parametric layers is overwritten and the pairs are returned; on the first disagreement a
`WeightMismatch` names both layers and their shapes, and `module` is left unchanged. Neither
network's own state (running statistics, mode) is changed by the tracing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class WeightMismatch(ValueError):
    """The reference and the compiled module disagree at a named layer."""


@dataclass(frozen=True)
class Layer:
    name: str
    kind: str
    tensors: dict[str, tuple[int, ...]]

    def describe(self) -> str:
        shapes = ", ".join(
            f"{k} {'×'.join(map(str, v))}"
            for k, v in self.tensors.items()
            if k in ("weight", "bias")
        )
        return f"'{self.name}' ({self.kind}: {shapes})"


def _kind(mod: Any) -> str | None:
    import torch.nn as nn

    if isinstance(mod, nn.Conv2d):
        return "Conv2d"
    if isinstance(mod, nn.BatchNorm1d | nn.BatchNorm2d):
        return "BatchNorm"
    if isinstance(mod, nn.Linear):
        return "Linear"
    return None


def _tensors(mod: Any) -> dict[str, Any]:
    out = {k: v for k, v in mod.named_parameters(recurse=False)}
    out.update({k: v for k, v in mod.named_buffers(recurse=False) if v is not None})
    return out


def execution_order(net: Any, example: Any) -> list[str]:
    """Names of `net`'s parametric leaf modules in execution order.

    First the layers an eval-mode forward calls, in that order; then the layers only a
    training-mode forward calls (aux heads), in their training-mode order; then layers never
    called, in registration order. So aux heads pair up whether a network runs them where their
    input is ready (torchvision) or after the main path (incept-dsl). Runs on a deep copy, without
    gradients, so `net` itself is untouched.
    """
    import torch

    twin = copy.deepcopy(net)
    names = {id(m): n for n, m in twin.named_modules()}
    order: list[str] = []
    seen: set[str] = set()

    def hook(mod: Any, inputs: Any, output: Any) -> None:
        name = names[id(mod)]
        if name not in seen:
            seen.add(name)
            order.append(name)

    handles = [m.register_forward_hook(hook) for m in twin.modules() if _kind(m) is not None]
    try:
        with torch.no_grad():
            for training in (False, True):
                twin.train(training)
                twin(*example) if isinstance(example, tuple) else twin(example)
    finally:
        for h in handles:
            h.remove()
    unused = [n for n, m in twin.named_modules() if _kind(m) is not None and n not in seen]
    return order + unused  # layers never called (dead code) keep registration order at the end


def _layers(net: Any, names: list[str]) -> list[Layer]:
    mods = dict(net.named_modules())
    return [
        Layer(n, _kind(mods[n]) or "?", {k: tuple(v.shape) for k, v in _tensors(mods[n]).items()})
        for n in names
    ]


def _layers_from_state_dict(sd: Mapping[str, Any]) -> list[Layer]:
    """Group a bare state_dict into layers by key prefix, in key order, guessing each kind."""
    groups: dict[str, dict[str, tuple[int, ...]]] = {}
    for key, value in sd.items():
        prefix, _, leaf = key.rpartition(".")
        groups.setdefault(prefix, {})[leaf] = tuple(getattr(value, "shape", ()))
    out = []
    for prefix, tensors in groups.items():
        if "running_mean" in tensors:
            kind = "BatchNorm"
        elif len(tensors.get("weight", ())) == 4:
            kind = "Conv2d"
        elif len(tensors.get("weight", ())) == 2:
            kind = "Linear"
        else:
            continue
        out.append(Layer(prefix, kind, tensors))
    return out


def _example(module: Any, input_shape: tuple[int, ...] | None) -> Any:
    import torch

    shapes = getattr(module, "INPUT_SHAPES", None)
    if input_shape is not None:
        shapes = (tuple(input_shape),)
    if shapes is None:
        raise ValueError("pass input_shape=(C, H, W) to trace the networks")
    batch = tuple(torch.randn(2, *s) for s in shapes)
    return batch if len(batch) > 1 else batch[0]


def pair_layers(
    reference: Any, module: Any, input_shape: tuple[int, ...] | None = None
) -> list[tuple[str, str]]:
    """(reference layer, module layer) name pairs, checked for kind and shapes."""
    import torch.nn as nn

    example = _example(module, input_shape)
    ours = _layers(module, execution_order(module, example))
    if isinstance(reference, nn.Module):
        theirs = _layers(reference, execution_order(reference, example))
    else:
        theirs = _layers_from_state_dict(reference)
    for i, (a, b) in enumerate(zip(theirs, ours, strict=False)):
        if a.kind != b.kind or any(
            a.tensors.get(k) != v for k, v in b.tensors.items() if k != "num_batches_tracked"
        ):
            raise WeightMismatch(
                f"layer {i + 1} does not match: the reference's {a.describe()} vs the compiled "
                f"module's {b.describe()}"
            )
    if len(theirs) != len(ours):
        longer, which = (theirs, "reference") if len(theirs) > len(ours) else (ours, "module")
        extra = longer[min(len(theirs), len(ours))]
        raise WeightMismatch(
            f"the reference has {len(theirs)} parametric layers and the compiled module "
            f"{len(ours)}; the first unmatched one is the {which}'s {extra.describe()}"
        )
    return [(a.name, b.name) for a, b in zip(theirs, ours, strict=True)]


def copy_weights(reference: Any, module: Any, input_shape: tuple[int, ...] | None = None) -> Any:
    """Copy `reference`'s weights (an `nn.Module` or a state_dict) into the compiled `module`.

    `input_shape` (C, H, W) is used to trace execution order; by default the module's declared
    input shape. Returns `module`. Raises `WeightMismatch` naming the first layer that differs.
    """
    import torch
    import torch.nn as nn

    pairs = pair_layers(reference, module, input_shape)
    if isinstance(reference, nn.Module):
        ref_mods = dict(reference.named_modules())
        source = {n: _tensors(ref_mods[n]) for n, _ in pairs}
    else:
        source = {}
        for key, value in reference.items():
            prefix, _, leaf = key.rpartition(".")
            source.setdefault(prefix, {})[leaf] = value
    our_mods = dict(module.named_modules())
    with torch.no_grad():
        for ref_name, our_name in pairs:
            dst = _tensors(our_mods[our_name])
            for key, tensor in dst.items():
                src = source[ref_name].get(key)
                if src is None:
                    if key == "num_batches_tracked":
                        continue
                    raise WeightMismatch(f"the reference's '{ref_name}' has no '{key}'")
                tensor.copy_(src)
    return module
