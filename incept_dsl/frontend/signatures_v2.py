"""The surface ops of language v2 (LANGUAGE.md section 11) besides the activations, which
`incept_dsl.frontend.signatures` lists with v1's: their arguments, valid ranges and rules. Also
`crop`, an extension beyond LANGUAGE.md added for U-Net (docs/language.md).
"""

from __future__ import annotations

from typing import Any

from incept_dsl.frontend.op_spec import FLOAT32_TINY, REQUIRED, Arg, Constraint, Range, Signature

_GN_EPS = Range(
    FLOAT32_TINY,
    text="positive (at least 1.2e-38, the smallest normal float32)",
    why="group norm divides by sqrt(variance + eps): with eps <= 0 a constant group gives inf "
    "or NaN",
)
_LN_EPS = Range(
    FLOAT32_TINY,
    text="positive (at least 1.2e-38, the smallest normal float32)",
    why="layer norm divides by sqrt(variance + eps): with eps <= 0 a constant position gives inf "
    "or NaN",
)
_PROBABILITY = Range(
    0.0, 1.0, text="a probability in [0, 1]", why="PyTorch's dropout takes 0 <= p <= 1"
)
_INDEX = Range(0, text="at least 0", why="channels and tokens are counted from 0")
_END = Range(1, text="at least 1", why="slice takes channels start .. end-1: end 0 takes none")
_STD = Range(0.0, text="at least 0", why="a normal distribution has a standard deviation >= 0")


def _output_padding_below_stride(stride: Any, output_padding: Any) -> str | None:
    if output_padding[0] >= stride[0] or output_padding[1] >= stride[1]:
        return (
            f"output_padding {output_padding[0]}×{output_padding[1]} must be smaller than the "
            f"stride {stride[0]}×{stride[1]}"
        )
    return None


_DROP_P = Range(
    0.0,
    1.0,
    text="a probability in [0, 1]",
    why="torchvision's StochasticDepth takes 0 <= p <= 1",
)
_UPSAMPLE_SCALE = Range(
    1.0,
    text="at least 1",
    why="upsample enlarges (floor(side * scale) pixels a side); to shrink, give size = HxW",
)


def _one_of_scale_and_size(scale: Any, size: Any) -> str | None:
    if (scale is None) == (size is None):
        return "upsample takes exactly one of 'scale' and 'size'" + (
            "; got both" if scale is not None else "; got neither"
        )
    return None


def _corners_need_bilinear(mode: str, align_corners: bool) -> str | None:
    if align_corners and mode != "bilinear":
        return f"align_corners = true needs mode = bilinear; got mode = {mode}"
    return None


#: The v2 ops, in the order `incept-dsl ops` lists them.
V2_SIGNATURES: tuple[Signature, ...] = (
    Signature(
        "channel_shuffle",
        (Arg("groups", "count"),),
        doc="ShuffleNet's channel shuffle: C = groups × (C/groups) channels read transposed",
        keeps_shape=True,
    ),
    Signature(
        "layer_scale",
        (Arg("init", "float", 1e-6),),
        doc="a learned per-channel multiplier, initialised to init (ConvNeXt, CaiT)",
        keeps_shape=True,
    ),
    Signature(
        "groupnorm",
        (Arg("groups", "count"), Arg("eps", "float", 1e-5, _GN_EPS)),
        doc="group normalisation of images (nn.GroupNorm): channels in `groups` groups, "
        "learned weight and bias per channel",
        keeps_shape=True,
    ),
    Signature(
        "stochastic_depth",
        (Arg("p", "float", REQUIRED, _DROP_P), Arg("mode", "drop_mode", "row")),
        doc="drops its input per sample (row) or per batch (batch) with probability p in "
        "training, scaling survivors by 1/(1-p); the identity in evaluation (torchvision's "
        "StochasticDepth)",
        keeps_shape=True,
    ),
    Signature(
        "upsample",
        (
            Arg("scale", "float", "none", _UPSAMPLE_SCALE),
            Arg("size", "pair", "none"),
            Arg("mode", "resize_mode", "nearest"),
            Arg("align_corners", "bool", False),
        ),
        doc="resizes images (F.interpolate) by a factor `scale` or to `size` HxW, nearest or "
        "bilinear",
        constraints=(
            Constraint(
                ("scale", "size"),
                _one_of_scale_and_size,
                hint="write upsample(scale = 2) or upsample(size = 32x32)",
            ),
            Constraint(
                ("mode", "align_corners"),
                _corners_need_bilinear,
                hint="nearest has no corners to align (PyTorch refuses align_corners there)",
            ),
        ),
    ),
    Signature(
        "crop",
        (Arg("size", "pair"),),
        doc="a centred HxW window of images (U-Net's copy and crop): top (H - h) // 2, left "
        "(W - w) // 2; no weights",
    ),
    Signature(
        "conv_transpose",
        (
            Arg("out", "count"),
            Arg("kernel", "pair"),
            Arg("stride", "pair", 1),
            Arg("padding", "pair0", 0),
            Arg("output_padding", "pair0", 0),
            Arg("groups", "count", 1),
            Arg("bias", "bias", "auto"),
            Arg("bn", "bool", False),
            Arg("act", "act", "none"),
        ),
        doc="transposed 2-D convolution (nn.ConvTranspose2d), optionally followed by batch norm "
        "and an activation; output (in - 1) * stride - 2 * padding + kernel + output_padding",
        constraints=(
            Constraint(
                ("stride", "output_padding"),
                _output_padding_below_stride,
                hint="output_padding adds up to stride - 1 rows and columns (PyTorch refuses "
                "more): lower it, or raise the stride",
            ),
        ),
    ),
    Signature(
        "layernorm",
        (Arg("eps", "float", 1e-5, _LN_EPS),),
        doc="layer normalisation over the channels of each position (images: per pixel over C, "
        "ConvNeXt's LayerNorm2d), each sample's features, or each token; learned weight and bias",
        keeps_shape=True,
    ),
    Signature(
        "slice",
        (Arg("start", "int", REQUIRED, _INDEX), Arg("end", "int", REQUIRED, _END)),
        doc="channels start .. end-1 (x[:, start:end]); no weights",
    ),
    Signature("tokens", (), doc="N×C×H×W -> N×(H·W)×C, row-major (ViT's patch sequence)"),
    Signature(
        "class_token",
        (),
        doc="prepends one learned D-vector: N×L×D -> N×(L+1)×D (ViT's class token)",
    ),
    Signature(
        "pos_embedding",
        (Arg("std", "float", 0.02, _STD),),
        doc="adds a learned L×D table (initialised from a normal with standard deviation std)",
        keeps_shape=True,
    ),
    Signature(
        "attention",
        (
            Arg("heads", "count"),
            Arg("dropout", "float", 0.0, _PROBABILITY),
            Arg("bias", "bool", True),
        ),
        doc="multi-head self-attention over tokens (nn.MultiheadAttention, batch first)",
        keeps_shape=True,
    ),
    Signature("select", (Arg("index", "int", 0, _INDEX),), doc="one token: N×L×D -> N×D"),
)
