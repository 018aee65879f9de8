"""ViT-B/16 and ViT-B/32 (architectures/vit.incept) are exact against torchvision.

As tests/architectures/test_mobilenet_refs.py does: the same parameter count as torchvision's
vit_b_16 / vit_b_32 at 224×224, and the multiply-adds of torchvision's metadata (`_ops`, three
digits), which for a transformer are conv + linear + attention's two L×L×D products (the scores
and the weighted sum). torchvision's VisionTransformer is built for one image size (its position
table has a row per patch), so outputs are compared with a reduced reference,
`VisionTransformer(image_size=96, ..., num_layers=2)` at ViT-Base's width, against the same
program compiled with `size = 96, layers = 2`. With the reference's weights copied in by
`incept_dsl.copy_weights` (LayerNorms, biases, the class token, the position table and the
classifier given random values first: torchvision starts them at 1, 0, 0, N(0, 0.02²) and 0) the
eval-mode outputs agree, relative difference below 1e-4, at -O0, -O1 and -O2 (the -O0 state_dict
carried through the passes) and in onnxruntime. Training mode with dropout and attention dropout
0.1 gives the same outputs from the same random numbers, which checks where the dropouts are
(Dosovitskiy et al. appendix B.1: after every dense layer except the qkv projections, and after
the position embedding).
"""

from __future__ import annotations

import pytest
import torch

import incept_dsl
from tests.architectures.refs_support import (
    assert_informative,
    assert_same_at_every_level,
    rel_diff,
)

FILE = "vit.incept"
RTOL = 1e-4
SIZE = 96  # image side of the output comparisons: 36 or 9 patches
LAYERS = 2  # encoder layers of the output comparisons

#: model -> (patch size, the reference's parameter count (torchvision's metadata `num_params`),
#: conv + linear + attention multiply-adds at 224×224 in G (torchvision's metadata `_ops`))
REFERENCE = {
    "vit_b_16": (16, 86_567_656, 17.564),
    "vit_b_32": (32, 88_224_232, 4.409),
}
MODELS = sorted(REFERENCE)
#: ViT-Base, Dosovitskiy et al. Table 1
BASE = {"num_heads": 12, "hidden_dim": 768, "mlp_dim": 3072}


def conv_linear_attention_macs(model: incept_dsl.Model) -> int:
    """Multiply-adds of the convs, linears (per token on tokens) and attentions of the IR; an
    attention over L tokens of width D counts its four D×D projections per token and its two
    L×L×D products: 4·L·D² + 2·L²·D."""
    g = model.optimized(0, keep_aux=False)
    total = 0
    for n in g.nodes():
        a, shape = g.attrs(n), g.shape(n)
        if g.op(n) == "conv":
            c, h, w = shape
            kh, kw = a["kernel"]
            total += c * h * w * (a["in_channels"] // a["groups"]) * kh * kw
        elif g.op(n) == "linear":
            positions = shape[0] if len(shape) == 2 else 1
            total += positions * a["in_features"] * a["out_features"]
        elif g.op(n) == "attention":
            tokens, width = shape
            total += 4 * tokens * width * width + 2 * tokens * tokens * width
    return total


def randomize(ref: torch.nn.Module, seed: int = 0) -> None:
    """Random LayerNorm affine parameters, biases, class token, position table and classifier."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        for name, p in ref.named_parameters():
            if name.endswith("bias") or name in ("class_token", "encoder.pos_embedding"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
        ref.heads.head.weight.copy_(torch.randn(ref.heads.head.weight.shape, generator=gen) * 0.02)


def pair(name: str, drop: float = 0.0):
    """(reduced reference, our -O0 module, our Model) with the reference's weights in ours."""
    from torchvision.models.vision_transformer import VisionTransformer

    patch = REFERENCE[name][0]
    torch.manual_seed(0)
    ref = VisionTransformer(
        image_size=SIZE,
        patch_size=patch,
        num_layers=LAYERS,
        dropout=drop,
        attention_dropout=drop,
        **BASE,
    )
    params = {"size": SIZE, "layers": LAYERS, "drop": drop, "attn_drop": drop}
    model = incept_dsl.load(FILE, model=name, params=params)
    ours = model.to_torch()
    randomize(ref)
    incept_dsl.copy_weights(ref, ours, input_shape=(3, SIZE, SIZE))
    return ref.eval(), ours.eval(), model


def _inputs() -> torch.Tensor:
    return torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", MODELS)
def test_same_params_and_multiply_adds_as_torchvision(name: str, torchvision):
    _, params, gmacs = REFERENCE[name]
    standard = incept_dsl.load(FILE, model=name)
    assert standard.param_count() == params
    assert sum(p.numel() for p in getattr(torchvision, name)(weights=None).parameters()) == params
    assert round(conv_linear_attention_macs(standard) / 1e9, 3) == gmacs


@pytest.mark.parametrize("name", MODELS)
def test_same_outputs_as_torchvision_at_every_level_and_in_onnxruntime(name: str, torchvision):
    ref, ours, model = pair(name)
    x = _inputs()
    with torch.no_grad():
        theirs = ref(x)
    assert_same_at_every_level(model, ours, theirs, x, RTOL)


@pytest.mark.parametrize("name", MODELS)
def test_training_mode_dropout_matches(name: str, torchvision):
    """Dropout and attention dropout 0.1 on both sides: the same random numbers drop the same
    units, so the dropouts are in the same places and the same order."""
    ref, ours, _ = pair(name, drop=0.1)
    x = _inputs()
    with torch.no_grad():
        torch.manual_seed(7)
        theirs = ref.train()(x)
        torch.manual_seed(7)
        mine = ours.train()(x)
        evaluated = ours.eval()(x)
    assert_informative(theirs)
    assert rel_diff(mine, theirs) < RTOL
    assert rel_diff(evaluated, theirs) > 1e-3  # dropout did drop something


def test_size_and_depth_are_parameters():
    """The position table follows `size`: (size / patch)² + 1 rows; `layers` counts encoders."""
    for name, (patch, _, _) in REFERENCE.items():
        model = incept_dsl.load(FILE, model=name, params={"size": 64 + patch, "layers": 3})
        g = model.graph
        (table,) = [n for n in g.order() if g.op(n) == "pos_embedding"]
        assert g.shape(table) == (((64 + patch) // patch) ** 2 + 1, 768)
        assert sum(g.op(n) == "attention" for n in g.order()) == 3
