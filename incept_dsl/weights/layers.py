"""The units `copy_weights` pairs: layers (their tensors by role) and tensors held outside layers.

A network's state_dict is cut into units by key prefix, that is by the module that holds each
tensor directly. The tensors of a Conv2d, ConvTranspose2d, Linear, BatchNorm, LayerNorm or
GroupNorm form one layer (roles `weight`, `bias` and the running statistics); an
`nn.MultiheadAttention`'s `in_proj_weight` and `in_proj_bias` form a Linear (roles `weight` and
`bias`; its `out_proj` is a Linear of its own); every other tensor is a unit alone, of kind
`tensor` (a *loose* tensor: torchvision's `class_token`, `encoder.pos_embedding` and CNBlock's
`layer_scale`, timm's `cls_token`, `pos_embed` and `LayerScale.gamma`, the compiled module's
`<scope>.token`, `<scope>.embedding` and `<scope>.gamma`). From a module the kind is its class's;
from a bare state_dict it is guessed from the key names and the weight's rank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from incept_dsl.text import fmt_shape

#: The kind of a tensor held outside any layer.
LOOSE = "tensor"
#: The roles a layer's tensors take: their names in the holding module.
LAYER_ROLES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
#: A counter, not a weight: copied when both sides have it, never required.
COUNTER = "num_batches_tracked"


class WeightMismatch(ValueError):
    """The reference and the compiled module disagree at a named layer."""


@dataclass(frozen=True)
class Kind:
    """What a group of tensors is: `name` as shown, `kinds` what it may be (a bare state_dict
    cannot tell a Conv2d from a ConvTranspose2d), `pointwise` for a conv that is a linear map of
    each pixel's channels (1×1 kernel, stride 1, no padding, one group)."""

    name: str
    kinds: frozenset[str]
    pointwise: bool = False


@dataclass(frozen=True)
class Layer:
    """One unit: `tensors` maps each role to its shape, `keys` each role to its state_dict key."""

    name: str
    kind: Kind
    tensors: dict[str, tuple[int, ...]]
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def loose(self) -> bool:
        return self.kind.name == LOOSE

    def describe(self) -> str:
        """`'name' (Kind: weight 64×3×3×3, bias 64)`, or `'name' (tensor: 1×1×192)` if loose."""
        if self.loose:
            return f"'{self.name}' ({LOOSE}: {fmt_shape(self.tensors[LOOSE]) or 'scalar'})"
        shapes = ", ".join(
            f"{self.keys[r].rpartition('.')[2]} {fmt_shape(s)}"
            for r, s in self.tensors.items()
            if r in ("weight", "bias")
        )
        return f"'{self.name}' ({self.kind.name}: {shapes})"


def _kind(name: str, pointwise: bool = False) -> Kind:
    return Kind(name, frozenset({name}), pointwise)


ATTENTION = _kind("MultiheadAttention")


def module_kind(mod: Any) -> Kind | None:
    """The layer kind of a module by its class; None for a module whose tensors are loose."""
    import torch.nn as nn

    if isinstance(mod, nn.Conv2d):
        flat = (tuple(mod.kernel_size), tuple(mod.stride), tuple(mod.dilation)) == ((1, 1),) * 3
        unpadded = mod.padding in ("valid", (0, 0)) or (mod.padding == "same" and flat)
        return _kind("Conv2d", flat and unpadded and mod.groups == 1)
    simple: tuple[tuple[Any, str], ...] = (
        (nn.ConvTranspose2d, "ConvTranspose2d"),
        (nn.Linear, "Linear"),
        ((nn.BatchNorm1d, nn.BatchNorm2d), "BatchNorm"),
        (nn.LayerNorm, "LayerNorm"),
        (nn.GroupNorm, "GroupNorm"),
        (nn.MultiheadAttention, ATTENTION.name),
    )
    return next((_kind(name) for cls, name in simple if isinstance(mod, cls)), None)


def guessed_kind(leaves: Mapping[str, tuple[int, ...]]) -> Kind | None:
    """The layer kind of a state_dict group (leaf name -> shape), guessed from its names and the
    rank of its `weight`: a 4-d weight is a Conv2d or ConvTranspose2d, a 2-d one a Linear, a 1-d
    one without running statistics a LayerNorm or GroupNorm."""
    if "in_proj_weight" in leaves:
        return ATTENTION
    if "running_mean" in leaves:
        return _kind("BatchNorm")
    weight = leaves.get("weight")
    if weight is not None and len(weight) == 4:
        pointwise = weight[2:] == (1, 1)
        return Kind(
            "Conv2d or ConvTranspose2d", frozenset({"Conv2d", "ConvTranspose2d"}), pointwise
        )
    if weight is not None and len(weight) == 2:
        return _kind("Linear")
    if weight is not None and len(weight) == 1:
        return Kind("LayerNorm or GroupNorm", frozenset({"LayerNorm", "GroupNorm"}))
    return None


def group_units(
    prefix: str, leaves: Mapping[str, tuple[int, ...]], kind: Kind | None
) -> list[Layer]:
    """The units of the tensors one module holds (`leaves`: leaf name -> shape, in key order)."""
    key = (prefix + ".") if prefix else ""
    if kind == ATTENTION and "in_proj_weight" in leaves:
        roles = {"weight": "in_proj_weight", "bias": "in_proj_bias"}
        roles = {r: leaf for r, leaf in roles.items() if leaf in leaves}
        kind = _kind("Linear")
    elif kind is not None and kind != ATTENTION:
        roles = {r: r for r in LAYER_ROLES if r in leaves}
    else:
        roles = {}
    out = []
    if roles:
        tensors = {r: leaves[leaf] for r, leaf in roles.items()}
        assert kind is not None
        out.append(Layer(prefix, kind, tensors, {r: key + leaf for r, leaf in roles.items()}))
    taken = set(roles.values())
    loose = _kind(LOOSE)
    for leaf, shape in leaves.items():
        if leaf not in taken:
            out.append(Layer(key + leaf, loose, {LOOSE: shape}, {LOOSE: key + leaf}))
    return out


def _groups(state: Mapping[str, Any]) -> dict[str, dict[str, tuple[int, ...]]]:
    """prefix -> {leaf: shape}, in key order; entries that are no tensors are left out."""
    groups: dict[str, dict[str, tuple[int, ...]]] = {}
    for key, value in state.items():
        if hasattr(value, "shape"):
            prefix, _, leaf = key.rpartition(".")
            groups.setdefault(prefix, {})[leaf] = tuple(value.shape)
    return groups


def module_units(net: Any) -> list[Layer]:
    """`net`'s units in state_dict order, each layer's kind that of the module holding it."""
    mods = dict(net.named_modules())
    out: list[Layer] = []
    for prefix, leaves in _groups(net.state_dict(keep_vars=True)).items():
        out += group_units(prefix, leaves, module_kind(mods.get(prefix)))
    return out


def state_dict_units(state: Mapping[str, Any]) -> list[Layer]:
    """A bare state_dict's units in key order, each layer's kind guessed (`guessed_kind`)."""
    out: list[Layer] = []
    for prefix, leaves in _groups(state).items():
        out += group_units(prefix, leaves, guessed_kind(leaves))
    return out


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def reshapable(a: Layer, b: Layer) -> bool:
    """Whether `a`'s and `b`'s tensors may differ by dimensions of size 1 (copied with a reshape,
    which keeps every element's place): two loose tensors (CNBlock's (C, 1, 1) `layer_scale` and a
    (C,) `gamma`), or a Linear and a pointwise Conv2d (ConvNeXt's Linear over channels-last
    pixels and a 1×1 conv)."""
    if a.loose and b.loose:
        return True
    for lin, conv in ((a, b), (b, a)):
        if "Linear" in lin.kind.kinds and "Conv2d" in conv.kind.kinds and conv.kind.pointwise:
            return True
    return False


def agree(a: Layer, b: Layer) -> bool:
    """Whether `a` and `b` may be paired: the same kind (or `reshapable`), the same roles (the
    batch counter aside) and every role's shape equal (up to size-1 dimensions if reshapable)."""
    loose_shapes = reshapable(a, b)
    if not (a.kind.kinds & b.kind.kinds or loose_shapes):
        return False
    roles = set(a.tensors) - {COUNTER}
    if roles != set(b.tensors) - {COUNTER}:
        return False
    return all(
        a.tensors[r] == b.tensors[r]
        or (loose_shapes and _squeezed(a.tensors[r]) == _squeezed(b.tensors[r]))
        for r in roles
    )
