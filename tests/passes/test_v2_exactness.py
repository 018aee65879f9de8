"""-O1 and -O2 stay exact on programs that use every v2 op: with the -O0 module's random weights
(every parameter non-trivial, batch-norm statistics random) carried to the optimised module, its
outputs agree with -O0's within 1e-4 (relative); and the rewrites the v2 ops make natural happen:
batch norms fold into transposed convs, `layer_scale` and `scale` into the conv, transposed conv,
linear (also on tokens) or attention before them, `dropout` and `stochastic_depth` vanish, and
sibling 1×1 convs inside an MBConv block merge."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import VIT_TINY as VIT_TINY_ALONE
from optimizer_helpers import randomize, rel_err

import incept_dsl
from incept_dsl.driver import lower
from incept_dsl.ir.graph import Graph
from incept_dsl.passes import PASSES, PIPELINES, run_pipeline
from incept_dsl.passes.recipes import ChannelScale, FoldBN, Load, Scale
from tests.ir.v2_support import randomized, x_

SE = """
block se(ratio = 4) = mul {
    identity
    avgpool(global) -> conv(make_divisible(in_channels / ratio), 1, bn = false, act = relu)
                    -> conv(in_channels, 1, bn = false, act = hardsigmoid)
}
"""

MBCONV = (
    SE
    + """
block mbconv(exp, out, s) = conv(exp, 1) -> conv(exp, 3, stride = s, padding = 1, groups = exp)
    -> se -> conv(out, 1, act = none)
model t {
    input x: 8x12x12
    defaults conv(bn = true, act = hardswish, bias = false)
    a = x -> add { conv(16, 1, act = none); mbconv(32, 16, 1) }
    b = a -> residual { mbconv(48, 16, 1) -> stochastic_depth(0.2) } -> mbconv(32, 24, 2)
    output y = b -> avgpool(global) -> flatten -> dropout(0.3) -> linear(5)
}
"""
)

CONVNEXT = """
block convnext(dim) = residual {
    conv(dim, 7, padding = 3, groups = dim) -> layernorm(eps = 1e-6) -> conv(4 * dim, 1, act = gelu)
        -> conv(dim, 1) -> layer_scale(init = 0.1) -> stochastic_depth(0.1)
}
model t {
    input x: 3x16x16
    stem = x -> conv(16, 4, stride = 4) -> layernorm(eps = 1e-6)
    f = stem -> convnext(16) -> convnext(16) -> layernorm -> conv(32, 2, stride = 2)
    output y = f -> convnext(32) -> avgpool(global) -> flatten -> layernorm -> linear(7)
}
"""

UNET = """
model t {
    input x: 3x16x16
    defaults conv(bn = true, act = relu, bias = false)
    e1 = x -> conv(8, 3, padding = 1) -> conv(8, 3, padding = 1)
    e2 = e1 -> maxpool(2) -> conv(16, 3, padding = 1) -> conv(16, 3, padding = 1)
    up = e2 -> conv_transpose(8, 2, stride = 2, bn = true, act = relu)
    d1 = concat(e1, up) -> conv(8, 3, padding = 1)
    g = e2 -> upsample(scale = 2) -> conv_transpose(4, 3, padding = 1, groups = 4, bn = true)
    h = e2 -> upsample(size = 16x16, mode = bilinear, align_corners = true)
        -> conv_transpose(4, 1, bias = true) -> layer_scale(init = 0.5) -> scale(0.25)
    output y = concat(d1, g, h) -> conv(2, 1, bn = false, bias = true, act = none)
}
"""

SHUFFLE = """
block unit(c) = concat { slice(0, c / 2); slice(c / 2, c) -> conv(c / 2, 1)
        -> conv(c / 2, 3, padding = 1, groups = c / 2, act = none) -> conv(c / 2, 1) }
    -> channel_shuffle(2)
model t {
    input x: 3x16x16
    defaults conv(bn = true, act = relu, bias = false)
    a = x -> conv(16, 3, stride = 2, padding = 1) -> unit(16) -> unit(16)
    b = a -> concat { slice(0, 8); slice(8, 16) } -> concat { slice(0, 4); slice(4, 16) }
    output y = b -> avgpool(global) -> flatten -> linear(4)
}
"""

VIT_TINY = SE + VIT_TINY_ALONE

NORMS = """
model t {
    input x: 3x10x10
    a = x -> conv(8, 3, act = leaky_relu) -> groupnorm(4) -> leaky_relu(slope = 0.2)
    b = a -> conv(8, 1, bn = true, act = leaky_relu) -> groupnorm(2, eps = 1e-3)
    output y = b -> conv(6, 3, padding = 1) -> leaky_relu(0.05) -> avgpool(global) -> flatten
        -> linear(3) -> bn
}
"""

#: CaiT-style: layer scales after attentions and linears on tokens, a scaled residual, attention
#: without biases and with dropout.
TOKENS = """
model t {
    input x: 4x8x8
    t = x -> conv(16, 2, stride = 2) -> tokens -> class_token -> pos_embedding
    a = t -> residual { layernorm -> attention(heads = 4, dropout = 0.2) -> layer_scale(init = 0.1) }
        -> residual { layernorm -> linear(32, act = hardswish) -> linear(16) -> layer_scale }
    b = a -> residual(scale = 0.5) { attention(heads = 2, bias = false) -> stochastic_depth(0.3) }
    output y = b -> layernorm -> select(0) -> linear(5) -> scale(3.0)
}
"""

#: U-Net's copy and crop: valid convs shrink the skip tensor, which is cropped to the size of the
#: upsampled one and concatenated with it.
TINY_UNET = """
model tiny_unet {
    input image: 1x44x44
    defaults conv(act = relu, padding = valid)
    e1 = image -> conv(8, 3) -> conv(8, 3)
    b = e1 -> maxpool(2) -> conv(16, 3) -> conv(16, 3)
    u = b -> conv_transpose(8, 2, stride = 2)
    s = e1 -> crop(32)
    output logits = concat(s, u) -> conv(8, 3) -> conv(2, 1, act = none)
}
"""

#: A crop is a view of its input: at -O2 the activation after it must not run in place (`c` reads
#: the same tensor after it).
CROP_VIEWS = """
model t {
    input x: 3x12x11
    a = x -> conv(4, 3, padding = valid, bn = true)
    b = a -> crop(7x6) -> relu
    c = a -> crop(size = 7x6) -> scale(2.0)
    output y = concat(b, c) -> conv(3, 2, bn = true, act = relu) -> crop(5)
}
"""

PROGRAMS = {
    "mbconv": (MBCONV, "t"),
    "convnext": (CONVNEXT, "t"),
    "unet": (UNET, "t"),
    "shuffle": (SHUFFLE, "t"),
    "vit_tiny": (VIT_TINY, "vit_tiny"),
    "norms": (NORMS, "t"),
    "tokens": (TOKENS, "t"),
    "tiny_unet": (TINY_UNET, "tiny_unet"),
    "crop_views": (CROP_VIEWS, "t"),
}

#: The pass fixtures written for the v2 ops (tests/passes/fixtures), run whole at -O1/-O2 too.
FIXTURES = Path(__file__).resolve().parent / "fixtures"
V2_FIXTURES = (
    "cancel-split-concat/shuffle_unit",
    "channels-last/tokens",
    "eliminate-dropout/convnext_block",
    "fold-batchnorm/conv_transpose",
    "fold-scale/v2_layers",
    "infer-shapes/tokens",
    "merge-sibling-convs/se_mbconv",
    "select-kernels/v2",
)


def _model(name: str) -> incept_dsl.Model:
    if name in PROGRAMS:
        text, model = PROGRAMS[name]
        return incept_dsl.loads(text, name=f"{name}.incept", model=model)
    return incept_dsl.load(FIXTURES / f"{name}.incept")


def _net0(m: incept_dsl.Model) -> torch.nn.Module:
    """The -O0 module with every parameter random, then random batch-norm affine parameters and
    running statistics (eval mode)."""
    return randomize(randomized(m.to_torch()), seed=3).eval()


def _graph(m: incept_dsl.Model, level: int) -> Graph:
    return run_pipeline(m.graph, level)


@pytest.mark.parametrize("name", [*sorted(PROGRAMS), *V2_FIXTURES])
def test_o1_and_o2_compute_the_o0_outputs(name: str) -> None:
    m = _model(name)
    net0 = _net0(m)
    state = net0.state_dict()
    (shape,) = m.inputs.values()
    x = x_(3, *shape, seed=5)
    with torch.no_grad():
        ref = net0(x)
        refs = [ref] if isinstance(ref, torch.Tensor) else list(ref)
        for level in (1, 2):
            net = m.to_torch(opt_level=level, state_dict=state)
            assert not net.training
            out = net(x)
            outs = [out] if isinstance(out, torch.Tensor) else list(out)
            for got, want in zip(outs, refs, strict=True):
                assert rel_err(got, want) < 1e-4, f"-O{level}"


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_pass_is_idempotent_on_v2_programs(name: str) -> None:
    g = _model(name).graph.copy()
    for pass_name in PIPELINES[2]:
        PASSES[pass_name](g)
        assert PASSES[pass_name](g) is False, f"{pass_name} changed {name} on its second run"


@pytest.mark.parametrize("name", ["convnext", "mbconv", "tokens", "vit_tiny"])
def test_dropout_and_stochastic_depth_vanish_at_o1_and_stay_at_o0(name: str) -> None:
    m = _model(name)
    dropping = ("dropout", "stochastic_depth")
    source = sorted(m.graph.scope(n) for n in m.graph.nodes() if m.graph.op(n) in dropping)
    assert source
    g0, _ = lower(m, 0)
    assert sorted(g0.scope(n) for n in g0.nodes() if g0.op(n) in dropping) == source
    for level in (1, 2):
        g, _ = lower(m, level)
        assert not [n for n in g.nodes() if g.op(n) in dropping]
        assert all(g.attrs(n)["dropout"] == 0.0 for n in g.nodes("attention"))


def test_batch_norms_fold_into_transposed_convs() -> None:
    g = _graph(_model("unet"), 1)
    assert not list(g.nodes("batchnorm"))
    folded = [n for n in g.nodes("conv_transpose") if isinstance(g.meta(n)["weights"], FoldBN)]
    assert [g.attrs(n)["groups"] for n in folded] == [1, 4]
    # conv_transpose(bias = true) -> layer_scale -> scale: both fold, in order
    last = g.by_scope("conv_transpose_3")
    assert g.meta(last)["weights"] == Scale(
        ChannelScale(
            Load("conv_transpose_3", "conv_transpose"), Load("layer_scale_1", "layer_scale")
        ),
        0.25,
    )


def test_layer_scales_and_scales_fold_into_linears_on_tokens_and_attentions() -> None:
    m = _model("tokens")
    g = _graph(m, 1)
    assert not list(g.nodes("layer_scale")) and not list(g.nodes("scale"))
    by_op = {g.scope(n): type(g.meta(n).get("weights")).__name__ for n in g.nodes()}
    assert by_op["attention_1"] == "ChannelScale"  # the out-projection, per D
    assert by_op["linear_2"] == "ChannelScale"  # a linear on tokens, per D
    assert by_op["attention_2"] == "Scale"  # residual(scale = 0.5), attention without biases
    assert by_op["linear_3"] == "Scale"  # the head's scale(3.0)


def test_a_layer_scale_after_a_token_op_or_a_norm_stays() -> None:
    m = incept_dsl.loads(
        """model t {
    input x: 4x4x4
    t = x -> conv(8, 2, stride = 2) -> tokens -> layer_scale(init = 0.5)
    output y = t -> layernorm -> layer_scale -> select(0)
}"""
    )
    g = _graph(m, 1)
    assert [g.op(g.inputs(n)[0]) for n in g.nodes("layer_scale")] == ["tokens", "layernorm"]
    net0 = _net0(m)
    x = x_(2, 4, 4, 4)
    with torch.no_grad():
        out = m.to_torch(opt_level=1, state_dict=net0.state_dict())(x)
        assert rel_err(out, net0(x)) < 1e-4


def test_sibling_convs_merge_inside_an_mbconv_block() -> None:
    g = _graph(_model("mbconv"), 1)
    (merged,) = [n for n in g.nodes("conv") if g.scope(n).startswith("merged_")]
    assert g.attrs(merged)["out_channels"] == 16 + 32
    assert sorted(g.attrs(s)["end"] - g.attrs(s)["start"] for s, _ in g.users(merged)) == [16, 32]


def test_user_slices_cancel_only_when_exact() -> None:
    g = _graph(_model("shuffle"), 1)
    assert len(list(g.nodes("concat"))) == 2  # the two units' joins; the slice round trips go
    # the units' own slices remain (a slice and its conv branch are not a split of one concat)
    assert len(list(g.nodes("slice"))) == 4


@pytest.mark.parametrize(
    ("cin", "cout", "groups", "stride"),
    [(6, 6, 1, 1), (6, 6, 2, 2), (6, 9, 3, 2), (4, 8, 4, 1), (9, 3, 3, 3)],
)
def test_transposed_conv_folds_for_every_grouping(cin: int, cout: int, groups: int, stride: int):
    """BN, layer_scale and scale on one transposed conv, for square, widening, narrowing and
    depthwise groupings: the folded weights give the -O0 outputs."""
    m = incept_dsl.loads(
        f"""model t {{
    input x: {cin}x5x5
    output y = x -> conv_transpose({cout}, 3, stride = {stride}, groups = {groups}, bn = true)
        -> layer_scale(init = 0.5) -> scale(0.3)
}}"""
    )
    g = _graph(m, 1)
    (layer,) = g.nodes("conv_transpose")
    assert [g.op(n) for n in g.nodes()] == ["input", "conv_transpose"]
    assert isinstance(g.meta(layer)["weights"], Scale)
    net0 = _net0(m)
    x = x_(2, cin, 5, 5, seed=7)
    with torch.no_grad():
        out = m.to_torch(opt_level=1, state_dict=net0.state_dict())(x)
        assert rel_err(out, net0(x)) < 1e-4


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_o1_onnx_with_carried_weights_computes_the_o0_outputs(name: str) -> None:
    """The weights the recipes carry are the ONNX export's too (onnxruntime, opset 18)."""
    ort = pytest.importorskip("onnxruntime")
    m = _model(name)
    net0 = _net0(m)
    state = {k: v.numpy() for k, v in net0.state_dict().items()}
    (shape,) = m.inputs.values()
    x = x_(2, *shape, seed=11)
    proto = m.to_onnx(opt_level=1, state_dict=state, opset=18)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {proto.graph.input[0].name: x.numpy()})
    with torch.no_grad():
        assert rel_err(torch.from_numpy(got), net0(x)) < 1e-4
