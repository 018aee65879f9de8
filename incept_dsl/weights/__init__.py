"""Copying a reference implementation's weights into a compiled module.

`copy_weights(reference, module)` is how users load torchvision / timm checkpoints into an
incept-dsl module: `copy_weights(torchvision.models.googlenet(weights=...), net)`. `reference` is
an `nn.Module` or a bare state_dict (a checkpoint).

The pairing rule. Each network's state_dict is cut into *units* (`layers`): a layer — the
tensors of one Conv2d, ConvTranspose2d, Linear, BatchNorm, LayerNorm (torchvision's LayerNorm2d
too) or GroupNorm, or the in-projection (`in_proj_weight`, `in_proj_bias`) of an
`nn.MultiheadAttention`, a Linear whose `out_proj` is the next one — or a *loose* tensor, held
by any other module (torchvision's `class_token`, `encoder.pos_embedding` and CNBlock's
`layer_scale`; timm's `cls_token`, `pos_embed` and LayerScale `gamma`; our `token`, `embedding`
and `gamma`). A loose tensor belongs to no layer whose call could order it, so every tensor is
ordered by when the forward pass first *reads* it (`trace`): the first torch operation that
takes it as an argument, tensors of one operation in argument order. A unit sits where its
first tensor is read: the eval-mode pass first, then what only training mode reads (aux heads,
wherever either network runs them), then what is never read, in registration order. So a class
token sits where it is prepended, a position embedding where it is added, a layer scale where it
multiplies — the same place in both networks whatever module holds it.

From a module the units are paired one to one in that order; from a state_dict, whose key order
stands in for the reference's execution order, the layers are paired in key order and the loose
tensors, apart, in key order (a module registers its own tensors before its children's:
torchvision's `class_token` precedes `conv_proj`, CNBlock's `layer_scale` its block). A pair
must agree in kind (a Linear also pairs with a pointwise 1×1 Conv2d: ConvNeXt's Linear over
channels-last pixels), in roles (weight, bias, running statistics; the batch counter aside) and
in every shape — exactly, except that a loose pair, or a Linear paired with a 1×1 conv, may
differ by size-1 dimensions (CNBlock's (C, 1, 1) `layer_scale` into a (C,) `gamma`), copied with
a reshape. timm's `attn.qkv` (3D×D) and `attn.proj` are two Linears and so pair with an
attention's in- and out-projection, whose layouts they share.

Guarantees: on success every tensor of `module`'s state_dict is overwritten and the module is
returned; on the first disagreement (in `module`'s execution order) a `WeightMismatch` names both
units and their shapes, and `module` is left unchanged. Neither network's own state (running
statistics, mode) is changed by the tracing.
"""

from incept_dsl.weights.layers import Layer, WeightMismatch
from incept_dsl.weights.pairing import copy_weights, pair_layers, paired_units
from incept_dsl.weights.trace import execution_order, tensor_order

__all__ = [
    "Layer",
    "WeightMismatch",
    "copy_weights",
    "execution_order",
    "pair_layers",
    "paired_units",
    "tensor_order",
]
