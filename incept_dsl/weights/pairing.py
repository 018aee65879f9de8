"""Pairing a reference's units with the compiled module's, and copying the paired tensors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from incept_dsl.weights.layers import (
    Layer,
    WeightMismatch,
    agree,
    state_dict_units,
)
from incept_dsl.weights.trace import ordered_units

Pair = tuple[int, Layer, Layer]  # (the compiled module's unit index, reference unit, our unit)


def _example(module: Any, input_shape: tuple[int, ...] | None) -> Any:
    import torch

    shapes = getattr(module, "INPUT_SHAPES", None)
    if input_shape is not None:
        shapes = (tuple(input_shape),)
    if shapes is None:
        raise ValueError("pass input_shape=(C, H, W) to trace the networks")
    batch = tuple(torch.randn(2, *s) for s in shapes)
    return batch if len(batch) > 1 else batch[0]


def _sequences(
    theirs: list[Layer], ours: list[Layer], split: bool
) -> list[tuple[str, list[Layer], list[tuple[int, Layer]]]]:
    """The sequences paired position by position: (what they hold, reference units, our units
    with their execution index). One sequence of every unit, or (`split`) the layers apart from
    the loose tensors."""
    numbered = list(enumerate(ours))
    if not split:
        return [("parametric layers and loose tensors", theirs, numbered)]
    return [
        (
            label,
            [u for u in theirs if u.loose == loose],
            [(i, u) for i, u in numbered if u.loose == loose],
        )
        for label, loose in (("parametric layers", False), ("loose tensors", True))
    ]


def _pairs(theirs: list[Layer], ours: list[Layer], split: bool) -> list[Pair]:
    """The checked pairs, in the compiled module's execution order; WeightMismatch names the
    first pair that disagrees (`layers.agree`), else the first unit one side has in excess."""
    sequences = _sequences(theirs, ours, split)
    pairs = sorted(
        ((i, a, b) for _, refs, mine in sequences for a, (i, b) in zip(refs, mine, strict=False)),
        key=lambda p: p[0],
    )
    for i, a, b in pairs:
        if not agree(a, b):
            raise WeightMismatch(
                f"layer {i + 1} does not match: the reference's {a.describe()} vs the compiled "
                f"module's {b.describe()}"
            )
    for label, refs, mine in sequences:
        if len(refs) != len(mine):
            extra, which = (
                (refs[len(mine)], "reference")
                if len(refs) > len(mine)
                else (mine[len(refs)][1], "module")
            )
            raise WeightMismatch(
                f"the reference has {len(refs)} {label} and the compiled module {len(mine)}; the "
                f"first unmatched one is the {which}'s {extra.describe()}"
            )
    return pairs


def paired_units(
    reference: Any, module: Any, input_shape: tuple[int, ...] | None = None
) -> list[tuple[Layer, Layer]]:
    """(reference unit, module unit) pairs, checked; see `incept_dsl.weights` for the rule."""
    import torch.nn as nn

    example = _example(module, input_shape)
    ours = ordered_units(module, example)
    if isinstance(reference, nn.Module):
        return [(a, b) for _, a, b in _pairs(ordered_units(reference, example), ours, False)]
    return [(a, b) for _, a, b in _pairs(state_dict_units(reference), ours, True)]


def pair_layers(
    reference: Any, module: Any, input_shape: tuple[int, ...] | None = None
) -> list[tuple[str, str]]:
    """(reference unit, module unit) name pairs, checked for kind, roles and shapes."""
    return [(a.name, b.name) for a, b in paired_units(reference, module, input_shape)]


def copy_weights(reference: Any, module: Any, input_shape: tuple[int, ...] | None = None) -> Any:
    """Copy `reference`'s weights (an `nn.Module` or a state_dict) into the compiled `module`.

    `input_shape` (C, H, W) is used to trace execution order; by default the module's declared
    input shape. Returns `module`, every tensor of its state_dict overwritten by its pair's
    (reshaped where the two differ by size-1 dimensions; a batch counter the reference lacks
    kept). Raises `WeightMismatch` naming the first unit that differs, `module` left unchanged.
    """
    import torch
    import torch.nn as nn

    pairs = paired_units(reference, module, input_shape)
    source: Mapping[str, Any] = (
        reference.state_dict() if isinstance(reference, nn.Module) else reference
    )
    target = module.state_dict(keep_vars=True)
    plan = [
        (target[key], source[a.keys[role]])
        for a, b in pairs
        for role, key in b.keys.items()
        if role in a.keys  # `agree` checked the roles: only the batch counter may be missing
    ]
    with torch.no_grad():
        for dst, src in plan:
            dst.copy_(torch.as_tensor(src).reshape(dst.shape))
    return module
