"""`copy_weights` loads the modern references: tensors held outside Conv/Linear/BatchNorm layers
(class tokens, position embeddings, layer scales), attention projections, LayerNorm.

Against a small torchvision VisionTransformer, a tiny torchvision ConvNeXt (LayerNorm2d,
CNBlocks with (C, 1, 1) layer scales and Linears over channels-last pixels, which the program
spells as 1×1 convs), a small timm ViT with LayerScale and a network of GroupNorm,
ConvTranspose2d, BatchNorm and LayerNorm2d: the same parameter count, and after
every reference tensor is given random values (tokens, norms and layer scales included) and
copied in — from the module and from its bare state_dict — the same eval-mode outputs at
-O0/-O1/-O2, relative difference below 1e-4. A mismatch names the first differing units.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from helpers import model, randomize_batchnorm

import incept_dsl
from incept_dsl.weights import WeightMismatch, execution_order, tensor_order
from incept_dsl.weights.layers import agree, module_units

RTOL = 1e-4

VIT = """
block encoder_layer(heads, mlp) = residual { layernorm(eps = 1e-6) -> attention(heads) -> dropout(0.0) }
    -> residual { layernorm(eps = 1e-6) -> linear(mlp, act = gelu) -> dropout(0.0)
                  -> linear(in_channels) -> dropout(0.0) }

model vit(classes = 10, head_bias = true) {
    input image: 3x32x32
    output logits = image -> conv(192, 4, stride = 4, padding = valid) -> tokens -> class_token
        -> pos_embedding -> repeat(2) { encoder_layer(3, 768) } -> layernorm(eps = 1e-6)
        -> select(0) -> linear(classes, bias = head_bias)
}
"""

#: torchvision's CNBlock: depthwise 7×7, LayerNorm over channels, Linear ×4, GELU, Linear, the
#: (C, 1, 1) layer scale, stochastic depth; here the Linears over pixels are 1×1 convs
CONVNEXT = """
block cn(p = 0.0) = residual {
    conv(in_channels, 7, padding = 3, groups = in_channels) -> layernorm(eps = 1e-6)
        -> conv(4 * in_channels, 1, act = gelu) -> conv(in_channels, 1) -> layer_scale
        -> stochastic_depth(p)
}

model convnext(classes = 10) {
    input image: 3x32x32
    output logits = image -> conv(16, 4, stride = 4, padding = valid) -> layernorm(eps = 1e-6)
        -> cn(0.0) -> cn(0.05) -> layernorm(eps = 1e-6) -> conv(32, 2, stride = 2, padding = valid)
        -> cn(0.1) -> avgpool(global) -> layernorm(eps = 1e-6) -> flatten -> linear(classes)
}
"""

#: timm's Block with LayerScale: norm1, attn (qkv, proj), ls1, norm2, mlp (fc1, GELU, fc2), ls2
TIMM_VIT = """
block block(heads, mlp) = residual { layernorm(eps = 1e-6) -> attention(heads) -> layer_scale(1e-5) }
    -> residual { layernorm(eps = 1e-6) -> linear(mlp, act = gelu) -> linear(in_channels)
                  -> layer_scale(1e-5) }

model timm_vit(classes = 10) {
    input image: 3x32x32
    output logits = image -> conv(192, 4, stride = 4, padding = valid) -> tokens -> class_token
        -> pos_embedding -> repeat(2) { block(3, 768) } -> layernorm(eps = 1e-6) -> select(0)
        -> linear(classes)
}
"""


#: torchvision-style layers without a v1 counterpart: GroupNorm, ConvTranspose2d (+ BatchNorm),
#: LayerNorm2d
UPSAMPLER = """
model upsampler {
    input x: 3x32x32
    output y = x -> conv(8, 3) -> groupnorm(2) -> relu
        -> conv_transpose(6, 2, stride = 2, bn = true, act = relu) -> layernorm -> conv(10, 1)
        -> avgpool(global) -> flatten
}
"""


def randomize(net: Any, seed: int) -> Any:
    """Every parameter of `net` moved by N(0, 0.1²) noise (tokens, norms, layer scales and zero
    initialised heads become non-trivial); `net` returned in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    return net.eval()


def tv_vit(torchvision: Any, mlp_dim: int = 768) -> Any:
    torch.manual_seed(0)
    ref = torchvision.VisionTransformer(
        image_size=32,
        patch_size=4,
        num_layers=2,
        num_heads=3,
        hidden_dim=192,
        mlp_dim=mlp_dim,
        num_classes=10,
    )
    return randomize(ref, 1)


def tv_convnext(torchvision: Any) -> Any:
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    torch.manual_seed(0)
    setting = [CNBlockConfig(16, 32, 2), CNBlockConfig(32, None, 1)]
    return randomize(ConvNeXt(setting, stochastic_depth_prob=0.1, num_classes=10), 2)


def timm_vit(timm: Any) -> Any:
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    ref = VisionTransformer(
        img_size=32, patch_size=4, embed_dim=192, depth=2, num_heads=3, init_values=1e-5
    )
    ref.reset_classifier(10)
    return randomize(ref, 3)


def upsampler(torchvision: Any) -> Any:
    from torch import nn
    from torchvision.models.convnext import LayerNorm2d

    torch.manual_seed(0)
    ref = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.GroupNorm(2, 8),
        nn.ReLU(),
        nn.ConvTranspose2d(8, 6, 2, stride=2, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        LayerNorm2d(6, eps=1e-5),
        nn.Conv2d(6, 10, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    randomize_batchnorm(ref, (3, 32, 32), seed=5)
    return randomize(ref, 5)


@pytest.fixture(scope="module")
def references(torchvision: Any, timm: Any) -> dict[str, tuple[Any, str]]:
    """name -> (reference module, program)."""
    return {
        "torchvision_vit": (tv_vit(torchvision), VIT),
        "torchvision_convnext": (tv_convnext(torchvision), CONVNEXT),
        "timm_vit": (timm_vit(timm), TIMM_VIT),
        "upsampler": (upsampler(torchvision), UPSAMPLER),
    }


@pytest.fixture(scope="module")
def copied(references) -> dict[str, tuple[Any, incept_dsl.Model, Any]]:
    """name -> (reference, our model, its -O0 module holding the reference's weights)."""
    out = {}
    for name, (ref, program) in references.items():
        ours = model(program)
        net = ours.to_torch()
        incept_dsl.copy_weights(ref, net)
        out[name] = (ref, ours, net.eval())
    return out


def rel_diff(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours - theirs).norm() / theirs.norm())


NAMES = ["torchvision_vit", "torchvision_convnext", "timm_vit", "upsampler"]
X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))


@pytest.mark.parametrize("name", NAMES)
def test_same_parameter_count(name: str, copied) -> None:
    ref, ours, net = copied[name]
    count = sum(p.numel() for p in ref.parameters())
    assert ours.param_count() == count == sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("level", [0, 1, 2])
@pytest.mark.parametrize("name", NAMES)
def test_same_outputs_at_every_level(name: str, level: int, copied) -> None:
    ref, ours, net = copied[name]
    if level:
        net = ours.to_torch(opt_level=level, state_dict=net.state_dict())
    with torch.no_grad():
        theirs, mine = ref(X), net(X)
    assert theirs.shape == mine.shape == (2, 10)
    assert (theirs[0] - theirs[1]).norm() > 1e-3 * theirs.norm()  # a non-degenerate comparison
    assert rel_diff(mine, theirs) < RTOL


def test_loose_tensors_land_where_the_references_use_them(copied) -> None:
    ref, _, net = copied["torchvision_vit"]
    assert torch.equal(net.class_token_1.token, ref.class_token)
    assert torch.equal(net.pos_embedding_1.embedding, ref.encoder.pos_embedding)
    ref, _, net = copied["torchvision_convnext"]
    for ours, theirs in (("cn_1", "1.0"), ("cn_2", "1.1"), ("cn_3", "3.0")):
        scale = ref.features.get_submodule(theirs).layer_scale  # (C, 1, 1)
        assert torch.equal(getattr(net, ours).layer_scale_1.gamma, scale.flatten())
    ref, _, net = copied["timm_vit"]
    assert torch.equal(net.pos_embedding_1.embedding, ref.pos_embed)
    assert torch.equal(net.repeat_1[1].block_1.layer_scale_2.gamma, ref.blocks[1].ls2.gamma)
    assert torch.equal(
        net.repeat_1[0].block_1.attention_1.in_proj_weight, ref.blocks[0].attn.qkv.weight
    )


@pytest.mark.parametrize("name", NAMES)
def test_copy_from_a_state_dict_loads_the_same_tensors(name: str, copied) -> None:
    """A bare state_dict pairs its layers and its loose tensors each in key order, although it
    lists torchvision's class_token before conv_proj and each CNBlock's layer_scale before its
    block."""
    ref, ours, net = copied[name]
    fresh = ours.to_torch()
    incept_dsl.copy_weights(ref.state_dict(), fresh)
    want, got = net.state_dict(), fresh.state_dict()
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want)
    with torch.no_grad():
        assert rel_diff(fresh.eval()(X), ref(X)) < RTOL


def test_execution_order_places_loose_tensors_where_they_are_read(copied) -> None:
    ref, _, net = copied["torchvision_convnext"]
    order = execution_order(ref, X)
    assert order[2:7] == [
        "features.1.0.block.0",
        "features.1.0.block.2",
        "features.1.0.block.3",
        "features.1.0.block.5",
        "features.1.0.layer_scale",
    ]
    order = execution_order(net, X)
    assert order[:3] == ["conv_1", "layernorm_1", "cn_1.conv_1"]
    assert order[6] == "cn_1.layer_scale_1.gamma"


def mismatch(reference: Any, program: str, **params: Any) -> str:
    """The WeightMismatch message of copying `reference` into `program`'s module, which it must
    leave unchanged."""
    net = model(program, params=params).to_torch()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(WeightMismatch) as info:
        incept_dsl.copy_weights(reference, net)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    return str(info.value)


def test_mismatch_names_the_first_differing_layers(torchvision: Any) -> None:
    message = mismatch(tv_vit(torchvision, mlp_dim=512), VIT)
    assert message == (
        "layer 8 does not match: the reference's 'encoder.layers.encoder_layer_0.mlp.0' "
        "(Linear: weight 512×192, bias 512) vs the compiled module's "
        "'repeat_1.0.encoder_layer_1.linear_1' (Linear: weight 768×192, bias 768)"
    )


def test_mismatch_names_a_differing_loose_tensor(torchvision: Any) -> None:
    """A 16×16 input: 17 tokens here, 65 in the reference's state_dict."""
    ref = tv_vit(torchvision).state_dict()
    net = model(VIT, input_shape=(3, 16, 16)).to_torch()
    with pytest.raises(WeightMismatch) as info:
        incept_dsl.copy_weights(ref, net)
    assert str(info.value) == (
        "layer 3 does not match: the reference's 'encoder.pos_embedding' (tensor: 1×65×192) vs "
        "the compiled module's 'pos_embedding_1.embedding' (tensor: 1×17×192)"
    )


def test_mismatch_names_a_missing_bias(torchvision: Any) -> None:
    message = mismatch(tv_vit(torchvision), VIT, head_bias=False)
    assert message == (
        "layer 17 does not match: the reference's 'heads.head' (Linear: weight 10×192, bias 10) "
        "vs the compiled module's 'linear_1' (Linear: weight 10×192)"
    )


def units(*modules: Any) -> list[Any]:
    return [module_units(m)[0] for m in modules]


def test_only_a_pointwise_conv_pairs_with_a_linear() -> None:
    from torch import nn

    linear, pointwise, strided, wide = units(
        nn.Linear(4, 8), nn.Conv2d(4, 8, 1), nn.Conv2d(4, 8, 1, stride=2), nn.Conv2d(4, 8, 3)
    )
    assert agree(linear, pointwise) and agree(pointwise, linear)
    assert not agree(linear, strided) and not agree(linear, wide)


def test_only_loose_tensors_differ_by_size_one_dimensions() -> None:
    from torch import nn

    holder = nn.Module()
    holder.scale = nn.Parameter(torch.ones(8, 1, 1))
    other = nn.Module()
    other.gamma = nn.Parameter(torch.ones(8))
    column = nn.Module()
    column.gamma = nn.Parameter(torch.ones(4, 2))
    scale, gamma, wrong = units(holder, other, column)
    assert agree(scale, gamma) and not agree(scale, wrong)
    conv, flat = units(nn.Conv2d(8, 1, 3), nn.Conv2d(1, 8, 3))  # 1×8×3×3 vs 8×1×3×3
    assert not agree(conv, flat)


def test_tensor_order_counts_tensor_attributes_but_not_metadata() -> None:
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.late = nn.Parameter(torch.zeros(4))
            self.early = nn.Parameter(torch.eye(4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            assert self.late.shape == (4,) and self.late.dtype == x.dtype  # metadata: no read
            return x @ self.early.T + self.late  # `.T` reads `early`

    assert tensor_order(Net(), torch.randn(2, 4)) == ["early", "late"]
