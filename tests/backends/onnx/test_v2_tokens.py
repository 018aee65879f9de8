"""ONNX backend, the v2 ops of LANGUAGE.md section 11 that reshape the network: `conv_transpose`,
`layernorm` (images, flat tensors, tokens), `slice` (images and flat tensors), `crop` (added for
U-Net), the token ops (`tokens`, `class_token`, `pos_embedding`, `attention`, `select`) and the
older ops on tokens (linear as MatMul and Add, activations, add, mul, concat, scale, layer_scale,
...). Each program runs in onnxruntime with the -O0 PyTorch module's outputs (relative 1e-4) at
-O0, -O1 and -O2 and at opsets on both sides of every opset the lowerings depend on, on random
non-trivial weights (the module's own state_dict plus noise); every model checks (full_check) and
exports byte for byte alike twice. The numpy initialisation of the new ops follows the torch
module's, scheme by scheme."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from helpers import VIT_TINY, model

import incept_dsl
from incept_dsl.backends.init_numpy import init_state
from incept_dsl.backends.torch.init_schemes import INIT_SCHEMES, residual_branch_ends
from incept_dsl.errors import InceptExportError

RTOL = 1e-4
#: ONNX opsets around the lowerings' turning points: Softmax over any axis (13), Shape's start
#: and end (15), LayerNormalization (17), ReduceMean's axes as an input (18); 26 as the newest
#: that onnxruntime 1.32 runs (newer ones are checked only: test_the_newest_opset_checks).
OPSETS = (11, 14, 15, 16, 17, 18, 26)


# ---- helpers ----------------------------------------------------------------------------------
def _noisy_state(m: incept_dsl.Model, seed: int = 0) -> dict[str, torch.Tensor]:
    """The -O0 module's state_dict plus N(0, 0.2²) noise on every float tensor (zero class
    tokens, unit norms and tiny layer scales become non-trivial) and batch-norm statistics away
    from 0 and 1."""
    gen = torch.Generator().manual_seed(seed)
    state = m.to_torch().state_dict()
    for key, value in state.items():
        if not value.is_floating_point():
            continue
        if key.endswith("running_var"):
            value.copy_(torch.rand(value.shape, generator=gen) * 1.5 + 0.5)
        else:
            value.add_(torch.randn(value.shape, generator=gen) * 0.2)
    return state


def _torch_out(m: incept_dsl.Model, state, x: np.ndarray) -> list[np.ndarray]:
    net = m.to_torch()
    net.load_state_dict(state, strict=True)
    with torch.no_grad():
        out = net.eval()(torch.from_numpy(x))
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def _ort_out(proto, x: np.ndarray) -> list[np.ndarray]:
    data = proto.SerializeToString()
    onnx.checker.check_model(data, full_check=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {proto.graph.input[0].name: x})


def _close(got: list[np.ndarray], want: list[np.ndarray], where: object) -> None:
    assert len(got) == len(want), where
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape, where
        rel = float(np.abs(g - w).max() / max(float(np.abs(w).max()), 1e-12))
        assert rel < RTOL, (where, rel)


def _agrees(
    m: incept_dsl.Model,
    levels: tuple[int, ...] = (0, 1, 2),
    opsets: tuple[int, ...] = OPSETS,
    batch: int = 2,
    **options,
) -> dict[tuple[int, int], onnx.ModelProto]:
    """onnxruntime gives the -O0 module's outputs at every level and opset (on noisy weights);
    each export checks and repeats byte for byte. Returns the models by (level, opset)."""
    state = _noisy_state(m)
    shape = next(iter(m.inputs.values()))
    x = np.random.default_rng(1).standard_normal((batch, *shape), dtype=np.float32)
    want = _torch_out(m, state, x)
    protos = {}
    for level in levels:
        for opset in opsets:
            proto = m.to_onnx(opt_level=level, state_dict=state, opset=opset, **options)
            again = m.to_onnx(opt_level=level, state_dict=state, opset=opset, **options)
            assert again.SerializeToString() == proto.SerializeToString(), (level, opset)
            _close(_ort_out(proto, x), want, (level, opset))
            protos[level, opset] = proto
    return protos


def _types(proto, prefix: str) -> list[str]:
    """The op types of the nodes named `prefix` or `prefix/...`, in order."""
    return [
        n.op_type for n in proto.graph.node if n.name == prefix or n.name.startswith(prefix + "/")
    ]


def _inits(proto) -> dict[str, tuple[int, ...]]:
    return {t.name: tuple(t.dims) for t in proto.graph.initializer}


# ---- conv_transpose ---------------------------------------------------------------------------
CONV_TRANSPOSE = """
model ct {
    input x: 4x5x6
    output a = x -> conv_transpose(6, 3, stride = 2, padding = 1, output_padding = 1)
    output b = x -> conv_transpose(6, 3x2, stride = 2x3, padding = 1x0, output_padding = 0x2,
        groups = 2, bias = false)
    output c = x -> conv_transpose(5, 2, stride = 2, bn = true, act = relu)
        -> conv_transpose(3, 1, act = leaky_relu)
}
"""


def test_conv_transpose_is_torch_s_at_every_level_and_opset() -> None:
    m = model(CONV_TRANSPOSE)
    protos = _agrees(m, opsets=(11, 18))
    p = protos[0, 18]
    assert _types(p, "conv_transpose_1") == ["ConvTranspose"]
    attrs = {
        a.name: onnx.helper.get_attribute_value(a)
        for n in p.graph.node
        if n.name == "conv_transpose_2"
        for a in n.attribute
    }
    assert attrs == {
        "kernel_shape": [3, 2],
        "strides": [2, 3],
        "pads": [1, 0, 1, 0],
        "group": 2,
        "output_padding": [0, 2],
    }
    # PyTorch's weight layout, in × out/groups × kh × kw, kept as it is
    assert _inits(p)["conv_transpose_2.weight"] == (4, 3, 3, 2)
    assert [
        tuple(d.dim_value for d in o.type.tensor_type.shape.dim[1:]) for o in p.graph.output
    ] == [
        (6, 10, 12),
        (6, 9, 19),
        (3, 10, 12),
    ]


# ---- layernorm --------------------------------------------------------------------------------
LAYERNORM = """
model ln {
    input x: 6x4x5
    output img = x -> layernorm -> conv(6, 1) -> layernorm(eps = 1e-3)
    output flat = x -> flatten -> layernorm -> linear(5) -> layernorm(eps = 0.1)
    output tok = x -> tokens -> layernorm(eps = 1e-6)
}
"""


def test_layernorm_on_images_flat_tensors_and_tokens() -> None:
    m = model(LAYERNORM)
    protos = _agrees(m)
    # LayerNormalization from opset 17 (an image's channels moved last and back), spelt out before
    assert _types(protos[0, 17], "layernorm_1") == ["Transpose", "LayerNormalization", "Transpose"]
    assert _types(protos[0, 17], "layernorm_3") == ["LayerNormalization"]
    spelt = ["ReduceMean", "Sub", "Mul", "ReduceMean", "Add", "Sqrt", "Div", "Mul", "Add"]
    assert _types(protos[0, 16], "layernorm_1") == spelt
    assert _types(protos[0, 16], "layernorm_5") == spelt
    assert "LayerNormalization" not in {n.op_type for n in protos[0, 16].graph.node}
    inits = _inits(protos[0, 16])
    assert inits["layernorm_1.weight"] == (6, 1, 1) and inits["layernorm_3.weight"] == (120,)
    assert _inits(protos[0, 17])["layernorm_1.weight"] == (6,)


# ---- slice --------------------------------------------------------------------------------------
SLICE = """
model sl {
    input x: 6x4x4
    f = x -> flatten
    p = f -> slice(0, 40)
    q = f -> slice(40, 96)
    output img = x -> conv(8, 1) -> slice(2, 7) -> conv(3, 1)
    output flat = concat(q, p) -> slice(10, 20) -> linear(4)
}
"""


def test_slice_of_images_and_flat_tensors() -> None:
    m = model(SLICE)
    protos = _agrees(m, opsets=(11, 13, 18))
    for opset in (11, 18):
        types = {n.op_type for n in protos[0, opset].graph.node}
        assert {"Slice", "Split"} <= types  # p and q cut f into two pieces: one Split


# ---- the token ops -----------------------------------------------------------------------------
TOKENS = """
model tok {
    input x: 6x3x4
    t = x -> tokens -> class_token -> pos_embedding(std = 0.1)
    output first = t -> select(0)
    output last = t -> select(12)
    output all = t -> linear(5, bias = false) -> gelu -> flatten
    output seq = x -> tokens -> flatten
}
"""


def test_tokens_class_token_pos_embedding_and_select() -> None:
    m = model(TOKENS)
    protos = _agrees(m)
    assert _types(protos[0, 18], "tokens_1") == ["Reshape", "Transpose"]
    assert _types(protos[0, 18], "class_token_1") == ["Shape", "Concat", "Expand", "Concat"]
    assert _types(protos[0, 14], "class_token_1") == [
        "Shape",
        "Slice",
        "Concat",
        "Expand",
        "Concat",
    ]
    assert _types(protos[0, 18], "pos_embedding_1") == ["Add"]
    assert _types(protos[0, 18], "select_2") == ["Gather"]
    inits = _inits(protos[0, 18])
    assert inits["class_token_1.token"] == (1, 1, 6)
    assert inits["pos_embedding_1.embedding"] == (1, 13, 6)
    assert inits["select_2.index"] == ()  # a scalar: Gather drops the token axis
    # a linear on tokens: MatMul by the transposed weight (Gemm is 2-D only)
    assert _types(protos[0, 18], "linear_1") == ["MatMul"]
    assert inits["linear_1.weight"] == (6, 5)


ATTENTION = """
model att {
    input x: 6x3x4
    t = x -> tokens -> class_token -> pos_embedding
    a = t -> attention(1)
    b = t -> attention(3, dropout = 0.1, bias = false)
    c = t -> attention(heads = 6)
    output y = add(a, b, c) -> select(0)
    output z = t -> residual { layernorm -> attention(2) } -> layernorm -> flatten
}
"""


def test_attention_is_multihead_attention_s() -> None:
    m = model(ATTENTION)
    protos = _agrees(m)
    p = protos[0, 18]
    assert _types(p, "attention_1") == [
        "MatMul",
        "Add",
        "Reshape",
        *(["Gather", "Transpose"] * 3),
        "Mul",
        "MatMul",
        "Softmax",
        "MatMul",
        "Transpose",
        "Reshape",
        "MatMul",
        "Add",
    ]
    assert _types(p, "attention_2").count("Add") == 0  # no biases
    inits = _inits(p)
    assert inits["attention_1.in_proj_weight"] == (6, 18)  # held transposed
    assert inits["attention_1.in_proj_bias"] == (18,)
    assert inits["attention_1.out_proj.weight"] == (6, 6)
    assert "attention_2.in_proj_bias" not in inits


def test_attention_at_a_larger_width_and_batch() -> None:
    m = model(
        "model a { input x: 32x4x4\n output y = x -> tokens -> class_token -> pos_embedding"
        " -> attention(4) -> attention(8) -> select(3) }"
    )
    _agrees(m, levels=(0,), opsets=(11, 18), batch=3)


TOKEN_OPS = """
model ops {
    input x: 8x3x3
    t = x -> tokens
    u = t -> linear(8, act = hardswish) -> relu6 -> leaky_relu(slope = 0.1) -> silu -> sigmoid
        -> tanh -> hardsigmoid -> scale(0.5) -> dropout(0.2) -> layer_scale(0.5)
        -> stochastic_depth(0.2) -> relu
    v = t -> residual { linear(16, act = gelu) -> linear(8) -> layer_scale }
        -> residual(scale = 0.3) { linear(8) -> stochastic_depth(0.1) }
    w = mul(u, v)
    output y = concat(u, w) -> softmax(dim = 2) -> flatten
    output z = add(v, w, t) -> linear(3, act = leaky_relu) -> softmax
}
"""


def test_the_older_ops_on_tokens() -> None:
    m = model(TOKEN_OPS)
    protos = _agrees(m, opsets=(13, 14, 18))
    inits = _inits(protos[0, 18])
    assert inits["layer_scale_1.gamma"] == (8,)  # broadcasts along the last dimension
    assert inits["linear_1.weight"] == (8, 8) and inits["linear_2.weight"] == (8, 16)
    assert _types(protos[0, 18], "linear_2") == ["MatMul", "Add"]


def test_softmax_over_the_tokens_needs_opset_13() -> None:
    m = model("model s {\n input x: 4x2x3\n output y = x -> tokens\n -> softmax\n}")
    with pytest.raises(InceptExportError) as err:
        m.to_onnx(opt_level=0, opset=12)
    assert err.value.span.line == 4 and "opset 13" in str(err.value)
    _agrees(m, levels=(0,), opsets=(13, 18))


@pytest.fixture(scope="module")
def vit() -> incept_dsl.Model:
    return model(VIT_TINY)


def test_vit_tiny(vit) -> None:
    protos = _agrees(vit, opsets=(11, 18))
    names = {n.name for n in protos[1, 18].graph.node}
    assert "repeat_1.3.encoder_layer_1.attention_1/weights" in names


def test_vit_tiny_as_local_functions(vit) -> None:
    protos = _agrees(vit, levels=(0,), opsets=(18,), functions=True)
    assert [f.name for f in protos[0, 18].functions] == ["encoder_layer"]


def test_vit_tiny_fresh_weights_are_the_numpy_initialisation(vit) -> None:
    """Without a state_dict the export holds `init_state`'s weights: the torch module given them
    computes what onnxruntime does, and the out-projection that ends each attention branch is
    zero under fan_in."""
    proto = vit.to_onnx(opt_level=0)
    state = {k: torch.from_numpy(v) for k, v in init_state(vit.graph).items()}
    x = np.random.default_rng(2).standard_normal((2, 3, 32, 32), dtype=np.float32)
    _close(_ort_out(proto, x), _torch_out(vit, state, x), "fresh")
    zero = {
        t.name
        for t in proto.graph.initializer
        if t.raw_data
        and not np.frombuffer(t.raw_data, np.float32).any()
        and t.name.endswith("out_proj.weight")
    }
    assert zero == {f"repeat_1.{i}.encoder_layer_1.attention_1.out_proj.weight" for i in range(4)}


CONVNEXT = """
block cnblock = residual {
    conv(in_channels, 7, groups = in_channels) -> layernorm(eps = 1e-6)
    -> conv(4 * in_channels, 1, act = gelu) -> conv(in_channels, 1) -> layer_scale(1e-6)
    -> stochastic_depth(0.1)
}

model convnextish(classes = 5) {
    input x: 3x32x32
    output y = x -> conv(16, 4, stride = 4, padding = valid) -> layernorm(eps = 1e-6)
        -> repeat(2) { cnblock } -> layernorm(eps = 1e-6) -> conv(32, 2, stride = 2, padding = valid)
        -> cnblock -> avgpool(global) -> flatten -> layernorm(eps = 1e-6) -> linear(classes)
}
"""


def test_a_convnext_style_network() -> None:
    m = model(CONVNEXT)
    _agrees(m, opsets=(11, 18))
    protos = _agrees(m, levels=(0,), opsets=(16, 17), functions=True)
    # the two stages' blocks (16 and 32 channels) differ; the first stage's two share one
    proto = protos[0, 17]
    assert [f.name for f in proto.functions] == ["cnblock", "cnblock_2"]
    calls = [n.op_type for n in proto.graph.node if n.domain == "incept_dsl.blocks"]
    assert calls == ["cnblock", "cnblock", "cnblock_2"]


UNET = """
block double(c) = conv(c, 3, bn = true, act = relu) -> conv(c, 3, bn = true, act = relu)

model unet(classes = 2) {
    input x: 3x16x16
    e1 = x -> double(8)
    e2 = e1 -> maxpool(2) -> double(16)
    b = e2 -> maxpool(2) -> double(32)
    u2 = b -> conv_transpose(16, 2, stride = 2, bn = true, act = relu)
    d2 = concat(u2, e2) -> double(16)
    u1 = d2 -> conv_transpose(8, 3, stride = 2, padding = 1, output_padding = 1, bn = true)
    d1 = concat(u1, e1) -> double(8) -> slice(0, 4)
    output y = d1 -> upsample(scale = 2, mode = bilinear) -> conv(classes, 1)
}
"""


def test_a_unet_style_upsampling_path() -> None:
    protos = _agrees(model(UNET), opsets=(11, 18))
    assert [n.op_type for n in protos[2, 18].graph.node].count("ConvTranspose") == 2


#: U-Net's copy and crop (valid convs shrink the skip tensor), with odd margins and non-square
#: windows, and a crop equal to its input.
CROP = """
model copy_crop {
    input x: 3x22x21
    defaults conv(act = relu, padding = valid)
    e1 = x -> conv(6, 3) -> conv(6, 3)
    u = e1 -> maxpool(2) -> conv(8, 3) -> conv(8, 3) -> conv_transpose(6, 2, stride = 2)
        -> crop(10x8)
    s = e1 -> crop(10x8)
    t = e1 -> crop(9x7) -> upsample(size = 10x8)
    output y = concat(s, u, t) -> conv(4, 3, bn = true) -> crop(5) -> conv(2, 1, act = none)
}
"""


def test_crop_is_one_slice_at_every_level_and_opset() -> None:
    protos = _agrees(model(CROP), opsets=OPSETS)
    for proto in protos.values():
        crops = [n for n in proto.graph.node if n.name.startswith("crop_")]
        assert [n.op_type for n in crops] == ["Slice"] * 4
        inits = {t.name: onnx.numpy_helper.to_array(t).tolist() for t in proto.graph.initializer}
        # e1 is 18×17: the 9×7 window starts at row 4 (margin 9), column 5 (margin 10)
        assert [inits[f"crop_3.{k}"] for k in ("starts", "ends", "axes")] == [
            [4, 5],
            [13, 12],
            [2, 3],
        ]


# ---- init_numpy ----------------------------------------------------------------------------------
INIT = """
model init {
    input x: 8x6x6
    y = x -> conv_transpose(64, 3, stride = 2, groups = 2) -> layernorm -> tokens -> class_token
        -> pos_embedding(std = 0.5) -> residual { layernorm -> attention(4) }
        -> residual { linear(64) -> dropout }
    output z = y -> select(0) -> linear(64)
}
"""


@pytest.mark.parametrize("scheme", sorted(INIT_SCHEMES))
def test_numpy_init_of_the_new_ops_is_the_torch_module_s(scheme: str) -> None:
    m = model(INIT)
    state = init_state(m.graph, scheme)
    torch.manual_seed(0)
    ref = {k: v.clone() for k, v in m.to_torch(init=scheme).state_dict().items()}
    assert list(state) == list(ref)
    for key, want in ref.items():
        got = state[key]
        assert got.shape == tuple(want.shape) and got.dtype == np.float32, key
        w = want.numpy()
        if not w.any() or np.all(w == w.flat[0]):  # a constant: the very numbers
            assert np.array_equal(got, w), key
        else:  # a distribution: its spread and range
            assert abs(got.std() / w.std() - 1) < 0.15, (key, got.std(), w.std())
            assert abs(np.abs(got).max() / np.abs(w).max() - 1) < 0.4, key
    m.to_torch().load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)


def test_numpy_init_follows_pytorch_s_fans_for_a_transposed_conv() -> None:
    m = model(INIT)
    w = init_state(m.graph, "kaiming")["conv_transpose_1.weight"]  # 8 × 32 × 3 × 3
    assert abs(w.std() / (2.0 / (8 * 9)) ** 0.5 - 1) < 0.05  # fan_out: dim 0 × kernel area
    w = init_state(m.graph, "fan_in")["conv_transpose_1.weight"]
    assert abs(w.std() / (2.0 / (32 * 9)) ** 0.5 - 1) < 0.05  # fan_in: dim 1 × kernel area
    bias = init_state(m.graph, "torch")["conv_transpose_1.bias"]
    assert 0.8 / (32 * 9) ** 0.5 < np.abs(bias).max() <= 1 / (32 * 9) ** 0.5
    proj = init_state(m.graph, "torch")["attention_1.in_proj_weight"]  # Xavier: 192 × 64
    assert 0.95 * (6 / 256) ** 0.5 < np.abs(proj).max() <= (6 / 256) ** 0.5


def test_fan_in_zeroes_the_out_projection_of_an_attention_branch_as_torch_does(vit) -> None:
    ends = residual_branch_ends(vit.graph)
    assert "repeat_1.0.encoder_layer_1.attention_1.out_proj" in ends
    torch_zero = {k for k, v in vit.to_torch().state_dict().items() if v.ndim == 2 and not v.any()}
    numpy_zero = {k for k, v in init_state(vit.graph).items() if v.ndim == 2 and not v.any()}
    assert torch_zero == numpy_zero == {f"{e}.weight" for e in ends}
    assert len(ends) == 8


# ---- the newest opset ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        CONV_TRANSPOSE,
        LAYERNORM,
        SLICE,
        TOKENS,
        ATTENTION,
        TOKEN_OPS,
        VIT_TINY,
        CONVNEXT,
        UNET,
        CROP,
    ],
    ids=lambda t: t.split("model ")[1].split("(")[0].split(" ")[0],
)
def test_the_newest_opset_checks(text: str) -> None:
    """At the newest opset this onnx knows (newer than onnxruntime runs) every model checks,
    with and without local functions."""
    m = model(text)
    for functions in (False, True):
        proto = m.to_onnx(opt_level=2, opset=onnx.defs.onnx_opset_version(), functions=functions)
        onnx.checker.check_model(proto, full_check=True)
