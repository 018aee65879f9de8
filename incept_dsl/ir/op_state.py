"""The state_dict tensors of the IR ops, as PyTorch names and shapes them: the `state` entry of
each op in the op table (`incept_dsl.ir.ops.OPS`).
"""

from __future__ import annotations

from typing import Any

from incept_dsl.ir.shapes import Shape

# ---- parameters and state_dict tensors ----------------------------------------------------------
Tensors = tuple[tuple[str, Shape], ...]


def conv_state(a: dict[str, Any]) -> Tensors:
    kh, kw = a["kernel"]
    weight = ("weight", (a["out_channels"], a["in_channels"] // a["groups"], kh, kw))
    return (weight, ("bias", (a["out_channels"],))) if a["bias"] else (weight,)


def bn_state(a: dict[str, Any]) -> Tensors:
    c = (a["num_features"],)
    return (
        ("weight", c),
        ("bias", c),
        ("running_mean", c),
        ("running_var", c),
        ("num_batches_tracked", ()),
    )


def linear_state(a: dict[str, Any]) -> Tensors:
    weight = ("weight", (a["out_features"], a["in_features"]))
    return (weight, ("bias", (a["out_features"],))) if a["bias"] else (weight,)


def gn_state(a: dict[str, Any]) -> Tensors:
    c = (a["num_channels"],)
    return (("weight", c), ("bias", c))


def layer_scale_state(a: dict[str, Any]) -> Tensors:
    return (("gamma", (a["channels"],)),)


def conv_transpose_state(a: dict[str, Any]) -> Tensors:
    """nn.ConvTranspose2d's weight is in_channels × (out_channels / groups) × kh × kw."""
    kh, kw = a["kernel"]
    weight = ("weight", (a["in_channels"], a["out_channels"] // a["groups"], kh, kw))
    return (weight, ("bias", (a["out_channels"],))) if a["bias"] else (weight,)


def ln_state(a: dict[str, Any]) -> Tensors:
    c = (a["channels"],)
    return (("weight", c), ("bias", c))


def class_token_state(a: dict[str, Any]) -> Tensors:
    return (("token", (1, 1, a["dim"])),)  # torchvision's class_token, timm's cls_token


def pos_embedding_state(a: dict[str, Any]) -> Tensors:
    return (("embedding", (1, a["length"], a["dim"])),)  # torchvision's pos_embedding


def attention_state(a: dict[str, Any]) -> Tensors:
    """nn.MultiheadAttention's: one packed q/k/v in-projection, then the out-projection."""
    d = a["dim"]
    weights = (("in_proj_weight", (3 * d, d)), ("out_proj.weight", (d, d)))
    if not a["bias"]:
        return weights
    return (
        weights[0],
        ("in_proj_bias", (3 * d,)),
        weights[1],
        ("out_proj.bias", (d,)),
    )


def no_state(a: dict[str, Any]) -> Tensors:
    return ()


#: state_dict entries that are buffers, not trainable parameters (PyTorch's batch norm statistics)
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
