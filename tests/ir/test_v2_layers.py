"""`conv_transpose`, `layernorm` and `slice` (LANGUAGE.md section 11), each against the real
thing: the module's outputs against a PyTorch expression written here on the module's own
weights, parameter counts and state_dict layouts against PyTorch's modules, shapes and MACs,
-O1/-O2 against -O0, the formatter's round trip, and located errors whose hint says the fix."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import incept_dsl
from incept_dsl.ir.ops import OPS, infer_shape, macs
from tests.ir.v2_support import error_of, levels_agree, ops_of, randomized, round_trips, x_


def _seq(body: str, shape: str = "8x5x6") -> incept_dsl.Model:
    return incept_dsl.loads(
        f"model m {{\n    input x: {shape}\n    output y = x -> {body}\n}}\n", name="t.incept"
    )


# ---- conv_transpose ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "kw"),
    [
        ("4, 2, stride = 2", {"kernel_size": 2, "stride": 2}),
        (
            "6, 3, stride = 2, padding = 1, output_padding = 1",
            {"kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
        ),
        (
            "4, 3x1, stride = (2, 1), groups = 2",
            {"kernel_size": (3, 1), "stride": (2, 1), "groups": 2},
        ),
        (
            "4, 4, stride = 2, padding = 1, bias = false",
            {"kernel_size": 4, "stride": 2, "padding": 1, "bias": False},
        ),
    ],
)
def test_conv_transpose_is_conv_transpose2d(args: str, kw: dict) -> None:
    m = _seq(f"conv_transpose({args})")
    ref = torch.nn.ConvTranspose2d(8, int(args.split(",")[0]), **kw)
    assert m.outputs["y"] == ref(torch.zeros(1, 8, 5, 6)).shape[1:]
    net = randomized(m.to_torch())
    state = net.state_dict()
    assert {k.split(".")[-1]: v.shape for k, v in state.items()} == {
        k: v.shape for k, v in ref.state_dict().items()
    }
    ref.load_state_dict({k.split(".")[-1]: v for k, v in state.items()})
    x = x_(2, 8, 5, 6)
    with torch.no_grad():
        assert torch.allclose(net(x), ref(x), atol=1e-6)
    assert m.param_count() == sum(p.numel() for p in ref.parameters())


def test_conv_transpose_with_bn_and_act_is_three_layers_and_levels_agree() -> None:
    m = _seq("conv_transpose(6, 2, stride = 2, bn = true, act = relu) -> conv(3, 1)")
    assert [(s, op) for s, op, _ in ops_of(m)] == [
        ("conv_transpose_1.conv", "conv_transpose"),
        ("conv_transpose_1.bn", "batchnorm"),
        ("conv_transpose_1.relu", "relu"),
        ("conv_1", "conv"),
    ]
    assert "conv_transpose_1.conv.bias" not in m.to_torch().state_dict()  # bias = auto
    assert m.outputs["y"] == (3, 10, 12)
    levels_agree(m, x_(2, 8, 5, 6))


def test_conv_transpose_costs_like_a_conv_over_its_input() -> None:
    a = {
        "in_channels": 8,
        "out_channels": 6,
        "kernel": (3, 3),
        "stride": (2, 2),
        "padding": (1, 1),
        "output_padding": (1, 1),
        "groups": 2,
        "bias": True,
    }
    assert infer_shape("conv_transpose", a, [(8, 5, 6)]) == (6, 10, 12)
    assert macs("conv_transpose", a, [(8, 5, 6)], (6, 10, 12)) == 8 * 5 * 6 * 3 * 9
    assert OPS["conv_transpose"].state(a) == (("weight", (8, 3, 3, 3)), ("bias", (6,)))


@pytest.mark.parametrize(
    ("body", "message", "hint"),
    [
        ("conv_transpose(4, 1, padding = 3)", "makes the 5×6 input", "less padding"),
        (
            "conv_transpose(4, 3, stride = 2, output_padding = 2)",
            "smaller than the stride",
            "stride - 1",
        ),
        ("conv_transpose(4, 3, groups = 3)", "groups = 3 must divide", None),
        ("flatten -> conv_transpose(4, 3)", "conv_transpose needs an image tensor", None),
        ("conv_transpose(4, 3, padding = same)", "must be", None),
    ],
)
def test_conv_transpose_mistakes_are_located(body: str, message: str, hint) -> None:
    text = error_of(body, "8x5x6").render()
    assert message in text and "v2.incept:3:" in text, text
    if hint is not None:
        assert hint in text, text


# ---- layernorm ------------------------------------------------------------------------------------
def test_layernorm_on_an_image_normalises_each_pixel_over_channels() -> None:
    m = _seq("layernorm(eps = 1e-6)")
    net = randomized(m.to_torch())
    s = net.state_dict()
    assert {k: tuple(v.shape) for k, v in s.items()} == {
        "layernorm_1.weight": (8,),
        "layernorm_1.bias": (8,),
    }
    x = x_(2, 8, 5, 6) * 3 + 1
    mean = x.mean(1, keepdim=True)
    var = x.var(1, unbiased=False, keepdim=True)
    want = (x - mean) / torch.sqrt(var + 1e-6) * s["layernorm_1.weight"].view(-1, 1, 1)
    want = want + s["layernorm_1.bias"].view(-1, 1, 1)
    assert torch.allclose(net(x), want, atol=1e-5)


def test_layernorm_on_flat_tensors_and_tokens_is_layer_norm() -> None:
    for body, shape in (("layernorm", "8"), ("tokens -> layernorm(eps = 1e-3)", "8x5x6")):
        net = randomized(_seq(body, shape).to_torch())
        s = net.state_dict()
        x = x_(2, *map(int, shape.split("x")))
        inner = x if shape == "8" else x.flatten(2).transpose(1, 2)
        eps = 1e-5 if shape == "8" else 1e-3
        want = F.layer_norm(inner, (8,), s["layernorm_1.weight"], s["layernorm_1.bias"], eps)
        assert torch.allclose(net(x), want, atol=1e-6)


def test_a_convnext_block_levels_agree() -> None:
    m = incept_dsl.loads(
        """
block cnblock(p = 0.1) = residual {
    conv(in_channels, 7, groups = in_channels) -> layernorm(eps = 1e-6)
        -> conv(4 * in_channels, 1, act = gelu) -> conv(in_channels, 1)
        -> layer_scale(init = 0.5) -> stochastic_depth(p)
}

model m {
    input x: 8x9x9
    output y = x -> cnblock -> layernorm -> conv(16, 2, stride = 2) -> cnblock(p = 0.2)
}
""",
        name="cn.incept",
    )
    assert m.outputs["y"] == (16, 4, 4)
    levels_agree(m, x_(2, 8, 9, 9))


def test_layernorm_mistakes_are_located() -> None:
    text = error_of("layernorm(eps = 0)").render()
    assert "eps" in text and "positive" in text and "v2.incept:3:" in text, text


# ---- slice -------------------------------------------------------------------------------------------
def test_slice_takes_channels_or_features() -> None:
    x = x_(2, 8, 5, 6)
    assert torch.equal(_seq("slice(2, 5)").to_torch()(x), x[:, 2:5])
    assert _seq("slice(start = 0, end = 8)").outputs["y"] == (8, 5, 6)
    flat = _seq("flatten -> slice(10, 20)")
    assert flat.outputs["y"] == (10,)
    assert torch.equal(flat.to_torch()(x), x.flatten(1)[:, 10:20])


def test_a_shufflenet_unit_with_slices_levels_agree() -> None:
    m = incept_dsl.loads(
        """
model m {
    input x: 8x6x6
    a = x -> slice(0, 4)
    b = x -> slice(4, 8) -> conv(4, 1, bn = true, act = relu)
        -> conv(4, 3, groups = 4, bn = true) -> conv(4, 1, bn = true, act = relu)
    output y = concat(a, b) -> channel_shuffle(2)
}
""",
        name="shuffle.incept",
    )
    assert m.outputs["y"] == (8, 6, 6)
    levels_agree(m, x_(2, 8, 6, 6))


@pytest.mark.parametrize(
    ("body", "message", "hint"),
    [
        ("slice(4, 9)", "slice 4:9 is outside the 8 channels", "end is at most 8"),
        ("slice(5, 5)", "slice 5:5 is outside", "start must be below end"),
        ("slice(-1, 3)", "'start'", None),
        ("tokens -> slice(0, 2)", "got the token tensor", "select"),
        ("slice(0)", "needs its argument 'end'", None),
    ],
)
def test_slice_mistakes_are_located(body: str, message: str, hint) -> None:
    text = error_of(body).render()
    assert message in text and "v2.incept:3:" in text, text
    if hint is not None:
        assert hint in text, text


def test_the_formatter_round_trips_them() -> None:
    round_trips(
        "model m {\n  input x: 8x5x6\n  output y = x->conv_transpose(4,3,stride=2,padding=1,"
        "output_padding=1,bn=true,act=relu)->layernorm(eps=1e-6)->slice(0,2)\n}\n"
    )
