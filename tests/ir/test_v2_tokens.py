"""The token ops of LANGUAGE.md section 11 (`tokens`, `class_token`, `pos_embedding`,
`attention`, `select`) and `linear`, `layernorm`, `layer_scale` on token tensors N×L×D. Each is
checked against the real thing: the module's outputs against a PyTorch expression written here on
the module's own weights, parameter counts and state_dict layouts against PyTorch's modules,
-O1/-O2 against -O0, shapes and MACs, the formatter's round trip, and located errors whose hint
says the fix."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import VIT_TINY

import incept_dsl
from incept_dsl.ir.ops import OPS, infer_shape, macs, param_count
from incept_dsl.ir.shapes import ShapeProblem
from tests.ir.v2_support import error_of, levels_agree, ops_of, randomized, round_trips, x_


def _seq(body: str, shape: str = "8x4x6") -> incept_dsl.Model:
    return incept_dsl.loads(
        f"model m {{\n    input x: {shape}\n    output y = x -> {body}\n}}\n", name="t.incept"
    )


# ---- the op table and the shape rules ------------------------------------------------------------
def test_token_ops_shapes_state_and_costs() -> None:
    assert infer_shape("tokens", {}, [(8, 4, 6)]) == (24, 8)
    assert infer_shape("class_token", {"dim": 8}, [(24, 8)]) == (25, 8)
    assert infer_shape("pos_embedding", {"length": 25, "dim": 8, "std": 0.02}, [(25, 8)]) == (25, 8)
    att = {"dim": 8, "heads": 2, "dropout": 0.0, "bias": True}
    assert infer_shape("attention", att, [(25, 8)]) == (25, 8)
    assert infer_shape("select", {"index": 0}, [(25, 8)]) == (8,)
    lin = {"in_features": 8, "out_features": 5, "bias": True}
    assert infer_shape("linear", lin, [(25, 8)]) == (25, 5)
    # state_dict tensors as torchvision's ViT and nn.MultiheadAttention hold them
    assert OPS["class_token"].state({"dim": 8}) == (("token", (1, 1, 8)),)
    assert OPS["pos_embedding"].state({"length": 25, "dim": 8, "std": 0.02}) == (
        ("embedding", (1, 25, 8)),
    )
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    want = tuple((k, tuple(v.shape)) for k, v in mha.state_dict().items())
    assert OPS["attention"].state(att) == want
    assert param_count("attention", att) == (sum(p.numel() for p in mha.parameters()), 0)
    no_bias = torch.nn.MultiheadAttention(8, 2, bias=False, batch_first=True)
    assert param_count("attention", {**att, "bias": False})[0] == sum(
        p.numel() for p in no_bias.parameters()
    )
    # MACs: 4·L·D² for the projections, 2·L²·D for the two products; linear per token
    assert macs("attention", att, [(25, 8)], (25, 8)) == 4 * 25 * 64 + 2 * 625 * 8
    assert macs("linear", lin, [(25, 8)], (25, 5)) == 25 * 8 * 5
    assert macs("pos_embedding", {"length": 25, "dim": 8, "std": 0.02}, [(25, 8)], (25, 8)) == 200
    assert macs("tokens", {}, [(8, 4, 6)], (24, 8)) == macs("select", {"index": 0}, [], (8,)) == 0


@pytest.mark.parametrize(
    ("op", "attrs", "shape", "message"),
    [
        ("tokens", {}, (8,), "tokens needs an image tensor C×H×W; got the flat tensor 8"),
        ("class_token", {"dim": 6}, (8, 4, 6), "class_token needs a token tensor L×D"),
        ("select", {"index": 0}, (8, 4, 6), "select needs a token tensor L×D; got the image"),
        ("select", {"index": 5}, (5, 8), "select(5) is outside the 5 tokens"),
        ("attention", {"dim": 8, "heads": 3, "dropout": 0.0, "bias": True}, (5, 8), "3 heads"),
        ("batchnorm", {"num_features": 5, "eps": 1e-5, "momentum": 0.1}, (5, 8), "token tensor"),
    ],
)
def test_shape_rules_refuse_the_wrong_kind_of_tensor(op, attrs, shape, message) -> None:
    with pytest.raises(ShapeProblem) as e:
        infer_shape(op, attrs, [shape])
    assert message in e.value.message


# ---- each op against PyTorch ---------------------------------------------------------------------
def test_tokens_are_the_pixels_row_major() -> None:
    m = _seq("tokens")
    assert m.outputs["y"] == (24, 8)
    x = x_(2, 8, 4, 6)
    want = torch.stack([x[:, :, i // 6, i % 6] for i in range(24)], dim=1)
    assert torch.equal(m.to_torch()(x), want)
    assert _seq("tokens -> linear(5)").outputs["y"] == (24, 5)


def test_class_token_pos_embedding_and_select_are_torchvision_s() -> None:
    m = _seq("tokens -> class_token -> pos_embedding(std = 0.5) -> select(0)")
    assert [op for _, op, _ in ops_of(m)] == ["tokens", "class_token", "pos_embedding", "select"]
    assert m.outputs["y"] == (8,)
    net = m.to_torch()
    state = net.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "class_token_1.token": (1, 1, 8),
        "pos_embedding_1.embedding": (1, 25, 8),
    }
    assert not state["class_token_1.token"].any()  # zeros, as torchvision starts it
    assert 0.3 < float(state["pos_embedding_1.embedding"].std()) < 0.7  # N(0, std²)
    net = randomized(net)
    x = x_(3, 8, 4, 6)
    seq = x.flatten(2).transpose(1, 2)
    cls = net.state_dict()["class_token_1.token"].expand(3, -1, -1)
    full = torch.cat([cls, seq], 1) + net.state_dict()["pos_embedding_1.embedding"]
    assert torch.allclose(net(x), full[:, 0])
    last = randomized(_seq("tokens -> class_token -> select(24)").to_torch())
    assert torch.equal(last(x), seq[:, 23])


def test_attention_is_multihead_attention_with_its_state_dict() -> None:
    m = _seq("tokens -> attention(2)")
    net = randomized(m.to_torch())
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    mha.load_state_dict({k.split(".", 1)[1]: v for k, v in net.state_dict().items()})
    x = x_(2, 8, 4, 6)
    seq = x.flatten(2).transpose(1, 2)
    with torch.no_grad():
        assert torch.allclose(net(x), mha(seq, seq, seq, need_weights=False)[0], atol=1e-6)
        # and spelt out: softmax(q kᵀ / sqrt(d)) v per head, then the out-projection
        w, b = mha.in_proj_weight, mha.in_proj_bias
        q, k, v = (F.linear(seq, w[i * 8 : (i + 1) * 8], b[i * 8 : (i + 1) * 8]) for i in range(3))
        heads = [slice(0, 4), slice(4, 8)]
        parts = [
            torch.softmax(q[..., h] @ k[..., h].transpose(1, 2) / 2.0, -1) @ v[..., h]
            for h in heads
        ]
        spelt = mha.out_proj(torch.cat(parts, -1))
        assert torch.allclose(net(x), spelt, atol=1e-5)


def test_attention_without_bias_and_with_dropout() -> None:
    m = _seq("tokens -> attention(heads = 4, dropout = 0.1, bias = false)")
    net = m.to_torch()
    assert sorted(net.state_dict()) == [
        "attention_1.in_proj_weight",
        "attention_1.out_proj.weight",
    ]
    x = x_(2, 8, 4, 6)
    net.eval()
    assert torch.equal(net(x), net(x))  # no dropout in evaluation
    net.train()
    torch.manual_seed(0)
    assert not torch.equal(net(x), net.eval()(x))  # attention dropout in training


def test_linear_acts_on_the_last_dimension_of_tokens() -> None:
    m = _seq("tokens -> linear(5, act = gelu) -> layer_scale(init = 0.5)")
    assert m.outputs["y"] == (24, 5)
    net = randomized(m.to_torch())
    s = net.state_dict()
    x = x_(2, 8, 4, 6)
    seq = x.flatten(2).transpose(1, 2)
    want = (
        F.gelu(F.linear(seq, s["linear_1.weight"], s["linear_1.bias"])) * s["layer_scale_1.gamma"]
    )
    assert torch.allclose(net(x), want, atol=1e-6)


def test_vit_tiny_the_worked_fragment_compiles_and_levels_agree() -> None:
    m = incept_dsl.loads(VIT_TINY, name="vit.incept")
    assert m.outputs["logits"] == (10,)
    encoder = 2 * 2 * 192 + (4 * 192 * 192 + 4 * 192) + (192 * 768 + 768 + 768 * 192 + 192)
    want = (3 * 192 * 16 + 192) + 192 + 65 * 192 + 4 * encoder + 2 * 192 + (192 * 10 + 10)
    net = m.to_torch()
    assert m.param_count() == want == sum(p.numel() for p in net.parameters())
    levels_agree(m, x_(2, 3, 32, 32))


# ---- mistakes --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "shape", "message", "hint"),
    [
        ("tokens", "8", "tokens needs an image tensor C×H×W; got the flat tensor 8", "image"),
        ("class_token", "8x4x6", "class_token needs a token tensor L×D; got the image", "tokens"),
        ("tokens -> attention(3)", "8x4x6", "cannot split the token width 8 into 3 heads", "1, 2,"),
        ("attention(2)", "8x4x6", "attention needs a token tensor L×D", "-> tokens ->"),
        ("select(0)", "8x4x6", "select needs a token tensor", "-> tokens ->"),
        ("flatten -> select(0)", "8x4x6", "got the flat tensor", "a flat tensor has no tokens"),
        ("tokens -> select(24)", "8x4x6", "select(24) is outside the 24 tokens", "0 .. 23"),
        ("tokens -> batchnorm", "8x4x6", "batchnorm works on images and flat", "layernorm"),
        ("linear(4)", "8x4x6", "linear needs a flat tensor N×F or tokens", "flatten"),
        ("tokens -> attention(0)", "8x4x6", "'heads'", None),
        ("tokens -> pos_embedding(std = -1)", "8x4x6", "std", "standard deviation"),
    ],
)
def test_token_mistakes_are_located(body: str, shape: str, message: str, hint) -> None:
    e = error_of(body, shape)
    text = e.render()
    assert message in text and "v2.incept:3:" in text, text
    if hint is not None:
        assert hint in text, text


def test_the_formatter_round_trips_every_token_op() -> None:
    round_trips(VIT_TINY)
    round_trips(
        "model m {\n  input x: 8x4x6\n  output y = x->tokens->class_token->"
        "pos_embedding(std=0.1)->attention(heads=2,dropout=0.1,bias=false)->select(index=1)\n}\n"
    )
