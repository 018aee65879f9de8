"""Names users type for ops that the language spells otherwise (from PyTorch, Keras, papers).

They are not aliases: a program that writes one is still an error, but the error (and
`incept-dsl ops NAME`) suggests the op the language has. A synonym whose op this version does not
have yet is not suggested.
"""

from __future__ import annotations

from collections.abc import Iterable

#: what users type -> the op of the language
SYNONYMS: dict[str, str] = {
    "deconv": "conv_transpose",
    "convtranspose": "conv_transpose",
    "conv_transpose2d": "conv_transpose",
    "convtranspose2d": "conv_transpose",
    "ln": "layernorm",
    "layer_norm": "layernorm",
    "gn": "groupnorm",
    "group_norm": "groupnorm",
    "drop_path": "stochastic_depth",
    "droppath": "stochastic_depth",
    "hswish": "hardswish",
    "hard_swish": "hardswish",
    "hsigmoid": "hardsigmoid",
    "hard_sigmoid": "hardsigmoid",
    "leakyrelu": "leaky_relu",
    "lrelu": "leaky_relu",
    "swish": "silu",
    "chunk": "slice",
    "split": "slice",
    "interpolate": "upsample",
    "resize": "upsample",
    "center_crop": "crop",  # torchvision's CenterCrop
    "centre_crop": "crop",
    "mha": "attention",
    "multihead_attention": "attention",
    "self_attention": "attention",
    "dense": "linear",
    "conv2d": "conv",
    "batchnorm2d": "batchnorm",
    "batch_norm": "batchnorm",
    "max_pool": "maxpool",
    "maxpool2d": "maxpool",
    "avg_pool": "avgpool",
    "avgpool2d": "avgpool",
    "global_avgpool": "avgpool",
}


def _key(name: str) -> str:
    """`name` with case, `-` and `_` ignored: `MultiheadAttention`, `multihead_attention` and
    `multihead-attention` are one key."""
    return name.lower().replace("-", "").replace("_", "")


_BY_KEY = {_key(name): op for name, op in SYNONYMS.items()}


def synonym_hint(name: str, known: Iterable[str]) -> str | None:
    """ "did you mean 'X'?" when `name` is a known op `X` written in another case (`LayerNorm`),
    or (case, '-' and '_' ignored) a synonym of a known op `X` (`hswish`, `MultiheadAttention`)."""
    ops = set(known)
    lower = name.lower().replace("-", "_")
    if lower in ops:  # an op, or one written in another case
        return f"did you mean '{lower}'? (op names are lower case)" if lower != name else None
    target = _BY_KEY.get(_key(name))
    if target is not None and target in ops:
        return f"did you mean '{target}'? (the language calls {name} '{target}')"
    return None
